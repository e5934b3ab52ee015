-- Ranking metrics over arrays and the RMSE aggregate.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- recommended 10, 20, 30, 40, 50 (best first); relevant 20, 50, 99
SELECT ecml.precision_at_k('{10,20,30,40,50}', '{20,50,99}', 5) AS p5,
       ecml.recall_at_k('{10,20,30,40,50}', '{20,50,99}', 5) AS r5,
       round(ecml.ndcg_at_k('{10,20,30,40,50}', '{20,50,99}', 5)::numeric, 12) AS ndcg5,
       round(((1 / log(2, 3) + 1 / log(2, 6)) / (1 + 1 / log(2, 3) + 1 / log(2, 4)))::numeric, 12) AS ndcg5_by_hand,
       ecml.hit_rate_at_k('{10,20,30,40,50}', '{20,50,99}', 5) AS hr5;
-- only the first k count
SELECT ecml.precision_at_k('{10,20,30,40,50}', '{20,50,99}', 1) AS p1,
       ecml.hit_rate_at_k('{10,20,30,40,50}', '{20,50,99}', 1) AS hr1,
       ecml.precision_at_k('{10,20,30,40,50}', '{20,50,99}', 2) AS p2,
       ecml.recall_at_k('{10,20,30,40,50}', '{20,50,99}', 2) AS r2,
       round(ecml.ndcg_at_k('{10,20,30,40,50}', '{20,50,99}', 2)::numeric, 12) AS ndcg2,
       round(((1 / log(2, 3)) / (1 + 1 / log(2, 3)))::numeric, 12) AS ndcg2_by_hand;
-- a perfect list has nDCG 1; k beyond the list: missing places are misses
SELECT ecml.ndcg_at_k('{1,2,3}', '{3,2,1}', 3) AS perfect,
       ecml.ndcg_at_k('{1,2,3}', '{1}', 10) AS first_place,
       ecml.precision_at_k('{1,2,3}', '{1,2,3}', 10) AS p10_short_list,
       ecml.recall_at_k('{1,2,3}', '{1,2,3}', 2147483647) AS recall_huge_k;
-- repeats: a repeated recommended id counts once, relevant is a set
SELECT ecml.precision_at_k('{7,7,7}', '{7}', 3) AS repeated_rec,
       ecml.recall_at_k('{7,8}', '{7,7,8,8}', 2) AS repeated_rel,
       ecml.ndcg_at_k('{7,7,8}', '{7,8}', 3) < 1 AS repeat_wastes_a_place;
-- empty arrays: no hits; recall and nDCG are undefined without relevant ids
SELECT ecml.precision_at_k('{}', '{1,2}', 5) AS p_empty_rec,
       ecml.hit_rate_at_k('{}', '{1,2}', 5) AS hr_empty_rec,
       ecml.ndcg_at_k('{}', '{1,2}', 5) AS ndcg_empty_rec,
       ecml.precision_at_k('{1,2}', '{}', 5) AS p_empty_rel,
       ecml.recall_at_k('{1,2}', '{}', 5) IS NULL AS recall_null,
       ecml.ndcg_at_k('{1,2}', '{}', 5) IS NULL AS ndcg_null,
       ecml.hit_rate_at_k('{1,2}', '{}', 5) AS hr_empty_rel;
-- negative and large ids
SELECT ecml.hit_rate_at_k('{-9223372036854775808, 9223372036854775807}', '{9223372036854775807}', 2) AS extremes;
-- STRICT
SELECT ecml.precision_at_k(NULL, '{1}', 5) IS NULL AS s1, ecml.ndcg_at_k('{1}', NULL, 5) IS NULL AS s2,
       ecml.recall_at_k('{1}', '{1}', NULL) IS NULL AS s3;
-- averaged over users, as an evaluation query does
SELECT avg(ecml.hit_rate_at_k(rec, rel, 2)) AS hit_rate, avg(ecml.recall_at_k(rec, rel, 2)) AS recall
FROM (VALUES ('{1,2,3}'::bigint[], '{2}'::bigint[]), ('{4,5,6}', '{6}'), ('{7,8}', '{7,9}'), ('{1}', '{}')) t(rec, rel);

-- bad input
SELECT ecml.precision_at_k('{1,2}', '{1}', 0);
SELECT ecml.recall_at_k('{1,2}', '{1}', -1);
SELECT ecml.ndcg_at_k('{1,NULL}', '{1}', 2);
SELECT ecml.hit_rate_at_k('{1,2}', '{1,NULL}', 2);
SELECT ecml.ndcg_at_k('{{1,2}}', '{1}', 2);

-- rmse: sqrt(mean((p - a)^2)), NULL rows skipped
SELECT ecml.rmse(p, a) AS rmse, sqrt((1 + 4 + 0) / 3.0) AS by_hand
FROM (VALUES (1.0, 2.0), (3.0, 1.0), (5.0, 5.0), (NULL, 1.0), (2.0, NULL)) t(p, a);
SELECT ecml.rmse(p, a) IS NULL AS no_rows FROM (VALUES (1.0, NULL::float8)) t(p, a);
SELECT ecml.rmse(x::real, x::real) AS zero FROM generate_series(1, 10) x;
-- real arguments (mf_predict returns real) and a large compensated sum
SELECT abs(ecml.rmse(0.1::real, 0::real) - 0.1::real) < 1e-12 AS real_args
FROM generate_series(1, 100000);
-- parallel partial aggregation gives the same value
CREATE TABLE rm_big AS SELECT i, sin(i) AS p, cos(i) AS a FROM generate_series(1, 200000) i;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE rm_par AS SELECT ecml.rmse(p, a) AS r FROM rm_big;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT abs(r - (SELECT ecml.rmse(p, a) FROM rm_big)) < 1e-12 AS parallel_equal,
       abs(r - (SELECT sqrt(avg((p - a) ^ 2)) FROM rm_big)) < 1e-12 AS matches_sql
FROM rm_par;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT ecml.rmse(p, a) FROM (VALUES (1.0, 'NaN'::float8)) t(p, a);
SELECT ecml.rmse(p, a) FROM (VALUES ('Infinity'::float8, 1.0)) t(p, a);
