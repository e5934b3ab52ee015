-- ecml_hnsw and the planner (issue 17): ORDER BY v <-> q LIMIT k uses the
-- index at the default ecml.hnsw_ef_search (40) and above, from N = 1,000
-- to 100,000 rows and d = 8 to 1,536, with the query a constant, a
-- parameter of a generic plan, or the column of another table (one index
-- scan per outer row).  These are the shapes where the index was measured
-- faster than Seq Scan + Sort (test/bench/RESULTS.md, "ecml_hnsw: the plan
-- at real shapes": 3.6x at 1,000 x 8 up to 70x at 9,000 x 784); before the
-- cost model of src/hnsw_cost.c the planner chose the sort from ef_search 20
-- on 9,000 x 784, and at 40 on 1,000 x 784.  Plan choice only, never time.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(40);
SET LOCAL search_path = public, ecml;
SET LOCAL client_min_messages = warning;
SET LOCAL maintenance_work_mem = '256MB';
SET LOCAL max_parallel_workers_per_gather = 0;
SET LOCAL jit = off;

-- the access path used for table t in the plan of q: Index, Seq or other
CREATE FUNCTION pg_temp.path(q text, t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line ~ (' on ' || t || '( |$)') THEN
            RETURN CASE WHEN line ~ 'Index Scan using' THEN 'Index'
                        WHEN line ~ 'Seq Scan' THEN 'Seq' ELSE line END;
        END IF;
    END LOOP;
    RETURN 'none';
END $$;

CREATE FUNCTION pg_temp.explain_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN ' || q;
END $$;

-- a table of n vectors of d dimensions around 10 centres, its index (of
-- the given storage), and 5 queries (table <name>_q)
CREATE FUNCTION pg_temp.make(name text, n int, d int, storage text DEFAULT 'float') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (id int, v real[])', name);
    EXECUTE format($q$INSERT INTO %I SELECT i, ARRAY(SELECT ((i %% 10) * 0.3 + random() * 2 - 1)::real
                                                 FROM generate_series(1, %s) WHERE i > 0)
                       FROM generate_series(1, %s) i$q$, name, d, n);
    EXECUTE format($q$CREATE TABLE %I AS SELECT i AS qid, ARRAY(SELECT ((i %% 10) * 0.3 + random() * 2 - 1)::real
                                                 FROM generate_series(1, %s) WHERE i > 0) AS q
                       FROM generate_series(1, 5) i$q$, name || '_q', d);
    EXECUTE format('CREATE INDEX %I ON %I USING ecml_hnsw (v real_l2_ops) WITH (storage = %L)',
                   name || '_idx', name, storage);
    EXECUTE format('ANALYZE %I', name);
    EXECUTE format('ANALYZE %I', name || '_q');
END $$;

-- four plans per shape: a constant query at ef_search 40 and 160, a generic
-- plan's parameter, and a lateral join (the query from another table)
CREATE FUNCTION pg_temp.check_shape(name text, n int, d int) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    q text := (SELECT format('%L::real[]', x::text) FROM pg_temp.qtab(name) x LIMIT 1);
    shape text := format('%s x %s', n, d);
BEGIN
    PERFORM set_config('ecml.hnsw_ef_search', '40', true);
    RETURN NEXT is(pg_temp.path(format('SELECT id FROM %I ORDER BY v <-> %s LIMIT 10', name, q), name),
                   'Index', shape || ': ORDER BY <-> constant LIMIT 10 uses the index at ef_search 40');
    PERFORM set_config('ecml.hnsw_ef_search', '160', true);
    RETURN NEXT is(pg_temp.path(format('SELECT id FROM %I ORDER BY v <-> %s LIMIT 10', name, q), name),
                   'Index', shape || ': ... and at ef_search 160');
    PERFORM set_config('ecml.hnsw_ef_search', '40', true);
    PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
    EXECUTE format('PREPARE pq AS SELECT id FROM %I ORDER BY v <-> $1 LIMIT 10', name);
    RETURN NEXT is(pg_temp.path(format('EXECUTE pq(%s)', q), name),
                   'Index', shape || ': a generic plan with the query a parameter uses the index');
    DEALLOCATE pq;
    PERFORM set_config('plan_cache_mode', 'auto', true);
    RETURN NEXT is(pg_temp.path(format('SELECT s.id FROM %I qt, LATERAL (SELECT id FROM %I t ORDER BY t.v <-> qt.q LIMIT 10) s',
                                       name || '_q', name), name),
                   'Index', shape || ': one index scan per query row of another table');
END $$;
CREATE FUNCTION pg_temp.qtab(name text) RETURNS SETOF real[] LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT q FROM %I ORDER BY qid', name || '_q');
END $$;

SELECT setseed(0.17);
SELECT pg_temp.make('p_1k_8', 1000, 8);
SELECT pg_temp.make('p_1k_128', 1000, 128);
SELECT pg_temp.make('p_1k_784', 1000, 784);
SELECT pg_temp.make('p_1k_1536', 1000, 1536);
-- 3,072 floats do not fit a page: the largest embedding models' vectors
-- are indexed at half precision
SELECT pg_temp.make('p_1k_3072', 1000, 3072, 'half');
SELECT pg_temp.make('p_9k_784', 9000, 784);
SELECT pg_temp.make('p_10k_8', 10000, 8);
SELECT pg_temp.make('p_10k_128', 10000, 128);
SELECT pg_temp.make('p_100k_8', 100000, 8);

SELECT pg_temp.check_shape('p_1k_8', 1000, 8);
SELECT pg_temp.check_shape('p_1k_128', 1000, 128);
SELECT pg_temp.check_shape('p_1k_784', 1000, 784);
SELECT pg_temp.check_shape('p_1k_1536', 1000, 1536);
SELECT pg_temp.check_shape('p_1k_3072', 1000, 3072);
SELECT pg_temp.check_shape('p_9k_784', 9000, 784);
SELECT pg_temp.check_shape('p_10k_8', 10000, 8);
SELECT pg_temp.check_shape('p_10k_128', 10000, 128);
SELECT pg_temp.check_shape('p_100k_8', 100000, 8);

-- what the support function tells the planner: a distance over a column
-- stored out of line (784 floats) costs more than one over 8 floats, and
-- the sort over every row is priced above the index scan
SELECT cmp_ok((SELECT (regexp_match(line, 'cost=[0-9.]+\.\.([0-9.]+)'))[1]::float8
               FROM pg_temp.explain_lines('SELECT v <-> v FROM p_1k_784') line LIMIT 1),
              '>',
              (SELECT (regexp_match(line, 'cost=[0-9.]+\.\.([0-9.]+)'))[1]::float8 * 10
               FROM pg_temp.explain_lines('SELECT v <-> v FROM p_1k_8') line LIMIT 1),
              'a 784-d distance over a toasted column costs over 10x an 8-d one');
SET LOCAL enable_indexscan = off;
SELECT is(pg_temp.path('SELECT id FROM p_9k_784 ORDER BY v <-> ' || (SELECT format('%L::real[]', q::text) FROM p_9k_784_q LIMIT 1) || ' LIMIT 10', 'p_9k_784'),
          'Seq', 'with index scans off the sort is the plan (the check above is not vacuous)');
RESET enable_indexscan;

-- an empty index (dimension not yet known) and a query with no index at
-- all still plan
CREATE TABLE p_empty (id int, v real[]);
CREATE INDEX ON p_empty USING ecml_hnsw (v real_l2_ops);
SELECT lives_ok('EXPLAIN SELECT id FROM p_empty ORDER BY v <-> ''{1,2}''::real[] LIMIT 3', 'an empty index plans');
SELECT lives_ok('EXPLAIN SELECT ecml.l2_distance(''{1,2}'', ''{3,4}'')', 'a distance of two constants plans');

SELECT * FROM finish();
ROLLBACK;
