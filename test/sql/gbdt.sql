-- Fraud scoring: gradient-boosted decision trees.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- deterministic payments: fraud when the amount is high at night, or the
-- device is new and the country does not match; x4 is noise, x5 is missing
-- (NULL or NaN) for a fifth of the rows and then marks fraud more often
CREATE TABLE pay AS
SELECT i,
       ARRAY[amount, hour, device_age, noise,
             CASE WHEN i % 10 = 3 THEN NULL WHEN i % 10 = 7 THEN 'NaN' ELSE x5 END]::real[] AS f,
       (amount > 0.7 AND (hour < 0.25 OR hour > 0.9))
       OR (device_age < 0.15 AND noise2 > 0.3)
       OR (i % 10 IN (3, 7) AND noise2 > 0.85) AS fraud
FROM (SELECT i,
             abs(sin(i * 0.7123)) AS amount, abs(sin(i * 1.3717)) AS hour,
             abs(sin(i * 2.9113)) AS device_age, abs(sin(i * 5.1939)) AS noise,
             abs(sin(i * 7.7771)) AS noise2, abs(sin(i * 3.3331)) AS x5
      FROM generate_series(1, 4000) i) s;
SELECT count(*) AS rows, sum(fraud::int) AS frauds FROM pay;

CREATE TABLE gb AS
SELECT ecml.fraud_train(f, fraud, '{"feature_names": ["amount", "hour", "device_age", "noise", "x5"], "n_trees": 60, "learning_rate": 0.3, "max_depth": 4}') AS m
FROM pay WHERE i % 4 <> 0;

SELECT i->>'kind' AS kind, i->'features' AS features, i->'trees' AS trees, i->'rows' AS rows,
       i->'training_rows' AS training_rows, i->'validation_rows' AS validation_rows,
       (i->>'nodes')::int BETWEEN 60 * 3 AND 60 * 31 AS nodes_in_range,
       i->'feature_names' AS names, i->'hyperparameters'->'max_depth' AS max_depth,
       i->'metrics'->'iterations' AS iterations, i->'metrics'->'stopped_early' AS stopped_early,
       (i->'metrics'->>'train_log_loss')::float8 < 0.2 AS fits
FROM gb, ecml.model_info(m) AS i;

-- held-out quality, scores in [0, 1]
SELECT min(p) >= 0 AND max(p) <= 1 AS in_range,
       ecml.roc_auc(p, fraud) > 0.98 AS auc_ok,
       ecml.average_precision(p, fraud) > 0.9 AS ap_ok
FROM (SELECT ecml.fraud_score(m, f) AS p, fraud FROM pay, gb WHERE i % 4 = 0) s;
-- the planted pattern scores high, the safe pattern low
SELECT ecml.fraud_score(m, '{0.95, 0.1, 0.5, 0.5, 0.5}') > 0.9 AS night_amount,
       ecml.fraud_score(m, '{0.2, 0.5, 0.6, 0.5, 0.5}') < 0.1 AS ordinary
FROM gb;
-- missing values: NULL and NaN elements are the same thing
SELECT ecml.fraud_score(m, '{0.2, 0.5, 0.6, 0.5, NULL}') = ecml.fraud_score(m, '{0.2, 0.5, 0.6, 0.5, NaN}') AS null_is_nan,
       ecml.fraud_score(m, '{NULL, NULL, NULL, NULL, NULL}') BETWEEN 0 AND 1 AS all_missing_scores
FROM gb;

-- importance: every feature, largest gain first; the noise feature is last or close to it
SELECT feature, gain > 0 AS has_gain, splits > 0 AS has_splits,
       rank() OVER (ORDER BY gain DESC) <= 3 AS top3
FROM ecml.fraud_feature_importance((SELECT m FROM gb)) ORDER BY feature;
SELECT array_agg(feature) AS top_two FROM (SELECT feature FROM ecml.fraud_feature_importance((SELECT m FROM gb)) LIMIT 2) s;
SELECT sum(splits) = ((SELECT (ecml.model_info(m)->>'nodes')::int FROM gb) - 60) / 2 AS splits_count_internal_nodes
FROM ecml.fraud_feature_importance((SELECT m FROM gb));

-- 0.1.0's name feature_importance is a deprecated alias: the same rows
SELECT (SELECT array_agg(x ORDER BY x::text) FROM ecml.feature_importance((SELECT m FROM gb)) x)
     = (SELECT array_agg(x ORDER BY x::text) FROM ecml.fraud_feature_importance((SELECT m FROM gb)) x) AS same_rows,
       obj_description('ecml.feature_importance(bytea)'::regprocedure, 'pg_proc') AS deprecated_comment;

-- explanations: the shape, additivity and k
SELECT jsonb_object_keys(ecml.fraud_explain(m, '{0.95, 0.1, 0.5, 0.5, NULL}')) AS key FROM gb ORDER BY 1;
SELECT jsonb_object_keys(ecml.fraud_explain(m, '{0.95, 0.1, 0.5, 0.5, NULL}')->'contributions') AS feature FROM gb ORDER BY 1;
SELECT max(abs((e->>'base_value')::float8 + c - (e->>'margin')::float8)) < 1e-9 AS additive,
       max(abs((e->>'margin')::float8 - ln(p / (1 - p)))) < 1e-9 AS margin_is_logit
FROM (SELECT e, p, (SELECT sum(value::float8) FROM jsonb_each_text(e->'contributions')) AS c
      FROM (SELECT ecml.fraud_explain(m, f) AS e, ecml.fraud_score(m, f) AS p FROM pay, gb WHERE i <= 200) s) t;
-- the high-amount night payment is explained by amount and hour
SELECT array_agg(k ORDER BY k) AS top_two
FROM gb, jsonb_object_keys(ecml.fraud_explain(m, '{0.95, 0.1, 0.5, 0.5, 0.5}', 2)->'contributions') k;
SELECT (SELECT count(*) FROM jsonb_object_keys(ecml.fraud_explain(m, '{0.95, 0.1, 0.5, 0.5, 0.5}', 1000)->'contributions')) AS huge_k_keeps_all
FROM gb;
-- the count is named k, as in every function that returns the best k
SELECT ecml.fraud_explain(m, '{0.95, 0.1, 0.5, 0.5, 0.5}', k => 2)
     = ecml.fraud_explain(m, '{0.95, 0.1, 0.5, 0.5, 0.5}', 2) AS k_by_name
FROM gb;

-- every option is accepted and recorded
SELECT ecml.model_info(ecml.fraud_train(f, fraud,
    '{"n_trees": 5, "learning_rate": 0.2, "max_depth": 3, "max_leaves": 6, "max_bins": 32,
      "min_child_weight": 2, "l2": 0.5, "min_split_gain": 0.01, "subsample": 0.8, "colsample": 0.6,
      "scale_pos_weight": 3, "validation_fraction": 0.1, "early_stopping_rounds": 3, "seed": 7}'))->'hyperparameters'
FROM pay;
SELECT i->'class_weights' AS weights, i->'max_bins_used' AS bins
FROM (SELECT ecml.model_info(ecml.fraud_train(f, fraud, '{"n_trees": 2, "scale_pos_weight": 3.5, "max_bins": 16}')) AS i FROM pay) s;
SELECT abs((i->'class_weights'->>'true')::float8 * (SELECT sum(fraud::int) FROM pay)
           - (i->'class_weights'->>'false')::float8 * (SELECT sum((NOT fraud)::int) FROM pay)) < 1e-9 AS balanced
FROM (SELECT ecml.model_info(ecml.fraud_train(f, fraud, '{"n_trees": 2, "class_weight": "balanced"}')) AS i FROM pay) s;
-- more than 256 bins: two bytes per value, same quality
SELECT (i->>'max_bins_used')::int > 256 AS wide_bins
FROM (SELECT ecml.model_info(ecml.fraud_train(f, fraud, '{"n_trees": 2, "max_bins": 1000}')) AS i FROM pay) s;
SELECT ecml.roc_auc(ecml.fraud_score(m, f), fraud) > 0.98 AS wide_auc_ok
FROM pay, (SELECT ecml.fraud_train(f, fraud, '{"n_trees": 60, "learning_rate": 0.3, "max_depth": 4, "max_bins": 1000}') AS m
           FROM pay WHERE i % 4 <> 0) w
WHERE i % 4 = 0;
-- depth 1 grows stumps; a leaf budget bounds the nodes
SELECT ecml.model_info(ecml.fraud_train(f, fraud, '{"n_trees": 10, "max_depth": 1}'))->'nodes' AS stump_nodes FROM pay;
SELECT (ecml.model_info(ecml.fraud_train(f, fraud, '{"n_trees": 10, "max_depth": 8, "max_leaves": 4}'))->>'nodes')::int <= 10 * 7 AS leaf_budget
FROM pay;
-- a huge min_split_gain leaves every tree a single leaf: the score is the base rate
SELECT abs(ecml.fraud_score((SELECT ecml.fraud_train(f, fraud, '{"n_trees": 3, "min_split_gain": 1e9, "learning_rate": 1}') FROM pay),
                            '{0.95, 0.1, 0.5, 0.5, 0.5}') - (SELECT avg(fraud::int) FROM pay)) < 1e-6 AS base_rate;
-- early stopping: a validation split stops once the loss stops improving and keeps the best trees
SELECT i->'metrics'->'stopped_early' AS stopped_early,
       (i->>'trees')::int = (i->'metrics'->>'best_iteration')::int AS keeps_best,
       (i->'metrics'->>'iterations')::int = (i->>'trees')::int + 5 AS five_more_grown,
       (i->>'validation_rows')::int BETWEEN 600 AND 1000 AS validation_rows
FROM (SELECT ecml.model_info(ecml.fraud_train(f, fraud,
        '{"n_trees": 1000, "learning_rate": 1, "max_depth": 6, "min_child_weight": 0, "l2": 0, "validation_fraction": 0.2, "early_stopping_rounds": 5}')) AS i
      FROM pay) s;
-- determinism: the same rows and seed score the same
SELECT count(*) FILTER (WHERE ecml.fraud_score(a.m, f) <> ecml.fraud_score(b.m, f)) AS differences
FROM pay,
     (SELECT ecml.fraud_train(f, fraud, '{"n_trees": 10, "subsample": 0.7, "colsample": 0.6, "seed": 3}') AS m FROM pay) a,
     (SELECT ecml.fraud_train(f, fraud, '{"n_trees": 10, "subsample": 0.7, "colsample": 0.6, "seed": 3}') AS m FROM pay) b;
-- progress reporting runs (its NOTICE text carries timings)
SET ecml.progress = on;
SELECT length(ecml.fraud_train(f, fraud, '{"n_trees": 2}')) > 0 AS trained FROM pay;
RESET ecml.progress;

-- GROUP BY: one model per group
SELECT i % 2 AS grp, ecml.model_info(ecml.fraud_train(f, fraud, '{"n_trees": 2}'))->'rows' AS rows
FROM pay GROUP BY 1 ORDER BY 1;
-- rows with a NULL feature vector or label are skipped and counted
SELECT i->'rows' AS rows, i->'rows_skipped' AS skipped
FROM (SELECT ecml.model_info(ecml.fraud_train(CASE WHEN i % 10 = 0 THEN NULL ELSE f END,
                                              CASE WHEN i % 7 = 0 THEN NULL ELSE fraud END,
                                              '{"n_trees": 2}')) AS i
      FROM pay) s;
-- a constant feature is never split on, the others still are
SELECT feature, splits FROM ecml.fraud_feature_importance(
    (SELECT ecml.fraud_train(ARRAY[1, f[1], f[2]]::real[], fraud, '{"n_trees": 5}') FROM pay))
ORDER BY feature;

-- bad input: each a clear error
SELECT ecml.fraud_train(f, fraud) FROM pay WHERE false;
SELECT ecml.fraud_train(NULL::real[], fraud) FROM pay;
SELECT ecml.fraud_train(f, true) FROM pay;
SELECT ecml.fraud_train(f, false) FROM pay;
SELECT ecml.fraud_train('{1, 2, 3}'::real[], fraud) FROM pay;
SELECT ecml.fraud_train(ARRAY[1, 'NaN']::real[], fraud) FROM pay;
SELECT ecml.fraud_train(CASE WHEN i = 5 THEN '{1, 2}'::real[] ELSE f END, fraud) FROM pay;
SELECT ecml.fraud_train(CASE WHEN i = 5 THEN '{}'::real[] ELSE f END, fraud) FROM pay;
SELECT ecml.fraud_train(CASE WHEN i = 5 THEN '{{1, 2, 3, 4, 5}}'::real[] ELSE f END, fraud) FROM pay;
SELECT ecml.fraud_train(CASE WHEN i = 5 THEN '{1, 2, Infinity, 4, 5}'::real[] ELSE f END, fraud) FROM pay;
SELECT ecml.fraud_train(array_fill(1::real, ARRAY[10001]), fraud) FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"n_trees": 0}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"learning_rate": 0}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"max_depth": 17}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"max_bins": 2}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"max_leaves": 1}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"subsample": 0}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"colsample": 1.5}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"min_child_weight": -1}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"l2": "big"}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"validation_fraction": 0.6}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"early_stopping_rounds": 2.5}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"seed": -1}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"class_weight": "heavy"}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"class_weight": "balanced", "scale_pos_weight": 10}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"trees": 10}') FROM pay;
-- the only fraud row falls into the validation share (seed 2 sends it there)
SELECT ecml.fraud_train(f, i = 7, '{"validation_fraction": 0.5, "seed": 2}') FROM pay WHERE i <= 40;
SELECT ecml.fraud_train(f, fraud, '{"feature_names": ["a", "b"]}') FROM pay;
SELECT ecml.fraud_train(f, fraud, '{"feature_names": ["a", "b", "c", "d", "a"]}') FROM pay;

-- scoring errors
SELECT ecml.fraud_score(m, '{1, 2, 3, 4}') FROM gb;
SELECT ecml.fraud_score(m, '{1, 2, 3, 4, 5, 6}') FROM gb;
SELECT ecml.fraud_score(m, '{1, 2, -Infinity, 4, 5}') FROM gb;
SELECT ecml.fraud_score(m, '{{1, 2, 3, 4, 5}}') FROM gb;
SELECT ecml.fraud_score(m, NULL) IS NULL AS strict FROM gb;
SELECT ecml.fraud_explain(m, '{1, 2, 3, 4}') FROM gb;
SELECT ecml.fraud_explain(m, '{1, 2, 3, 4, 5}', 0) FROM gb;
SELECT ecml.fraud_explain(m, '{1, 2, 3, 4, 5}', -3) FROM gb;
SELECT ecml.fraud_explain(m, '{1, 2, 3, 4, 5}', NULL) IS NULL AS strict FROM gb;
SELECT ecml.fraud_explain(m, '{1, 2, 3, 4, 5}', k => 0) FROM gb;
SELECT ecml.fraud_explain(m, '{1, 2, 3, 4, 5}', top => 2) FROM gb;
-- a model of another kind
SELECT ecml.fraud_score(ecml.logreg_train(f[1:4], fraud), '{1, 2, 3, 4}') FROM pay;
SELECT * FROM ecml.fraud_feature_importance((SELECT ecml.logreg_train(f[1:4], fraud) FROM pay));
SELECT * FROM ecml.feature_importance((SELECT ecml.logreg_train(f[1:4], fraud) FROM pay));
-- corrupted and truncated models
SELECT ecml.fraud_score('\x0102'::bytea, '{1, 2, 3, 4, 5}');
\set VERBOSITY terse
SELECT ecml.fraud_score(substring(m FROM 1 FOR 100), '{1, 2, 3, 4, 5}') FROM gb;
SELECT ecml.fraud_score(overlay(m PLACING '\xff' FROM 40), '{1, 2, 3, 4, 5}') FROM gb;
SELECT ecml.fraud_explain(set_byte(m, length(m) - 20, get_byte(m, length(m) - 20) # 1), '{1, 2, 3, 4, 5}') FROM gb;
SELECT * FROM ecml.fraud_feature_importance((SELECT set_byte(m, 200, get_byte(m, 200) # 1) FROM gb));
\set VERBOSITY default
-- the session is still usable after every error
SELECT 1 AS still_alive;
