-- Embedding similarity: exact agreement of search with brute force in SQL
-- and with ORDER BY <operator> LIMIT, parallel scans and packing,
-- determinism, the registry path.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(24);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- 3000 x 32 floats from a seeded generator, and 2000 x 16 small integers
-- (every distance exact in float32, so ties are real ties)
SELECT setseed(0.42);
CREATE TABLE vec AS
SELECT i::bigint AS id, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 32) WHERE i > 0) AS e
FROM generate_series(1, 3000) i;
CREATE TABLE ints AS
SELECT i::bigint AS id, ARRAY(SELECT floor(random() * 9 - 4)::real FROM generate_series(1, 16) WHERE i > 0) AS e
FROM generate_series(1, 2000) i;
DELETE FROM ints WHERE e = array_fill(0::real, ARRAY[16]);
CREATE TABLE q AS SELECT id AS qid, e AS qe FROM vec WHERE id % 150 = 1;      -- 20 queries
CREATE TABLE qi AS SELECT id AS qid, e AS qe FROM ints WHERE id % 100 = 7;    -- 20 queries
ANALYZE vec; ANALYZE ints;

CREATE TABLE packs AS
SELECT (SELECT ecml.pack_vectors(id, e) FROM vec) AS vcos,
       (SELECT ecml.pack_vectors(id, e, '{"metric": "l2"}') FROM vec) AS vl2,
       (SELECT ecml.pack_vectors(id, e, '{"metric": "inner_product"}') FROM vec) AS vip,
       (SELECT ecml.pack_vectors(id, e, '{"metric": "l2"}') FROM ints) AS il2,
       (SELECT ecml.pack_vectors(id, e, '{"metric": "inner_product"}') FROM ints) AS iip;

-- brute force in float8 SQL, ties by id
CREATE FUNCTION pg_temp.brute(tbl regclass, qv real[], metric text, k int)
RETURNS TABLE (rank bigint, id bigint, d float8) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT row_number() OVER (ORDER BY d, id), id, d FROM (
            SELECT t.id, CASE $2
                WHEN 'l2' THEN (SELECT sqrt(sum((x::float8 - y::float8) ^ 2)) FROM unnest(t.e, $1) u(x, y))
                WHEN 'ip' THEN -(SELECT sum(x::float8 * y::float8) FROM unnest(t.e, $1) u(x, y))
                ELSE 1 - (SELECT sum(x::float8 * y::float8) / sqrt(sum(x::float8 * x) * sum(y::float8 * y))
                          FROM unnest(t.e, $1) u(x, y)) END AS d
            FROM %s t) s ORDER BY d, id LIMIT $3 $q$, tbl) USING qv, metric, k;
END $$;

-- 1-3: integer data, every metric's distances exact: same ids in the same order, same distances
SELECT is((SELECT count(*) FROM qi, packs, LATERAL ecml.search(il2, qe, 10) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL pg_temp.brute('ints', qe, 'l2', 10) b USING (rank)
           WHERE s.id IS DISTINCT FROM b.id OR s.d::float8 IS DISTINCT FROM b.d::real::float8),
          0::bigint, 'l2 on integer data: search equals brute force exactly, ties by id');
SELECT is((SELECT count(*) FROM qi, packs, LATERAL ecml.search(iip, qe, 10) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL pg_temp.brute('ints', qe, 'ip', 10) b USING (rank)
           WHERE s.id IS DISTINCT FROM b.id OR s.d::float8 IS DISTINCT FROM b.d),
          0::bigint, 'inner product on integer data: search equals brute force exactly, ties by id');
SELECT ok((SELECT count(*) FROM (SELECT qe, d FROM qi, packs, LATERAL ecml.search(iip, qe, 10) s(id, d)
                                 GROUP BY qe, d HAVING count(*) > 1) t) > 0,
          'the integer data has ties among the top 10 (so tie-breaking was tested)');
-- 4-6: float data: same ids in the same order, distances within float32 rounding
SELECT is((SELECT count(*) FROM q, packs, LATERAL ecml.search(vcos, qe, 10) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL pg_temp.brute('vec', qe, 'cos', 10) b USING (rank)
           WHERE s.id IS DISTINCT FROM b.id OR abs(s.d - b.d) > 1e-6),
          0::bigint, 'cosine: search equals brute force (ids, order; distances within 1e-6)');
SELECT is((SELECT count(*) FROM q, packs, LATERAL ecml.search(vl2, qe, 10) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL pg_temp.brute('vec', qe, 'l2', 10) b USING (rank)
           WHERE s.id IS DISTINCT FROM b.id OR abs(s.d - b.d) > 1e-5 * b.d),
          0::bigint, 'l2: search equals brute force (ids, order; distances within 1e-5 relative)');
SELECT is((SELECT count(*) FROM q, packs, LATERAL ecml.search(vip, qe, 10) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL pg_temp.brute('vec', qe, 'ip', 10) b USING (rank)
           WHERE s.id IS DISTINCT FROM b.id OR abs(s.d - b.d) > 1e-5 * abs(b.d)),
          0::bigint, 'inner product: search equals brute force (ids, order; distances within 1e-5 relative)');

-- 7-9: search returns what ORDER BY <operator> LIMIT returns
SELECT is((SELECT count(*) FROM q, packs, LATERAL ecml.search(vl2, qe, 25) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL (SELECT row_number() OVER () AS rank, id, d FROM
                (SELECT id, e OPERATOR(ecml.<->) qe AS d FROM vec ORDER BY 2, 1 LIMIT 25) o) o USING (rank)
           WHERE s.id IS DISTINCT FROM o.id OR s.d IS DISTINCT FROM o.d::real),
          0::bigint, 'l2: search is identical (ids and distances) to ORDER BY <-> LIMIT');
SELECT is((SELECT count(*) FROM q, packs, LATERAL ecml.search(vip, qe, 25) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL (SELECT row_number() OVER () AS rank, id, d FROM
                (SELECT id, e OPERATOR(ecml.<#>) qe AS d FROM vec ORDER BY 2, 1 LIMIT 25) o) o USING (rank)
           WHERE s.id IS DISTINCT FROM o.id OR s.d IS DISTINCT FROM o.d::real),
          0::bigint, 'inner product: search is identical (ids and distances) to ORDER BY <#> LIMIT');
SELECT is((SELECT count(*) FROM q, packs, LATERAL ecml.search(vcos, qe, 25) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL (SELECT row_number() OVER () AS rank, id, d FROM
                (SELECT id, e OPERATOR(ecml.<=>) qe AS d FROM vec ORDER BY 2, 1 LIMIT 25) o) o USING (rank)
           WHERE s.id IS DISTINCT FROM o.id OR abs(s.d - o.d) > 1e-6),
          0::bigint, 'cosine: search has the ids of ORDER BY <=> LIMIT, distances within 1e-6');

-- 10-11: filter_ids is ORDER BY ... LIMIT over WHERE id = ANY(filter)
SELECT is((SELECT count(*) FROM q, packs,
                LATERAL ecml.search(vl2, qe, 5, (SELECT array_agg(id) FROM vec WHERE id % 13 = qid % 13)) WITH ORDINALITY s(id, d, rank)
           FULL JOIN LATERAL (SELECT row_number() OVER () AS rank, id, d FROM
                (SELECT id, e OPERATOR(ecml.<->) qe AS d FROM vec WHERE id % 13 = qid % 13 ORDER BY 2, 1 LIMIT 5) o) o USING (rank)
           WHERE s.id IS DISTINCT FROM o.id OR s.d IS DISTINCT FROM o.d::real),
          0::bigint, 'filtered search equals ORDER BY <-> LIMIT over the filtered rows');
SELECT results_eq(
    $$SELECT s.id, s.distance FROM packs, ecml.search(vl2, (SELECT qe FROM q ORDER BY qid LIMIT 1), 100000) s$$,
    $$SELECT id, (e OPERATOR(ecml.<->) (SELECT qe FROM q ORDER BY qid LIMIT 1))::real FROM vec
      ORDER BY e OPERATOR(ecml.<->) (SELECT qe FROM q ORDER BY qid LIMIT 1), id$$,
    'k above the pack size returns every row, in ORDER BY <-> order');

-- 12-14: search_batch is search of each query; more queries than one sgemm group (256)
SELECT is((SELECT count(*) FROM packs, (SELECT array_agg(qe ORDER BY qid) AS qs, array_agg(qe ORDER BY qid) AS qa FROM q) qq,
                LATERAL ecml.search_batch(vcos, qs, 10) b
           FULL JOIN (SELECT qi.n AS query_index, s.rank, s.id, s.distance
                      FROM (SELECT row_number() OVER (ORDER BY qid) AS n, qe FROM q) qi, packs p2,
                           LATERAL ecml.search(p2.vcos, qi.qe, 10) WITH ORDINALITY s(id, distance, rank)) s
                USING (query_index, rank)
           WHERE b.id IS DISTINCT FROM s.id OR b.distance IS DISTINCT FROM s.distance),
          0::bigint, 'cosine: search_batch equals search for every query');
SELECT is((SELECT count(*) FROM packs, (SELECT array_agg(e ORDER BY id) AS qs FROM vec WHERE id <= 300) qq,
                LATERAL ecml.search_batch(vl2, qs, 7) b
           FULL JOIN (SELECT v.id::int AS query_index, s.rank::int AS rank, s.id, s.distance
                      FROM vec v, packs p2, LATERAL ecml.search(p2.vl2, v.e, 7) WITH ORDINALITY s(id, distance, rank)
                      WHERE v.id <= 300) s
                USING (query_index, rank)
           WHERE b.id IS DISTINCT FROM s.id OR b.distance IS DISTINCT FROM s.distance),
          0::bigint, 'l2: search_batch of 300 queries (two sgemm groups) equals search for every query');
SELECT is((SELECT count(*) FROM packs, (SELECT array_agg(qe ORDER BY qid) AS qs FROM qi) qq,
                LATERAL ecml.search_batch(iip, qs, 10) b
           FULL JOIN (SELECT qn.n AS query_index, s.rank::int AS rank, s.id, s.distance
                      FROM (SELECT row_number() OVER (ORDER BY qid)::int AS n, qe FROM qi) qn, packs p2,
                           LATERAL ecml.search(p2.iip, qn.qe, 10) WITH ORDINALITY s(id, distance, rank)) s
                USING (query_index, rank)
           WHERE b.id IS DISTINCT FROM s.id OR b.distance IS DISTINCT FROM s.distance),
          0::bigint, 'inner product with ties: search_batch equals search for every query');

-- 15: shapes that leave remainders in every block: d = 13, 301 rows, 7 queries
CREATE TABLE odd AS
SELECT i::bigint AS id, ARRAY(SELECT floor(random() * 7 - 3)::real FROM generate_series(1, 13) WHERE i > 0) AS e
FROM generate_series(1, 301) i;
SELECT is((SELECT count(*) FROM (SELECT ecml.pack_vectors(id, e, '{"metric": "l2"}') AS p,
                                        array_agg(e ORDER BY id) FILTER (WHERE id <= 7) AS qs FROM odd) pk,
                LATERAL ecml.search_batch(pk.p, pk.qs, 5) b
           FULL JOIN (SELECT q.id::int AS query_index, o.rank::int AS rank, o.id, o.d
                      FROM odd q, LATERAL (SELECT row_number() OVER () AS rank, id, d FROM
                           (SELECT id, e OPERATOR(ecml.<->) q.e AS d FROM odd ORDER BY 2, 1 LIMIT 5) t) o
                      WHERE q.id <= 7) o USING (query_index, rank)
           WHERE b.id IS DISTINCT FROM o.id OR b.distance IS DISTINCT FROM o.d::real),
          0::bigint, 'search_batch with remainders (d = 13, 301 rows, 7 queries) equals ORDER BY <-> LIMIT');

-- 16: more queries than fit in work_mem at once: chunks of 64 kB / (50 x 12 B) = 109 queries
SET LOCAL work_mem = '64kB';
SELECT is((SELECT count(*) FROM packs, (SELECT array_agg(e ORDER BY id) AS qs FROM vec WHERE id <= 300) qq,
                LATERAL ecml.search_batch(vip, qs, 50) b
           FULL JOIN (SELECT v.id::int AS query_index, s.rank::int AS rank, s.id, s.distance
                      FROM vec v, packs p2, LATERAL ecml.search(p2.vip, v.e, 50) WITH ORDINALITY s(id, distance, rank)
                      WHERE v.id <= 300) s
                USING (query_index, rank)
           WHERE b.id IS DISTINCT FROM s.id OR b.distance IS DISTINCT FROM s.distance),
          0::bigint, 'search_batch in three work_mem chunks equals search for every query');
RESET work_mem;

-- 17: deterministic
SELECT results_eq(
    $$SELECT s.* FROM q, packs, LATERAL ecml.search(vip, qe, 10) s ORDER BY qid$$,
    $$SELECT s.* FROM q, packs, LATERAL ecml.search(vip, qe, 10) s ORDER BY qid$$,
    'the same search twice gives the same rows');

-- 18-21: parallel query: the operators in a parallel scan, pack_vectors as a partial aggregate
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
SET LOCAL search_path = public, ecml;
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Workers Planned"') AS w
                                 FROM pg_temp.plan_json('SELECT id FROM vec ORDER BY e <=> (SELECT qe FROM q ORDER BY qid LIMIT 1), id LIMIT 10') p) s
                  WHERE w::int > 0),
          'ORDER BY e <=> q LIMIT 10 runs as a parallel scan (search_path form)');
SELECT results_eq(
    $$SELECT id FROM vec ORDER BY e <=> (SELECT qe FROM q ORDER BY qid LIMIT 1), id LIMIT 10$$,
    $$SELECT s.id FROM packs, ecml.search(vcos, (SELECT qe FROM q ORDER BY qid LIMIT 1), 10) s$$,
    'the parallel ORDER BY <=> LIMIT returns the rows search returns');
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Partial Mode"') AS mode
                                 FROM pg_temp.plan_json('SELECT ecml.pack_vectors(id, e) FROM vec') p) s
                  WHERE mode = '"Partial"'),
          'pack_vectors runs as a parallel partial aggregate');
SELECT is((SELECT substr(ecml.pack_vectors(id, e), 65) FROM vec), (SELECT substr(vcos, 65) FROM packs),
          'the parallel pack has the same payload as the serial one (rows sorted by id)');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- 22: from the registry
SELECT ecml.save_model('search_test_pack', (SELECT vl2 FROM packs));
SELECT results_eq(
    $$SELECT s.* FROM q, LATERAL ecml.search(ecml.model('search_test_pack'), qe, 5) s ORDER BY qid$$,
    $$SELECT s.* FROM q, packs, LATERAL ecml.search(vl2, qe, 5) s ORDER BY qid$$,
    'search through ecml.model() gives the same rows');

-- 23-24: errors carry their SQLSTATEs
SELECT throws_ok($$SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{1,2}'::real[]), (1, '{2,1}')) v(id, e)$$,
                 '23505', NULL, 'a duplicate id is a unique violation');
SELECT throws_ok($$SELECT * FROM ecml.search((SELECT vcos FROM packs), '{1,2}', 3)$$,
                 '22000', NULL, 'a dimension mismatch is a data exception');

SELECT * FROM finish();
ROLLBACK;
