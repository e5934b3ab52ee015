-- Model lifecycle (issue 21): the exact errors of every function's bad
-- inputs, and the happy path of each once (the behaviour is tested in
-- test/pgtap/lifecycle.sql).
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;
CREATE TABLE lc_rows AS
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3), (i % 5)::real]::real[] AS f,
       sin(i * 0.7) + 0.3 * cos(i * 1.3) > 0 AS y
FROM generate_series(1, 400) i;
CREATE TABLE lc_clicks AS
SELECT (i % 17)::bigint AS u, ((i * 7) % 13)::bigint AS item, (1 + i % 3)::real AS v
FROM generate_series(1, 500) i;
CREATE TABLE lc_models AS
SELECT 'logreg' AS kind, ecml.logreg_train(f, y) AS m FROM lc_rows
UNION ALL SELECT 'gbdt', ecml.fraud_train(f, y, '{"n_trees": 3}') FROM lc_rows
UNION ALL SELECT 'iforest', ecml.anomaly_train(f, '{"n_trees": 3, "sample_size": 16}') FROM lc_rows;
RESET client_min_messages;

-- ---- ecml.save_version ----
SELECT ecml.save_version('lc', m) FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": "SELECT f, y FROM lc_rows WHERE i % 4 = 0", "tolerance": 0.01}') FROM lc_models WHERE kind = 'logreg';
SELECT version, live, holdout_metrics->>'rows' AS rows, holdout_metrics ?& ARRAY['auc', 'average_precision', 'log_loss', 'accuracy'] AS metrics
FROM ecml.models WHERE name = 'lc' ORDER BY version;
SELECT ecml.save_version(NULL, m) FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', NULL);
SELECT ecml.save_version('lc', m, '[]') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout_query": "SELECT 1"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": 1}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"promote": "sometimes"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"promote": "if_not_worse"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"tolerance": -0.1}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"tolerance": 2}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"tolerance": "small"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"training_options": [1]}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"training_seconds": -1}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": "SELECT f, y FROM lc_rows", "metric": "rmse"}') FROM lc_models WHERE kind = 'logreg';
-- a held-out query with other columns than the training source
SELECT ecml.save_version('lc', m, '{"holdout": "SELECT f, y, i FROM lc_rows"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": "SELECT f FROM lc_rows"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": "SELECT i, y FROM lc_rows"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": "DELETE FROM lc_rows"}') FROM lc_models WHERE kind = 'logreg';
SELECT ecml.save_version('lc', m, '{"holdout": "SELECT f FROM lc_rows"}') FROM lc_models WHERE kind = 'iforest';
SELECT ecml.save_version('lc', 'not a model'::bytea);
SELECT count(*) AS versions FROM ecml.models WHERE name = 'lc';

-- ---- ecml.evaluate and ecml.query_columns ----
SELECT ecml.evaluate(m, 'SELECT f, y FROM lc_rows WHERE i % 4 = 0') ?& ARRAY['rows', 'auc', 'log_loss'] AS ok
FROM lc_models WHERE kind = 'gbdt';
SELECT ecml.evaluate(NULL, 'SELECT f, y FROM lc_rows');
SELECT ecml.evaluate(m, NULL) FROM lc_models WHERE kind = 'gbdt';
SELECT ecml.evaluate(m, 'SELECT f, y, y FROM lc_rows') FROM lc_models WHERE kind = 'gbdt';
SELECT ecml.evaluate(m, 'SELECT f, y FROM no_such_table') FROM lc_models WHERE kind = 'gbdt';
SELECT ecml.evaluate(m, 'SELECT f FROM lc_rows') FROM lc_models WHERE kind = 'iforest';
SELECT ecml.query_columns('SELECT f, y, i FROM lc_rows');
SELECT ecml.query_columns('SELECT 1; SELECT 2');
SELECT ecml.query_columns('UPDATE lc_rows SET y = true');
SELECT ecml.query_columns('SELEC 1');

-- ---- ecml.model(name, version), ecml.promote, ecml.rollback ----
SELECT md5(ecml.model('lc', 1)) = md5(m) AS same FROM lc_models WHERE kind = 'logreg';
SELECT ecml.model('lc', 0);
SELECT ecml.model('lc', -1);
SELECT ecml.model('lc', 99);
SELECT ecml.model('no such model', 1);
SELECT ecml.model('lc', NULL) IS NULL AS strict;
SELECT ecml.promote('lc', 1);
SELECT version FROM ecml.models WHERE name = 'lc' AND live;
SELECT ecml.promote('lc', 99);
SELECT ecml.promote(NULL, 1);
SELECT ecml.promote('lc', NULL);
SELECT ecml.promote('no such model', 1);
-- a version of another kind is kept, never promoted over the live kind
SELECT ecml.save_version('lc', m, '{"promote": "never"}') FROM lc_models WHERE kind = 'gbdt';
SELECT ecml.promote('lc', 3);
SELECT ecml.rollback('lc');
SELECT ecml.rollback('lc');
SELECT ecml.rollback(NULL);
SELECT ecml.rollback('no such model');
SELECT version, event, from_version, reason FROM ecml.model_history WHERE name = 'lc' ORDER BY at;

-- ---- ecml.tune ----
SELECT rank, training_options, metric, folds, mean > 0.9 AS good, spread >= 0 AS spread
FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.001, 0.1]}', '{"folds": 2}');
SELECT * FROM ecml.tune(NULL, 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}');
SELECT * FROM ecml.tune('logreg', NULL, '{"l2": [0.1]}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', NULL);
SELECT * FROM ecml.tune('svm', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}');
SELECT * FROM ecml.tune('iforest', 'SELECT f FROM lc_rows', '{"n_trees": [3]}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '[]');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"cv": 3}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"folds": 1}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"folds": 2.5}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"folds": 3, "validation_fraction": 0.2}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"validation_fraction": 1}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"search": "bayes"}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"trials": 3}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"search": "random", "trials": 0}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"seed": "x"}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"base": 1}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"save_as": ""}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"tolerance": 0.1}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"metric": "rmse"}');
SELECT * FROM ecml.tune('mf', 'SELECT u, item, v FROM lc_clicks', '{"factors": [2]}', '{"metric": "auc"}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"materialize": "yes"}');
-- a read-only transaction cannot hold the temporary table: by default each
-- fold then reruns the source; asking for it is an error
BEGIN READ ONLY;
SELECT rank, training_options FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"folds": 2}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [0.1]}', '{"materialize": true}');
ROLLBACK;
-- a grid with unknown options or no values
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '[0.1]');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": []}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": 0.1}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": ["x"]}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"no_such_option": [1, 2]}', '{"folds": 2}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows', '{"l2": [-1]}', '{"folds": 2}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y, i FROM lc_rows', '{"l2": [0.1]}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM no_such_table', '{"l2": [0.1]}');
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_rows',
                        (SELECT jsonb_object_agg('k' || k, '[1, 2]'::jsonb) FROM generate_series(1, 14) k));

-- ---- ecml.train's lifecycle options ----
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"holdout": "SELECT f, y FROM lc_rows"}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "holdout": "SELECT f, y FROM lc_rows", "validation_fraction": 0.2}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "holdout": "SELECT f, y, i FROM lc_rows"}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "holdout": "SELECT i, y FROM lc_rows"}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "holdout": ""}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "validation_fraction": 0.9}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "tolerance": 3}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "promote": "maybe"}');
SELECT ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "metric": 1}');
SELECT length(ecml.train('logreg', 'SELECT f, y FROM lc_rows', '{"save_as": "lc_t", "validation_fraction": 0.25, "l2": 0.01}')) > 0 AS trained;
SELECT version, live, options, holdout_metrics->>'rows' AS held_out_rows, training_seconds >= 0 AS timed
FROM ecml.models WHERE name = 'lc_t';

DELETE FROM ecml.models WHERE name IN ('lc', 'lc_t');
DROP TABLE lc_rows, lc_clicks, lc_models;
