-- ecml_hnsw builds compute their distances over half-precision copies of
-- the vectors (cosine and L2 at 64 dimensions and more, where the CPU
-- converts halves; src/hnsw_build_graph.c).  The graph must be as good as
-- one built over floats.  L2's copies are of the vectors minus the first
-- one, so data far from the origin keeps its precision: around 10,000 a
-- half steps by 8, more than these points' distances.  A vector beyond
-- half's range, or a maintenance_work_mem the copies do not fit, makes
-- the build go on over floats.  (test/extra/hnsw_parallel_build.sh checks
-- that the copies are used, serially and in parallel.)
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(6);
SET LOCAL search_path = public, ecml;
SET LOCAL client_min_messages = warning;
SET LOCAL maintenance_work_mem = '256MB';
SET LOCAL max_parallel_maintenance_workers = 0;
SET LOCAL max_parallel_workers_per_gather = 0;
SET LOCAL jit = off;

SELECT setseed(0.37);
CREATE TEMP TABLE bh_c AS
SELECT k, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 96) WHERE k >= 0) AS c
FROM generate_series(0, 29) k;
-- 3,000 points and 20 queries around 30 centres in 96 dimensions, and the
-- same moved 10,000 along every axis
CREATE FUNCTION pg_temp.point(c real[]) RETURNS real[] LANGUAGE sql AS
$$ SELECT array_agg((x + (random() - 0.5) * 0.6)::real ORDER BY i) FROM unnest(c) WITH ORDINALITY u(x, i) $$;
CREATE TEMP TABLE bh AS SELECT i AS id, pg_temp.point(c) AS v FROM generate_series(1, 3000) i JOIN bh_c ON k = i % 30;
CREATE TEMP TABLE bh_q AS SELECT i AS qid, pg_temp.point(c) AS q FROM generate_series(1, 20) i JOIN bh_c ON k = (i * 7) % 30;
CREATE TEMP TABLE bh_far AS SELECT id, ARRAY(SELECT (x + 10000)::real FROM unnest(v) x) AS v FROM bh;
CREATE TEMP TABLE bh_far_q AS SELECT qid, ARRAY(SELECT (x + 10000)::real FROM unnest(q) x) AS q FROM bh_q;
-- one vector beyond half's range once the first is subtracted
CREATE TEMP TABLE bh_huge AS SELECT id, CASE WHEN id = 1500 THEN array_fill(1e6::real, ARRAY[96]) ELSE v END AS v FROM bh;
ANALYZE bh; ANALYZE bh_far; ANALYZE bh_huge;

-- recall@10 at ef_search 100 of tab's index for op, over qtab's queries
CREATE FUNCTION pg_temp.recall(tab text, qtab text, op text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    r record;
    a int[];
    b int[];
    hit int := 0;
BEGIN
    SET LOCAL ecml.hnsw_ef_search = 100;
    FOR r IN EXECUTE format('SELECT qid, q FROM %I ORDER BY qid', qtab) LOOP
        SET LOCAL enable_seqscan = off;
        SET LOCAL enable_indexscan = on;
        EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM %I ORDER BY v %s $1 LIMIT 10) s', tab, op)
            INTO a USING r.q;
        SET LOCAL enable_seqscan = on;
        SET LOCAL enable_indexscan = off;
        EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM %I ORDER BY v %s $1, id LIMIT 10) s', tab, op)
            INTO b USING r.q;
        hit := hit + (SELECT count(*) FROM unnest(a) x WHERE x = ANY (b));
    END LOOP;
    RESET enable_seqscan;
    RESET enable_indexscan;
    RETURN hit / (10.0 * (SELECT count(*) FROM bh_q));
END $$;

CREATE INDEX bh_cos ON bh USING ecml_hnsw (v real_cosine_ops);
SELECT cmp_ok(pg_temp.recall('bh', 'bh_q', '<=>'), '>=', 0.95::float8,
              'cosine, 96 dimensions: recall@10 >= 0.95');
DROP INDEX bh_cos;

CREATE INDEX bh_l2 ON bh USING ecml_hnsw (v real_l2_ops);
SELECT cmp_ok(pg_temp.recall('bh', 'bh_q', '<->'), '>=', 0.95::float8,
              'L2, 96 dimensions: recall@10 >= 0.95');
DROP INDEX bh_l2;

CREATE INDEX bh_far_l2 ON bh_far USING ecml_hnsw (v real_l2_ops);
SELECT cmp_ok(pg_temp.recall('bh_far', 'bh_far_q', '<->'), '>=', 0.95::float8,
              'L2, the same points 10,000 from the origin: recall@10 >= 0.95');
DROP INDEX bh_far_l2;

CREATE INDEX bh_huge_l2 ON bh_huge USING ecml_hnsw (v real_l2_ops);
SELECT cmp_ok(pg_temp.recall('bh_huge', 'bh_q', '<->'), '>=', 0.95::float8,
              'L2 with a component of 1e6 (beyond half): recall@10 >= 0.95');
DROP INDEX bh_huge_l2;

-- 1MB: the half copies stop fitting after some rows, the floats go on in
-- memory, then on disk
SET LOCAL maintenance_work_mem = '1MB';
CREATE INDEX bh_small ON bh USING ecml_hnsw (v real_l2_ops);
SELECT cmp_ok(pg_temp.recall('bh', 'bh_q', '<->'), '>=', 0.95::float8,
              'L2 in 1MB of maintenance_work_mem: recall@10 >= 0.95');
SELECT is((SELECT reltuples FROM pg_class WHERE relname = 'bh_small'), 3000::real,
          'the 1MB build indexed every row');
DROP INDEX bh_small;

SELECT * FROM finish();
ROLLBACK;
