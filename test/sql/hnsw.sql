-- Approximate search: the ecml_hnsw index access method.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;
SET search_path = public, ecml;

-- deterministic 8-d points on a few directions, with some NULL rows
CREATE TABLE hv (id int PRIMARY KEY, v real[]);
INSERT INTO hv
SELECT i, CASE WHEN i % 50 = 0 THEN NULL ELSE
       (SELECT array_agg((sin(i * 0.37 + d * 1.1) + (i % 5) * 0.2)::real ORDER BY d)
        FROM generate_series(1, 8) d) END
FROM generate_series(1, 500) i;

-- the operator classes, valid
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'ecml_hnsw') ORDER BY 1;

CREATE INDEX hv_l2 ON hv USING ecml_hnsw (v real_l2_ops);
CREATE INDEX hv_ip ON hv USING ecml_hnsw (v real_ip_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX hv_cos ON hv USING ecml_hnsw (v real_cosine_ops) WITH (m = 4, ef_construction = 16);
SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'hv\_%' ORDER BY 1;

-- the planner uses an index for ORDER BY <op> LIMIT (small table: seqscan off)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <#> '{1,1,1,1,1,1,1,1}' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <=> '{1,1,1,1,1,1,1,1}' LIMIT 5;
-- and not where it cannot help.  PostgreSQL 18 marks a scan that
-- enable_seqscan = off could not avoid with a "Disabled: true" line; the
-- plan is the same on 15 and 18 without it.
CREATE FUNCTION hv_plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF line !~ '^\s*Disabled: true$' THEN
      RETURN NEXT line;
    END IF;
  END LOOP;
END $$;
SELECT hv_plan('SELECT id FROM hv WHERE v IS NOT NULL LIMIT 5');
SELECT hv_plan('SELECT id FROM hv ORDER BY v[1] LIMIT 5');
SELECT hv_plan($q$SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' DESC LIMIT 5$q$);
DROP INDEX hv_l2;
SELECT hv_plan($q$SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 5$q$);

-- results: on 490 points the graph search finds the exact 10 nearest
CREATE INDEX hv_l2 ON hv USING ecml_hnsw (v real_l2_ops);
CREATE FUNCTION hv_top(op text, q real[], k int) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v %s $1, id LIMIT $2) s', op)
    INTO r USING q, k;
  RETURN r;
END $$;
CREATE FUNCTION hv_exact(op text, q real[], k int) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
  SET LOCAL enable_indexscan = off;
  SET LOCAL enable_seqscan = on;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM hv ORDER BY v %s $1, id LIMIT $2) s', op)
    INTO r USING q, k;
  RETURN r;
END $$;
SELECT op, hv_top(op, q, 10) = hv_exact(op, q, 10) AS same_as_exact
FROM (VALUES ('<->'), ('<#>'), ('<=>')) o(op),
     (VALUES ('{0.5,0.1,-0.3,0.9,0.2,0.2,-0.5,1}'::real[])) qq(q) ORDER BY 1;
-- streamed in distance order, distances as the operator computes them
SELECT id, round((v <-> '{1,0,1,0,1,0,1,0}')::numeric, 5) AS d
FROM hv ORDER BY v <-> '{1,0,1,0,1,0,1,0}' LIMIT 5;
SELECT bool_and(d >= prev) AS ordered, count(*) AS n FROM (
  SELECT d, lag(d, 1, '-Infinity') OVER (ORDER BY rn) AS prev FROM (
    SELECT row_number() OVER () AS rn, v <=> '{1,2,3,4,5,6,7,8}' AS d
    FROM (SELECT v FROM hv ORDER BY v <=> '{1,2,3,4,5,6,7,8}' LIMIT 40) s) s2) s3;
-- a LIMIT above ef_search: the scan goes on past its first batch, in
-- distance order (a row found after a farther one was returned is skipped)
SET ecml.hnsw_ef_search = 10;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows, bool_and(d >= prev) AS ordered
FROM (SELECT id, d, lag(d, 1, '-Infinity') OVER (ORDER BY rn) AS prev FROM (
        SELECT id, v <-> '{1,1,1,1,1,1,1,1}' AS d, row_number() OVER () AS rn
        FROM (SELECT id, v FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 200) s0) s1) s;
-- without ecml.hnsw_strict_order such rows come back, out of order
SET ecml.hnsw_strict_order = off;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 490) s;
RESET ecml.hnsw_strict_order;
-- a filter that rejects most candidates still gives LIMIT rows
SELECT count(*) AS rows, bool_and(id % 7 = 3) AS filtered
FROM (SELECT id FROM hv WHERE id % 7 = 3 ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 20) s;
-- ecml.hnsw_max_scan_tuples bounds that search
SET ecml.hnsw_max_scan_tuples = 30;
SELECT count(*) < 200 AS bounded
FROM (SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 200) s;
RESET ecml.hnsw_max_scan_tuples;
RESET ecml.hnsw_ef_search;
-- NULL rows are not in the index; every other row is reachable
SELECT count(*) AS indexed FROM (SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 1000) s;
-- a NULL query orders nothing: every indexed row, distance NULL (a generic
-- plan keeps the parameter; a constant NULL is folded away by the planner)
SET plan_cache_mode = force_generic_plan;
PREPARE hv_q(real[]) AS
  SELECT count(*) AS rows, count(d) AS distances
  FROM (SELECT v <-> $1 AS d FROM hv ORDER BY v <-> $1 LIMIT 1000) s;
EXPLAIN (COSTS OFF) EXECUTE hv_q(NULL);
EXECUTE hv_q(NULL);
EXECUTE hv_q('{1,1,1,1,1,1,1,1}');
DEALLOCATE hv_q;
RESET plan_cache_mode;

-- inserts, updates, deletes and VACUUM
INSERT INTO hv VALUES (1001, '{9,9,9,9,9,9,9,9}'), (1002, NULL);
SELECT id FROM hv ORDER BY v <-> '{9,9,9,9,9,9,9,9.5}' LIMIT 1;
UPDATE hv SET v = '{-9,-9,-9,-9,-9,-9,-9,-9}' WHERE id = 1001;
SELECT id FROM hv ORDER BY v <-> '{-9,-9,-9,-9,-9,-9,-9,-9}' LIMIT 1;
DELETE FROM hv WHERE id % 3 = 0;
VACUUM hv;
SELECT count(*) AS indexed_after_vacuum FROM (SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 1000) s;
SELECT op, hv_top(op, q, 10) = hv_exact(op, q, 10) AS same_after_vacuum
FROM (VALUES ('<->'), ('<#>'), ('<=>')) o(op),
     (VALUES ('{0.5,0.1,-0.3,0.9,0.2,0.2,-0.5,1}'::real[])) qq(q) ORDER BY 1;
-- deleting the entry point and everything else
DELETE FROM hv;
VACUUM hv;
SELECT count(*) AS empty FROM (SELECT id FROM hv ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 10) s;
INSERT INTO hv VALUES (1, '{1,2,3,4,5,6,7,8}'), (2, '{8,7,6,5,4,3,2,1}');
SELECT id FROM hv ORDER BY v <=> '{1,2,3,4,5,6,7,9}' LIMIT 2;

-- bad rows
\set VERBOSITY terse
INSERT INTO hv VALUES (3, '{1,2,3}');
INSERT INTO hv VALUES (3, '{1,2,3,4,5,6,7,NaN}');
INSERT INTO hv VALUES (3, '{1,2,3,4,5,6,7,Infinity}');
INSERT INTO hv VALUES (3, '{1,2,3,4,5,6,7,NULL}');
INSERT INTO hv VALUES (3, '{{1,2,3,4},{5,6,7,8}}');
INSERT INTO hv VALUES (3, '{}');
INSERT INTO hv VALUES (3, '{0,0,0,0,0,0,0,0}');
-- bad queries
SELECT id FROM hv ORDER BY v <-> '{1,2}' LIMIT 1;
SELECT id FROM hv ORDER BY v <-> '{1,2,3,4,5,6,7,NaN}' LIMIT 1;
SELECT id FROM hv ORDER BY v <=> '{0,0,0,0,0,0,0,0}' LIMIT 1;
SELECT id FROM hv ORDER BY v <-> '{1,2,3,4,5,6,7,NULL}' LIMIT 1;
-- bad options
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops) WITH (m = 1);
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops) WITH (m = 101);
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops) WITH (ef_construction = 1001);
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops) WITH (m = 40, ef_construction = 64);
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops) WITH (ef_search = 10);
SET ecml.hnsw_ef_search = 0;
SET ecml.hnsw_ef_search = 1001;
SET ecml.hnsw_max_scan_tuples = 0;
SET ecml.hnsw_strict_order = maybe;
CREATE INDEX ON hv USING ecml_hnsw (v);
CREATE INDEX ON hv USING ecml_hnsw (id);
CREATE INDEX ON hv USING ecml_hnsw (v real_l2_ops, v real_l2_ops);
-- a build meets a bad row: the index is not created
CREATE TABLE hbad (v real[]);
INSERT INTO hbad VALUES ('{1,2}'), ('{3,4}'), ('{1,2,3}');
CREATE INDEX ON hbad USING ecml_hnsw (v real_l2_ops);
TRUNCATE hbad;
INSERT INTO hbad VALUES ('{1,2}'), ('{0,0}');
CREATE INDEX ON hbad USING ecml_hnsw (v real_cosine_ops);
CREATE INDEX hbad_l2 ON hbad USING ecml_hnsw (v real_l2_ops);
-- too many dimensions for a page
DROP INDEX hbad_l2;
TRUNCATE hbad;
INSERT INTO hbad SELECT array_agg(1::real) FROM generate_series(1, 2100);
CREATE INDEX ON hbad USING ecml_hnsw (v real_l2_ops);
\set VERBOSITY default

-- a build that outgrows maintenance_work_mem continues on disk, with a NOTICE
CREATE TABLE hbig (id int, v real[]);
INSERT INTO hbig
SELECT i, (SELECT array_agg((sin(i * 0.37 + d * 1.1) + (i % 5) * 0.2)::real ORDER BY d)
           FROM generate_series(1, 8) d)
FROM generate_series(1, 7000) i;
SET maintenance_work_mem = '1MB';
SET client_min_messages = notice;
CREATE INDEX hbig_idx ON hbig USING ecml_hnsw (v real_l2_ops);
SET client_min_messages = warning;
RESET maintenance_work_mem;
SET ecml.hnsw_strict_order = off;
SELECT count(*) AS indexed FROM (SELECT id FROM hbig ORDER BY v <-> '{1,1,1,1,1,1,1,1}' LIMIT 10000) s;
RESET ecml.hnsw_strict_order;
SELECT (SELECT array_agg(round(d::numeric, 4)) FROM (SELECT v <-> '{1,0,1,0,1,0,1,0}' AS d FROM hbig ORDER BY v <-> '{1,0,1,0,1,0,1,0}' LIMIT 5) s) =
       (SELECT array_agg(round(d::numeric, 4)) FROM (SELECT ecml.l2_distance(v, '{1,0,1,0,1,0,1,0}') AS d FROM hbig ORDER BY 1 LIMIT 5) s)
       AS same_as_exact;
DROP TABLE hbig;

-- an empty index takes its dimension from the first row; unlogged tables work
CREATE UNLOGGED TABLE hu (v real[]);
CREATE INDEX hu_idx ON hu USING ecml_hnsw (v real_ip_ops);
SELECT count(*) FROM (SELECT 1 FROM hu ORDER BY v <#> '{1,2,3}' LIMIT 3) s;
INSERT INTO hu VALUES ('{1,2,3}'), ('{3,2,1}'), (NULL);
SELECT v FROM hu ORDER BY v <#> '{0,0,1}' LIMIT 3;
\set VERBOSITY terse
INSERT INTO hu VALUES ('{1,2}');
\set VERBOSITY default
REINDEX INDEX hu_idx;
SELECT v FROM hu ORDER BY v <#> '{1,0,0}' LIMIT 1;

DROP TABLE hv, hbad, hu;
DROP FUNCTION hv_top(text, real[], int), hv_exact(text, real[], int);
