-- Anomaly scoring: isolation forest.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;
-- serial plans: the tests below compare models across runs
SET max_parallel_workers_per_gather = 0;

-- deterministic data: 1990 rows in a 3-d blob, 10 planted far away
CREATE TABLE ifd AS
SELECT i, i > 1990 AS planted,
       CASE WHEN i > 1990
            THEN ARRAY[6 + sin(i), -6 + cos(i), 5 * sin(i * 3.1)]
            ELSE ARRAY[sin(i * 0.37) + sin(i * 1.3), cos(i * 0.91) + cos(i * 2.9),
                       sin(i * 2.17) * cos(i * 0.5)]
       END::real[] AS f
FROM generate_series(1, 2000) i;

CREATE TABLE if_model AS
SELECT ecml.anomaly_train(f, '{"seed": 7}') AS m FROM ifd;

SELECT i->>'kind' AS kind, i->'features' AS features, i->'rows' AS rows,
       i->'rows_skipped' AS skipped, i->'trees' AS trees, i->'sample_size' AS sample_size,
       i->'height_limit' AS height_limit, i->'features_per_tree' AS per_tree,
       round((i->>'normalizer')::numeric, 6) AS c_psi,
       (i->'metrics'->>'splits')::int > 100 * 50 AS many_splits,
       i->'hyperparameters' AS hyperparameters
FROM if_model, ecml.model_info(m) AS i;

-- scores lie in (0, 1]; the planted rows score highest, the blob around 0.4
SELECT min(s) > 0 AND max(s) <= 1 AS in_range,
       min(s) FILTER (WHERE planted) > max(s) FILTER (WHERE NOT planted) AS planted_on_top,
       min(s) FILTER (WHERE planted) > 0.6 AS planted_high,
       avg(s) FILTER (WHERE NOT planted) < 0.5 AS blob_low,
       ecml.roc_auc(s, planted) AS auc
FROM (SELECT ecml.anomaly_score(m, f) AS s, planted FROM ifd, if_model) x;
-- a point far outside the data is isolated at the root of most trees
SELECT ecml.anomaly_score(m, '{100, 100, 100}') > 0.7 AS far_is_anomalous,
       ecml.anomaly_score(m, '{0, 0, 0}') < 0.5 AS centre_is_normal
FROM if_model;

-- the same seed and rows give the same forest; another seed another one
SELECT bool_and(ecml.anomaly_score(a.m, f) = ecml.anomaly_score(b.m, f)) AS same_seed_same_scores
FROM ifd, if_model a, (SELECT ecml.anomaly_train(f, '{"seed": 7}') AS m FROM ifd) b;
SELECT bool_and(ecml.anomaly_score(a.m, f) = ecml.anomaly_score(b.m, f)) AS other_seed_same_scores
FROM ifd, if_model a, (SELECT ecml.anomaly_train(f, '{"seed": 8}') AS m FROM ifd) b;

-- every option is accepted and recorded; the two-argument form has the defaults
SELECT i->'trees' AS trees, i->'sample_size' AS sample_size, i->'height_limit' AS height_limit,
       i->'features_per_tree' AS per_tree, i->'hyperparameters' AS hyperparameters
FROM (SELECT ecml.model_info(ecml.anomaly_train(f,
        '{"n_trees": 10, "sample_size": 64, "seed": 123, "max_features": 0.5}')) AS i FROM ifd) s;
SELECT ecml.model_info(ecml.anomaly_train(f))->'hyperparameters' AS defaults FROM ifd;
-- NULL options are the defaults too
SELECT ecml.model_info(ecml.anomaly_train(f, NULL))->'trees' AS trees FROM ifd;
-- a sample larger than the table: every tree takes every row
SELECT i->'sample_size' AS sample_size, i->'height_limit' AS height_limit
FROM (SELECT ecml.model_info(ecml.anomaly_train(f, '{"sample_size": 5000, "n_trees": 3}')) AS i FROM ifd) s;
-- two rows are enough: one split per tree
SELECT i->'nodes' AS nodes, i->'height_limit' AS height_limit
FROM (SELECT ecml.model_info(ecml.anomaly_train(f, '{"n_trees": 4}')) AS i
      FROM ifd WHERE i <= 2) s;
-- a constant feature is never split on; the others still isolate
SELECT ecml.anomaly_score(m, '{50, 1, 0}') > ecml.anomaly_score(m, '{0, 1, 0}') + 0.1 AS isolated,
       ecml.anomaly_score(m, '{50, 1, 0}') = ecml.anomaly_score(m, '{50, -7, 0}') AS constant_ignored
FROM (SELECT ecml.anomaly_train(ARRAY[f[1], 1, f[2]]::real[], '{"seed": 1}') AS m FROM ifd) s;

-- GROUP BY trains one forest per group; NULL rows are skipped and counted
SELECT i % 2 AS grp, ecml.model_info(ecml.anomaly_train(f, '{"n_trees": 5}'))->'rows' AS rows
FROM ifd GROUP BY i % 2 ORDER BY 1;
SELECT i->'rows' AS rows, i->'rows_skipped' AS skipped
FROM (SELECT ecml.model_info(ecml.anomaly_train(CASE WHEN i % 10 = 0 THEN NULL ELSE f END,
                                                '{"n_trees": 5}')) AS i FROM ifd) s;

-- bad training input
SELECT ecml.anomaly_train(f) FROM ifd WHERE false;
SELECT ecml.anomaly_train(NULL::real[]) FROM ifd;
SELECT ecml.anomaly_train(f) FROM ifd WHERE i = 1;
SELECT ecml.anomaly_train(CASE WHEN i = 5 THEN '{1, NULL, 3}'::real[] ELSE f END) FROM ifd;
SELECT ecml.anomaly_train(CASE WHEN i = 5 THEN '{1, NaN, 3}'::real[] ELSE f END) FROM ifd;
SELECT ecml.anomaly_train(CASE WHEN i = 5 THEN '{1, 2, Infinity}'::real[] ELSE f END) FROM ifd;
SELECT ecml.anomaly_train(CASE WHEN i = 5 THEN '{1, 2}'::real[] ELSE f END) FROM ifd;
SELECT ecml.anomaly_train(CASE WHEN i = 5 THEN '{}'::real[] ELSE f END) FROM ifd;
SELECT ecml.anomaly_train(CASE WHEN i = 5 THEN '{{1, 2, 3}}'::real[] ELSE f END) FROM ifd;
SELECT ecml.anomaly_train('{1, 2, 3}'::real[]) FROM ifd;
SELECT ecml.anomaly_train(f, '{"trees": 10}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"n_trees": 0}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"n_trees": 10001}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"n_trees": 2.5}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"n_trees": "many"}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"sample_size": 1}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"sample_size": 2000000}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"seed": -1}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"max_features": 0}') FROM ifd;
SELECT ecml.anomaly_train(f, '{"max_features": 1.5}') FROM ifd;
-- the training sample is bounded by ecml.train_memory_limit
SET ecml.train_memory_limit = '1MB';
\set VERBOSITY terse
SELECT ecml.anomaly_train(f, '{"n_trees": 1000, "sample_size": 1000}') FROM ifd;
\set VERBOSITY default
RESET ecml.train_memory_limit;

-- bad scoring input
SELECT ecml.anomaly_score(m, '{1, 2}') FROM if_model;
SELECT ecml.anomaly_score(m, '{1, 2, 3, 4}') FROM if_model;
SELECT ecml.anomaly_score(m, '{}') FROM if_model;
SELECT ecml.anomaly_score(m, '{1, NULL, 3}') FROM if_model;
SELECT ecml.anomaly_score(m, '{1, NaN, 3}') FROM if_model;
SELECT ecml.anomaly_score(m, '{1, -Infinity, 3}') FROM if_model;
SELECT ecml.anomaly_score(m, '{{1, 2, 3}}') FROM if_model;
SELECT ecml.anomaly_score(m, NULL) IS NULL AS strict FROM if_model;
SELECT ecml.anomaly_score(NULL, '{1, 2, 3}') IS NULL AS strict;
-- a model of another kind, garbage, a truncated and a corrupted model
SELECT ecml.anomaly_score((SELECT ecml.logreg_train(f, planted) FROM ifd), '{1, 2, 3}');
SELECT ecml.anomaly_score('\x0102'::bytea, '{1, 2, 3}');
\set VERBOSITY terse
SELECT ecml.anomaly_score(substring(m FROM 1 FOR 100), '{1, 2, 3}') FROM if_model;
\set VERBOSITY default
SELECT ecml.anomaly_score(overlay(m PLACING '\xff' FROM 200), '{1, 2, 3}') FROM if_model;
SELECT ecml.anomaly_score(set_byte(m, length(m) - 20, get_byte(m, length(m) - 20) # 1), '{1, 2, 3}') FROM if_model;
-- the session is still usable after every error
SELECT 1 AS still_alive;
