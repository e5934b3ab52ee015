-- Deciding: precision/recall curves and thresholds for a target precision.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- seven scored rows (one tie across the classes) and one with a NULL score
CREATE TABLE prs AS
SELECT * FROM (VALUES (0.9, true), (0.8, false), (0.8, true), (0.5, true),
                      (0.3, false), (0.1, false), (NULL, true), (0.2, NULL)) v(score, label);

-- one point per distinct score, highest first; a tie forms one threshold
SELECT * FROM jsonb_to_recordset((SELECT ecml.pr_curve(score, label) FROM prs))
    AS (threshold float8, precision float8, recall float8, tp int, fp int);
-- the last point selects every row: recall 1, precision the base rate
SELECT ecml.pr_curve(score, label) -> -1 AS last FROM prs;
-- at most max_points points, the lowest threshold always kept
SELECT * FROM jsonb_to_recordset((SELECT ecml.pr_curve(score, label, 3) FROM prs))
    AS (threshold float8, precision float8, recall float8, tp int, fp int);
SELECT jsonb_array_length(ecml.pr_curve(score, label, 2)) AS two,
       ecml.pr_curve(score, label, 100) = ecml.pr_curve(score, label) AS all_points
FROM prs;
-- 1000 distinct scores thinned to 10 evenly spaced ranks
SELECT jsonb_array_length(c) AS points, c -> -1 ->> 'recall' AS last_recall,
       (SELECT array_agg((p ->> 'tp')::int + (p ->> 'fp')::int) FROM jsonb_array_elements(c) p) AS ranks
FROM (SELECT ecml.pr_curve(i / 1000.0, i % 3 = 0, 10) AS c FROM generate_series(1, 1000) i) s;

-- one query with roc_auc, average_precision and pr_curve buffers the rows once
SELECT ecml.roc_auc(score, label) AS auc, ecml.average_precision(score, label) AS ap,
       jsonb_array_length(ecml.pr_curve(score, label)) AS points
FROM prs;

-- the lowest threshold reaching each precision, NULL when none does
SELECT t AS target, ecml.threshold_for_precision(score, label, t) AS threshold
FROM prs, (VALUES (0.1), (0.5), (0.6), (0.7), (0.75), (0.9), (1.0)) x(t)
GROUP BY t ORDER BY t;
-- the threshold works as a rule: the rows it selects have that precision
SELECT count(*) FILTER (WHERE label) AS tp, count(*) AS selected
FROM prs WHERE score >= (SELECT ecml.threshold_for_precision(score, label, 0.7) FROM prs);
-- precision is not monotone: a lower threshold can qualify when a higher one does not
SELECT ecml.threshold_for_precision(s, l, 0.6) AS threshold
FROM (VALUES (4, true), (3, false), (2, false), (1, true), (0.5, true), (0.25, true)) v(s, l);
-- no positives: unreachable
SELECT ecml.threshold_for_precision(score, false, 0.5) IS NULL AS unreachable FROM prs;
-- no positives: the curve has precision 0 and no recall
SELECT ecml.pr_curve(score, false) -> 0 AS first FROM prs;

-- no rows, only NULL rows: NULL
SELECT ecml.pr_curve(score, label) IS NULL AS empty,
       ecml.pr_curve(score, label, 5) IS NULL AS empty_points,
       ecml.threshold_for_precision(score, label, 0.5) IS NULL AS empty_threshold
FROM prs WHERE false;
SELECT ecml.pr_curve(NULL::float8, label) IS NULL AS nulls,
       ecml.threshold_for_precision(score, NULL::boolean, 0.5) IS NULL AS null_labels
FROM prs;
-- infinite scores are thresholds like any other (strings in JSON)
SELECT jsonb_path_query_array(ecml.pr_curve(x, x > 0), '$[*].threshold') AS thresholds,
       ecml.threshold_for_precision(x, x > 0, 1) AS threshold
FROM (VALUES ('Infinity'::float8), ('-Infinity'), (0)) v(x);

-- bad input
SELECT ecml.pr_curve('NaN'::float8, true);
SELECT ecml.threshold_for_precision('NaN'::float8, true, 0.5);
SELECT ecml.threshold_for_precision(score, label, 0) FROM prs;
SELECT ecml.threshold_for_precision(score, label, -0.5) FROM prs;
SELECT ecml.threshold_for_precision(score, label, 1.0000001) FROM prs;
SELECT ecml.threshold_for_precision(score, label, 'NaN') FROM prs;
SELECT ecml.threshold_for_precision(score, label, NULL) FROM prs;
SELECT ecml.threshold_for_precision(score, label, CASE WHEN score > 0.5 THEN 0.9 ELSE 0.8 END) FROM prs;
SELECT ecml.pr_curve(score, label, 1) FROM prs;
SELECT ecml.pr_curve(score, label, 0) FROM prs;
SELECT ecml.pr_curve(score, label, 100000001) FROM prs;
SELECT ecml.pr_curve(score, label, NULL) FROM prs;
SELECT ecml.pr_curve(score, label, (score * 10)::int + 2) FROM prs;
-- the state is bounded (65,536 bins): beyond, thresholds are the lowest
-- scores of bins, each point still exact; the jsonb obeys the memory limit
SET ecml.train_memory_limit = '1MB';
\set VERBOSITY terse
SELECT ecml.pr_curve(i, true) FROM generate_series(1, 200000) i;
\set VERBOSITY default
RESET ecml.train_memory_limit;
SELECT t, t >= 116667 AS at_least_exact, (SELECT avg((i % 4 <> 0 OR i > 150000)::int) FROM generate_series(1, 200000) i WHERE i >= t) >= 0.9 AS reaches
FROM (SELECT ecml.threshold_for_precision(i, i % 4 <> 0 OR i > 150000, 0.9) t FROM generate_series(1, 200000) i) q;
WITH c AS (SELECT ecml.pr_curve(i, i % 3 = 0) c FROM generate_series(1, 200000) i),
     p AS (SELECT * FROM c, jsonb_to_recordset(c) AS x(threshold float8, tp bigint, fp bigint))
SELECT count(*) AS points, count(*) < 200000 AS fewer,
       bool_and(tp = (SELECT count(*) FROM generate_series(1, 200000) i WHERE i >= threshold AND i % 3 = 0)
                AND fp = (SELECT count(*) FROM generate_series(1, 200000) i WHERE i >= threshold AND i % 3 <> 0))
         FILTER (WHERE threshold::int % 997 = 1) AS sampled_points_exact
FROM p;

-- parallel plans give the same answers
CREATE TABLE prbig AS
SELECT i, ((hashint4(i) & 65535) % 997) / 997.0 AS score,
       (hashint4(i * 7 + 1) & 65535) < ((hashint4(i) & 65535) % 997) * 60 AS label
FROM generate_series(1, 100000) i;
ANALYZE prbig;
CREATE TABLE prserial AS
SELECT ecml.pr_curve(score, label) AS c, ecml.pr_curve(score, label, 20) AS c20,
       ecml.threshold_for_precision(score, label, 0.8) AS t
FROM prbig;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- workers only: on a small table the leader might otherwise scan it all
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT ecml.pr_curve(score, label), ecml.threshold_for_precision(score, label, 0.8) FROM prbig;
SELECT p.c = s.c AS same_curve, p.c20 = s.c20 AS same_thinned, p.t = s.t AS same_threshold,
       s.t IS NOT NULL AS reachable
FROM prserial s,
     (SELECT ecml.pr_curve(score, label) AS c, ecml.pr_curve(score, label, 20) AS c20,
             ecml.threshold_for_precision(score, label, 0.8) AS t
      FROM prbig) p;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
-- the session is still usable after every error
SELECT 1 AS still_alive;
