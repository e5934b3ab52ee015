-- ecml_hnsw: rows the graph can no longer reach are linked back in.  At a
-- small m the heuristic's prunes leave inserted rows without a way in (a
-- limit of HNSW itself); VACUUM's cleanup and the end of CREATE INDEX link
-- them back, so a scan with the widest search returns every row; not under
-- inner product, where the pass is not run.  Inserts one at a time into an
-- empty index give the same graph on every run (levels come from the heap
-- row's address), so the counts are exact.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
SET search_path = public, ecml;
SET client_min_messages = warning;
SELECT plan(7);

-- 6,000 x 32 points of 40 overlapping clusters (hash-seeded, no random())
CREATE FUNCTION pg_temp.u(x bigint, seed bigint) RETURNS float8 LANGUAGE sql
AS $$ SELECT (hashint8extended(x, seed) & 16777215)::float8 / 16777216 $$;
CREATE TABLE hr_src AS
SELECT i AS id, (SELECT array_agg((2 * pg_temp.u(c * 4096 + j, 20261129) - 1
          + 2.0 * (pg_temp.u(i * 4096 + j, 20261130) + pg_temp.u(i * 4096 + j, 20261131) - 1))::real
          ORDER BY j) FROM generate_series(1, 32) j) AS v
FROM (SELECT i, (hashint8extended(i, 20261132) & 2147483647) % 40 AS c
      FROM generate_series(1, 6000) i) s;
CREATE TABLE hr_items (id bigint, v real[]);

-- rows an index scan with the widest search does not return
CREATE FUNCTION pg_temp.unreached(op text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_bitmapscan = off;
    SET LOCAL ecml.hnsw_ef_search = 1000;
    SET LOCAL ecml.hnsw_max_scan_tuples = 1000000;
    SET LOCAL ecml.hnsw_strict_order = off;
    EXECUTE format('SELECT count(*) FROM (SELECT id FROM hr_items ORDER BY v OPERATOR(ecml.%s) '
                   '(SELECT v FROM hr_src WHERE id = 1) LIMIT 100000) s', op) INTO n;
    RETURN (SELECT count(*) FROM hr_src) - n;
END $$;

-- L2, m = 6: inserts one by one, then VACUUM
CREATE INDEX hr_l2 ON hr_items USING ecml_hnsw (v real_l2_ops) WITH (m = 6, ef_construction = 32);
INSERT INTO hr_items SELECT * FROM hr_src ORDER BY id;
SELECT cmp_ok(pg_temp.unreached('<->'), '>', 0::bigint,
              'm = 6, rows inserted one by one: the prunes left some rows unreachable');
VACUUM hr_items;
SELECT is(pg_temp.unreached('<->'), 0::bigint, 'm = 6: after VACUUM every row is reachable');

-- the same rows, CREATE INDEX
DROP INDEX hr_l2;
CREATE INDEX hr_l2 ON hr_items USING ecml_hnsw (v real_l2_ops) WITH (m = 6, ef_construction = 32);
SELECT is(pg_temp.unreached('<->'), 0::bigint, 'm = 6: after CREATE INDEX every row is reachable');
DROP INDEX hr_l2;

-- cosine, m = 4: inserts, VACUUM
TRUNCATE hr_items;
CREATE INDEX hr_cos ON hr_items USING ecml_hnsw (v real_cosine_ops) WITH (m = 4, ef_construction = 32);
INSERT INTO hr_items SELECT * FROM hr_src ORDER BY id;
SELECT cmp_ok(pg_temp.unreached('<=>'), '>', 0::bigint,
              'cosine, m = 4, rows inserted one by one: some rows unreachable');
VACUUM hr_items;
SELECT is(pg_temp.unreached('<=>'), 0::bigint, 'cosine, m = 4: after VACUUM every row is reachable');
DROP INDEX hr_cos;

-- inner product: the pass is not run, VACUUM leaves the graph as it was
TRUNCATE hr_items;
CREATE INDEX hr_ip ON hr_items USING ecml_hnsw (v real_ip_ops) WITH (m = 6, ef_construction = 32);
INSERT INTO hr_items SELECT * FROM hr_src ORDER BY id;
CREATE TEMP TABLE hr_before AS SELECT pg_temp.unreached('<#>') AS n;
SELECT cmp_ok((SELECT n FROM hr_before), '>', 0::bigint,
              'inner product, m = 6: some rows unreachable after inserts');
VACUUM hr_items;
SELECT is(pg_temp.unreached('<#>'), (SELECT n FROM hr_before),
          'inner product: VACUUM does not link rows back');

SELECT * FROM finish();
DROP TABLE hr_items, hr_src, hr_before;
