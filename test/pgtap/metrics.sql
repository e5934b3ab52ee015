-- Evaluation aggregates and the hashing trick: agreement with brute-force
-- SQL definitions, invariances, parallel equals serial, SQLSTATEs.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(39);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- 2000 rows, 21 distinct scores (so many ties within and across classes),
-- positives scored higher on average; five groups
SELECT setseed(0.5);
CREATE TABLE sc AS
SELECT i, i % 5 AS g, y, round((random() * 0.7 + CASE WHEN y THEN 0.3 ELSE 0 END)::numeric * 20) / 20 AS s
FROM (SELECT i, random() < 0.3 AS y FROM generate_series(1, 2000) i) t;
ALTER TABLE sc ALTER COLUMN s TYPE float8;

-- brute force: every (positive, negative) pair, a tie counting 1/2
CREATE FUNCTION pg_temp.auc_pairs(grp int) RETURNS float8 LANGUAGE sql AS $$
    SELECT (sum(CASE WHEN p.s > n.s THEN 2 WHEN p.s = n.s THEN 1 ELSE 0 END)::numeric
            / (2 * count(*)))::float8
    FROM sc p JOIN sc n ON p.y AND NOT n.y AND (grp IS NULL OR (p.g = grp AND n.g = grp))
$$;
-- brute force: sum over distinct thresholds t with positives of
-- (positives at t / positives) * (positives >= t / rows >= t)
CREATE FUNCTION pg_temp.ap_thresholds() RETURNS float8 LANGUAGE sql AS $$
    SELECT sum(pos_at::numeric / total_pos * pos_ge / rows_ge)::float8
    FROM (SELECT t.s, count(*) FILTER (WHERE y) AS pos_at,
                 (SELECT count(*) FROM sc WHERE y AND s >= t.s) AS pos_ge,
                 (SELECT count(*) FROM sc WHERE s >= t.s) AS rows_ge,
                 (SELECT count(*) FROM sc WHERE y) AS total_pos
          FROM sc t GROUP BY t.s) x
    WHERE pos_at > 0
$$;

SELECT ok((SELECT count(DISTINCT s) FROM sc) BETWEEN 15 AND 21, 'the scores have many ties');
SELECT cmp_ok(abs((SELECT ecml.roc_auc(s, y) FROM sc) - pg_temp.auc_pairs(NULL)), '<', 1e-12::float8,
              'roc_auc equals the pairwise Mann-Whitney count with ties as 1/2');
SELECT cmp_ok(abs((SELECT ecml.average_precision(s, y) FROM sc) - pg_temp.ap_thresholds()), '<', 1e-12::float8,
              'average_precision equals the sum over tied thresholds of recall gain times precision');
SELECT results_eq(
    $$SELECT g, round(ecml.roc_auc(s, y)::numeric, 12) FROM sc GROUP BY g ORDER BY g$$,
    $$SELECT g, round(pg_temp.auc_pairs(g)::numeric, 12) FROM generate_series(0, 4) g ORDER BY g$$,
    'roc_auc per GROUP BY group equals the pairwise count in each group');
SELECT results_eq(
    $$SELECT g, ecml.roc_auc(s, y), ecml.average_precision(s, y) FROM sc GROUP BY g ORDER BY g$$,
    $$SELECT g, (SELECT ecml.roc_auc(s, y) FROM sc WHERE sc.g = x.g), (SELECT ecml.average_precision(s, y) FROM sc WHERE sc.g = x.g)
      FROM generate_series(0, 4) x(g) ORDER BY g$$,
    'GROUP BY gives each group the value of the group alone');

-- invariances
SELECT is((SELECT ecml.roc_auc(exp(3 * s) - 7, y) FROM sc), (SELECT ecml.roc_auc(s, y) FROM sc),
          'roc_auc only depends on the ranking');
SELECT is((SELECT ecml.average_precision(exp(3 * s) - 7, y) FROM sc), (SELECT ecml.average_precision(s, y) FROM sc),
          'average_precision only depends on the ranking');
SELECT cmp_ok(abs((SELECT ecml.roc_auc(-s, y) + ecml.roc_auc(s, y) FROM sc) - 1), '<', 1e-15::float8,
              'reversing the scores turns AUC into 1 - AUC, ties included');
SELECT is((SELECT ecml.roc_auc(s, NOT y) FROM sc), (SELECT ecml.roc_auc(-s, y) FROM sc),
          'swapping the classes is reversing the scores');
SELECT is((SELECT ecml.roc_auc(s, y) FROM (SELECT s, y FROM sc UNION ALL SELECT s, y FROM sc) d),
          (SELECT ecml.roc_auc(s, y) FROM sc), 'duplicating every row keeps the AUC');
SELECT is((SELECT ecml.roc_auc(s, y) FROM (SELECT s, y FROM sc UNION ALL SELECT NULL, y FROM sc
                                           UNION ALL SELECT s, NULL FROM sc) d),
          (SELECT ecml.roc_auc(s, y) FROM sc), 'rows with a NULL score or label are skipped');

-- perfect, reversed and uninformative rankings
SELECT is((SELECT ecml.roc_auc(i, i > 700) FROM generate_series(1, 2000) i), 1::float8, 'perfect ranking: AUC 1');
SELECT is((SELECT ecml.average_precision(i, i > 700) FROM generate_series(1, 2000) i), 1::float8, 'perfect ranking: AP 1');
SELECT is((SELECT ecml.roc_auc(-i, i > 700) FROM generate_series(1, 2000) i), 0::float8, 'reversed ranking: AUC 0');
SELECT is((SELECT ecml.roc_auc(1, i > 700) FROM generate_series(1, 2000) i), 0.5::float8, 'one score for all: AUC 1/2');
SELECT is((SELECT ecml.average_precision(1, i > 700) FROM generate_series(1, 2000) i), 0.65::float8,
          'one score for all: AP is the share of positives');
SELECT cmp_ok((SELECT abs(ecml.roc_auc(random(), random() < 0.2) - 0.5) FROM generate_series(1, 100000)), '<', 0.02::float8,
              'random scores: AUC near 1/2');
SELECT ok((SELECT ecml.roc_auc(s, true) IS NULL AND ecml.average_precision(s, false) IS NULL
                  AND ecml.average_precision(s, true) = 1 FROM sc),
          'one class: roc_auc NULL; average_precision NULL without positives, 1 without negatives');

-- log loss
CREATE TABLE pr AS
SELECT i, 0.001 + 0.998 * random() AS p, random() < 0.4 AS y FROM generate_series(1, 50000) i;
SELECT cmp_ok(abs((SELECT ecml.log_loss(p, y) FROM pr) - (SELECT avg(-ln(CASE WHEN y THEN p ELSE 1 - p END)) FROM pr)),
              '<', 1e-12::float8, 'log_loss is the mean of -ln(probability of the true label)');
SELECT cmp_ok(abs((SELECT ecml.log_loss(0, true)) - 52 * ln(2)), '<', 1e-12::float8,
              'probability 0 of a true label is clipped to eps = 2^-52');
SELECT ok((SELECT ecml.log_loss(1, true) BETWEEN 0 AND 1e-15), 'probability 1 of a true label costs next to nothing');
SELECT is((SELECT ecml.log_loss(p, y) FROM (SELECT p, y FROM pr UNION ALL SELECT NULL, true UNION ALL SELECT 0.5, NULL) d),
          (SELECT ecml.log_loss(p, y) FROM pr), 'log_loss skips rows with a NULL');

-- parallel aggregation forced: partial aggregates in workers, same results
CREATE TABLE metrics_big AS
SELECT i, i % 3 AS g, (random() < 0.25) AS y, round(random()::numeric, 3)::float8 AS s
FROM generate_series(1, 300000) i;
UPDATE metrics_big SET s = least(1, s + 0.15) WHERE y;
ANALYZE metrics_big;
CREATE TABLE serial AS
SELECT ecml.roc_auc(s, y) AS auc, ecml.average_precision(s, y) AS ap, ecml.log_loss(s, y) AS ll FROM metrics_big;
CREATE TABLE serial_g AS
SELECT g, ecml.roc_auc(s, y) AS auc, ecml.average_precision(s, y) AS ap FROM metrics_big GROUP BY g;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
CREATE TABLE plan AS
SELECT pg_temp.plan_json('SELECT ecml.roc_auc(s, y), ecml.average_precision(s, y), ecml.log_loss(s, y) FROM metrics_big') AS p;
SELECT ok(EXISTS (SELECT 1 FROM plan, jsonb_path_query(p, 'strict $.**."Partial Mode"') m WHERE m = '"Partial"'),
          'the plan has a Partial Aggregate');
SELECT cmp_ok((SELECT max(w::int) FROM plan, jsonb_path_query(p, 'strict $.**."Workers Launched"') w), '>', 0,
              'parallel workers were launched');
SELECT is((SELECT ecml.roc_auc(s, y) FROM metrics_big), (SELECT auc FROM serial), 'parallel roc_auc equals serial');
SELECT is((SELECT ecml.average_precision(s, y) FROM metrics_big), (SELECT ap FROM serial), 'parallel average_precision equals serial');
SELECT cmp_ok((SELECT abs(ecml.log_loss(s, y) - ll) FROM metrics_big, serial GROUP BY ll), '<', 1e-13::float8,
              'parallel log_loss equals serial');
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.plan_json('SELECT g, ecml.roc_auc(s, y), ecml.average_precision(s, y) FROM metrics_big GROUP BY g') p,
                          jsonb_path_query(p, 'strict $.**."Partial Mode"') m WHERE m = '"Partial"'),
          'GROUP BY runs as a partial aggregate too');
SELECT results_eq($$SELECT g, ecml.roc_auc(s, y), ecml.average_precision(s, y) FROM metrics_big GROUP BY g ORDER BY g$$,
                  $$SELECT g, auc, ap FROM serial_g ORDER BY g$$, 'parallel GROUP BY equals serial');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- the hashing trick
CREATE TABLE tok AS SELECT md5(i::text) AS t FROM generate_series(1, 20000) i;
SELECT is((SELECT array_length(ecml.hash_features(array_agg(t), 1000), 1) FROM tok), 1000, 'n columns');
SELECT is((SELECT sum(abs(v)) FROM tok, unnest(ecml.hash_features(ARRAY[t], 64)) v), 20000::float4,
          'one token is one signed unit in one column');
SELECT cmp_ok((SELECT abs(sum(v)) FROM unnest(ecml.hash_features((SELECT array_agg(t) FROM tok), 1048576)) v),
              '<', 600::float4, 'signs are balanced (|sum| within about 4 standard deviations)');
SELECT is((SELECT array_agg(a + b ORDER BY i)
           FROM unnest(ecml.hash_features((SELECT array_agg(t) FROM tok WHERE t < '8'), 256),
                       ecml.hash_features((SELECT array_agg(t) FROM tok WHERE t >= '8'), 256)) WITH ORDINALITY u(a, b, i)),
          ecml.hash_features((SELECT array_agg(t ORDER BY t DESC) FROM tok), 256),
          'hashing is additive over tokens and ignores their order');

-- SQLSTATEs
SELECT throws_ok($$SELECT ecml.roc_auc(s, y) FROM (VALUES ('NaN'::float8, true)) v(s, y)$$, '22000', NULL,
                 'NaN score: data_exception');
SELECT throws_ok($$SELECT ecml.log_loss(p, y) FROM (VALUES (1.01::float8, true)) v(p, y)$$, '22000', NULL,
                 'probability above 1: data_exception');
SELECT throws_ok($$SELECT ecml.hash_features('{a}', 16777217)$$, '22023', NULL, 'n too large: invalid_parameter_value');
SET LOCAL ecml.train_memory_limit = '1MB';
SELECT ok((SELECT ecml.average_precision(s, y) IS NOT NULL FROM metrics_big),
          'a bounded state: average_precision of 300,000 rows under a 1 MB memory limit');
RESET ecml.train_memory_limit;

-- beyond 65,536 distinct scores: within the bound score_summary states,
-- against the exact values computed in SQL (distinct scores, no ties)
CREATE TABLE metrics_wide AS
SELECT i, (hashint4(i) & 1023) < 300 + i % 200 AS y, i * 1e-6 + (hashint4(i * 7) & 255) * 1e-3 AS s
FROM generate_series(1, 200000) i;
CREATE TABLE metrics_wide_exact AS
SELECT (sum(r) FILTER (WHERE y) - p * (p + 1) / 2.0) / (p * (n - p))::float8 AS auc,
       sum(tp::float8 / (n + 1 - r)) FILTER (WHERE y) / p AS ap
FROM (SELECT y, rank() OVER (ORDER BY s) AS r,
             count(*) FILTER (WHERE y) OVER (ORDER BY s DESC) AS tp,
             count(*) OVER () AS n, count(*) FILTER (WHERE y) OVER () AS p
      FROM metrics_wide) q
GROUP BY n, p;
CREATE TABLE metrics_wide_sum AS SELECT ecml.score_summary(s, y) AS j FROM metrics_wide;
SELECT ok((SELECT (j->>'inexact_bins')::int > 0
              AND abs((j->>'roc_auc')::float8 - e.auc) <= (j->>'roc_auc_error_bound')::float8
              AND (j->>'roc_auc_error_bound')::float8 < 1e-3
           FROM metrics_wide_sum, metrics_wide_exact e),
          'roc_auc beyond 65,536 distinct scores: within its stated bound of the exact value');
SELECT ok((SELECT abs((j->>'average_precision')::float8 - e.ap) <= (j->>'average_precision_error_bound')::float8
              AND (j->>'average_precision_error_bound')::float8 < 1e-2
           FROM metrics_wide_sum, metrics_wide_exact e),
          'average_precision beyond 65,536 distinct scores: within its stated bound of the exact value');

SELECT * FROM finish();
ROLLBACK;
