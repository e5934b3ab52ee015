-- Precision/recall curves and thresholds against brute-force SQL, against
-- average_precision, under parallel plans.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(14);

-- 20k rows, scores rounded to 3 decimals (many ties across classes), the
-- label more likely at higher scores, some NULL scores and labels
SELECT setseed(0.17);
CREATE TABLE sl AS
SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE round(x::numeric, 3)::float8 END AS score,
       CASE WHEN i % 89 = 0 THEN NULL ELSE random() < x * x END AS label
FROM (SELECT i, random() AS x FROM generate_series(1, 20000) i) s;
ANALYZE sl;

CREATE TABLE curve AS
SELECT * FROM jsonb_to_recordset((SELECT ecml.pr_curve(score, label) FROM sl))
    AS (threshold float8, precision float8, recall float8, tp bigint, fp bigint);
-- the same by brute force: for each distinct score t, the rows with score >= t
CREATE TABLE brute AS
WITH r AS (SELECT score, label FROM sl WHERE score IS NOT NULL AND label IS NOT NULL),
     t AS (SELECT DISTINCT score AS threshold FROM r)
SELECT threshold,
       count(*) FILTER (WHERE label AND score >= threshold) AS tp,
       count(*) FILTER (WHERE NOT label AND score >= threshold) AS fp,
       (SELECT count(*) FROM r WHERE label) AS p
FROM t, r GROUP BY threshold;

SELECT is((SELECT count(*) FROM curve), (SELECT count(*) FROM brute), 'one point per distinct score');
SELECT is((SELECT count(*) FROM curve c FULL JOIN brute b USING (threshold)
           WHERE c.tp IS DISTINCT FROM b.tp OR c.fp IS DISTINCT FROM b.fp
              OR c.precision IS DISTINCT FROM b.tp::float8 / (b.tp + b.fp)
              OR c.recall IS DISTINCT FROM b.tp::float8 / b.p),
          0::bigint, 'every point equals the brute-force counts, precision and recall');
SELECT ok((SELECT bool_and(d) FROM (SELECT threshold < lag(threshold) OVER (ORDER BY o) AS d
                                    FROM jsonb_array_elements((SELECT ecml.pr_curve(score, label) FROM sl))
                                         WITH ORDINALITY e(p, o),
                                         LATERAL (SELECT (p->>'threshold')::float8 AS threshold) t) s
           WHERE d IS NOT NULL),
          'thresholds strictly descending');

-- average precision from the curve: sum of (recall gained) x precision
SELECT cmp_ok((SELECT abs(sum((recall - coalesce(prev, 0)) * precision)
                          - (SELECT ecml.average_precision(score, label) FROM sl))
               FROM (SELECT recall, precision, lag(recall) OVER (ORDER BY threshold DESC) AS prev FROM curve) s),
              '<', 1e-12::float8, 'the curve integrates to ecml.average_precision');

-- thresholds for several targets equal the brute-force minimum
CREATE TABLE targets AS SELECT unnest(ARRAY[0.05, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]) AS target;
SELECT is((SELECT count(*) FROM targets
           WHERE (SELECT ecml.threshold_for_precision(score, label, target) FROM sl)
                 IS DISTINCT FROM
                 (SELECT min(threshold) FROM brute WHERE tp::float8 / (tp + fp) >= target)),
          0::bigint, 'threshold_for_precision equals the brute-force lowest qualifying threshold');
SELECT ok((SELECT count(*) FROM targets
           WHERE (SELECT ecml.threshold_for_precision(score, label, target) FROM sl) IS NOT NULL) >= 5,
          'most targets are reachable here (the test means something)');
SELECT ok((SELECT bool_and(p >= target)
           FROM targets,
                LATERAL (SELECT ecml.threshold_for_precision(score, label, target) AS t FROM sl) t,
                LATERAL (SELECT avg(label::int) AS p FROM sl
                         WHERE score >= t.t AND label IS NOT NULL) q
           WHERE t.t IS NOT NULL),
          'WHERE score >= threshold reaches the target precision');

-- max_points: a subset of the exact points, at most max_points, lowest threshold kept
CREATE TABLE thin AS
SELECT * FROM jsonb_to_recordset((SELECT ecml.pr_curve(score, label, 25) FROM sl))
    AS (threshold float8, precision float8, recall float8, tp bigint, fp bigint);
SELECT ok((SELECT count(*) BETWEEN 20 AND 25 FROM thin), 'max_points 25 gives 20 to 25 points');
SELECT is((SELECT count(*) FROM thin t JOIN curve c USING (threshold, precision, recall, tp, fp)),
          (SELECT count(*) FROM thin), 'thinned points are exact points of the curve');
SELECT is((SELECT min(threshold) FROM thin), (SELECT min(threshold) FROM curve), 'the lowest threshold is kept');

-- parallel plans: the same curve and thresholds
CREATE TABLE serial AS
SELECT ecml.pr_curve(score, label) AS c, ecml.pr_curve(score, label, 25) AS c25,
       ecml.threshold_for_precision(score, label, 0.8) AS t
FROM sl;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
CREATE TABLE par AS
SELECT ecml.pr_curve(score, label) AS c, ecml.pr_curve(score, label, 25) AS c25,
       ecml.threshold_for_precision(score, label, 0.8) AS t
FROM sl;
SELECT ok((SELECT p.c = s.c FROM par p, serial s), 'parallel pr_curve equals serial');
SELECT ok((SELECT p.c25 = s.c25 FROM par p, serial s), 'parallel pr_curve with max_points equals serial');
SELECT ok((SELECT p.t = s.t FROM par p, serial s), 'parallel threshold_for_precision equals serial');
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;

SELECT throws_ok($$SELECT ecml.threshold_for_precision(score, label, 1.5) FROM sl$$, '22023', NULL,
                 'target out of range: invalid_parameter_value');

SELECT * FROM finish();
ROLLBACK;
