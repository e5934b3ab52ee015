-- ecml.train: the multi-pass driver, its checks and the logreg pass aggregate
\set VERBOSITY terse
CREATE TABLE tr (i int, f real[], y boolean);
INSERT INTO tr SELECT i, ARRAY[sin(i), cos(i * 0.7), (i % 5) - 2]::real[],
       sin(i * 1.3) + 0.5 * sin(i) > 0
FROM generate_series(1, 400) i;
INSERT INTO tr VALUES (401, NULL, true), (402, '{1,2,3}', NULL);

-- a model every logreg scoring function reads, with its passes recorded
SELECT ecml.model_info(m)->>'kind' AS kind,
       (ecml.model_info(m)->'rows')::int AS rows,
       (ecml.model_info(m)->'rows_skipped')::int AS skipped,
       (ecml.model_info(m)->'metrics'->>'passes')::int > 2 AS several_passes,
       jsonb_array_length(ecml.model_info(m)->'metrics'->'pass_history') = (ecml.model_info(m)->'metrics'->>'passes')::int AS history,
       ecml.model_info(m)->'metrics'->'pass_history'->0->>'what' AS first_pass,
       abs(ecml.logreg_predict(m, '{0.5,0.5,1}') -
           ecml.logreg_predict((SELECT ecml.logreg_train(f, y) FROM tr), '{0.5,0.5,1}')) < 1e-5 AS same_as_aggregate
FROM (SELECT ecml.train('logreg', 'SELECT f, y FROM tr') AS m) s;

-- implicit casts of the columns, a trailing semicolon and comment
SELECT length(ecml.train('logreg', 'SELECT ARRAY[i, i % 7], i % 3 = 0 FROM generate_series(1, 50) i; -- rows')) > 0 AS ok;

-- save_as stores the model
SELECT length(ecml.train('logreg', 'SELECT f, y FROM tr', '{"save_as": "tr_model", "l2": 0.01}')) > 0 AS ok;
SELECT name, kind, rows FROM ecml.models WHERE name = 'tr_model';
SELECT (ecml.model_info(ecml.model('tr_model'))->'hyperparameters'->>'l2')::float8 AS l2;

-- bad input
SELECT ecml.train(NULL, 'SELECT f, y FROM tr');
SELECT ecml.train('logreg', NULL);
SELECT ecml.train('nope', 'SELECT f, y FROM tr');
SELECT ecml.train('vectors', 'SELECT i, f FROM tr');
SELECT ecml.train('logreg', '');
SELECT ecml.train('logreg', 'SELEC f FROM tr');
SELECT ecml.train('logreg', 'DELETE FROM tr');
SELECT ecml.train('logreg', 'SELECT 1; SELECT 2');
SELECT ecml.train('logreg', 'SELECT f FROM tr');
SELECT ecml.train('logreg', 'SELECT f, y, i FROM tr');
SELECT ecml.train('logreg', 'SELECT f, i FROM tr');
SELECT ecml.train('logreg', 'SELECT y, f FROM tr');
SELECT ecml.train('logreg', 'SELECT f, y FROM no_such_table');
SELECT ecml.train('logreg', 'SELECT f, y FROM tr WHERE false');
SELECT ecml.train('logreg', 'SELECT f, y FROM tr WHERE y');
SELECT ecml.train('logreg', 'SELECT f, y FROM tr', '[1]');
SELECT ecml.train('logreg', 'SELECT f, y FROM tr', '{"l3": 1}');
SELECT ecml.train('logreg', 'SELECT f, y FROM tr', '{"save_as": 3}');
SELECT ecml.train('logreg', 'SELECT f, y FROM tr', '{"save_as": ""}');
SELECT ecml.train('logreg', 'SELECT CASE WHEN i = 7 THEN ''{1,2}''::real[] ELSE f END, y FROM tr');
SELECT ecml.train('logreg', 'SELECT CASE WHEN i = 7 THEN ''{1,NaN,2}''::real[] ELSE f END, y FROM tr');
-- a source that changes between passes
SELECT setseed(0.5);
SELECT ecml.train('logreg', 'SELECT f, y FROM tr WHERE random() < 0.5');

-- the pass aggregate, called directly
SELECT ecml.logreg_pass(f, y, '{7}') FROM tr;
SELECT ecml.logreg_pass(f, y, NULL) FROM tr;
SELECT ecml.logreg_pass(f, y, '{1,3,1,1,1}') FROM tr;
SELECT ecml.logreg_pass(f, y, '{1,3,1,1,1,0,0,0,0,0,0,0,1,1,1}') IS NOT NULL AS ok FROM tr;
SELECT ecml.logreg_pass(f, y, '{1,3,1,1,1,0,0,0,0,0,0,0,1,0,1}') FROM tr;
SELECT ecml.logreg_pass(f, y, '{0,-1,1,1,1}') IS NULL AS no_rows FROM tr WHERE false;
SELECT ecml.logreg_pass_combinefn('\x00', NULL);
SELECT ecml.logreg_pass_transfn('\x01020304', '{1}', true, '{0,-1,1,1,1}');
SELECT length(ecml.logreg_pass_transfn(NULL, '{1}', true, '{0,-1,1,1,1}')) AS state_bytes;

-- matrix factorization: the columns, the values, the options it cannot honour
CREATE TABLE trm AS SELECT u, i, (1 + (u * i) % 5)::real AS v
FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0;
SELECT j->>'kind' AS kind, j->'rows' AS rows, j->'metrics'->'train_rmse' IS NOT NULL AS has_rmse,
       j->'hyperparameters'->>'solver' AS solver, j->'hyperparameters'->'store_interactions' AS stored
FROM (SELECT ecml.model_info(ecml.train('mf', 'SELECT u, i, v FROM trm', '{"factors": 2, "iterations": 2, "implicit": false}')) AS j) q;
SELECT jsonb_array_length(j->'metrics'->'pass_history') AS passes, (j->'metrics'->>'passes')::int AS counted
FROM (SELECT ecml.model_info(ecml.train('mf', 'SELECT u, i, v FROM trm', '{"factors": 2, "iterations": 3}')) AS j) s;
SELECT ecml.train('mf', 'SELECT u, i FROM trm');
SELECT ecml.train('mf', 'SELECT u, v, i FROM trm');
SELECT ecml.train('mf', 'SELECT u, i, v FROM trm WHERE false');
SELECT ecml.train('mf', 'SELECT u, i, NULL::real FROM trm');
SELECT ecml.train('mf', 'SELECT u, i, CASE WHEN u = 7 THEN ''NaN'' ELSE v END FROM trm');
SELECT ecml.train('mf', 'SELECT u, i, v - 3 FROM trm');
SELECT ecml.train('mf', 'SELECT u, i, (v - 3)::real FROM trm');
SELECT ecml.train('mf', 'SELECT u, i, v FROM trm', '{"store_interactions": true}');
SELECT ecml.train('mf', 'SELECT u, i, v FROM trm', '{"solver": "cg"}');
SELECT ecml.train('mf', 'SELECT u, i, v FROM trm', '{"factors": 0}');
SELECT ecml.train('mf', 'SELECT u, i, v FROM trm', '{"l2": 1}');
SELECT setseed(0.25);
SELECT ecml.train('mf', 'SELECT u, i, v FROM trm WHERE random() < 0.7', '{"factors": 2, "iterations": 2}');
-- the half-step aggregate, called directly
SELECT ecml.mf_pass(NULL, i, v, '{0,0,0.1,0,1}') FROM trm;
SELECT ecml.mf_pass(ecml.train('mf', 'SELECT u, i, v FROM trm', '{"factors": 2, "iterations": 1, "implicit": false}'), i, v, '{0,0,0.1}') FROM trm;
SELECT ecml.mf_pass(ecml.train('mf', 'SELECT u, i, v FROM trm', '{"factors": 2, "iterations": 1, "implicit": false}'), i + 100, v, '{0,0,0.1,0,1}') FROM trm;
SELECT ecml.mf_pass(ecml.train('mf', 'SELECT u, i, v FROM trm', '{"factors": 2, "iterations": 1, "implicit": false}'), i, v, '{1,0,0.1,0,1}') FROM trm;
SELECT ecml.mf_pass_combinefn('\x00', NULL);
-- isolation forest: one sampling pass, the trees grown from its sample
CREATE TABLE tri AS SELECT i, ARRAY[sin(i), cos(i * 0.7), (i % 5) - 2]::real[] AS f
FROM generate_series(1, 300) i;
INSERT INTO tri VALUES (301, NULL), (302, '{40,40,40}');
SELECT j->>'kind' AS kind, j->'rows' AS rows, j->'rows_skipped' AS skipped,
       j->'hyperparameters'->'sample_size' AS sample_size, j->'metrics'->'passes' AS passes,
       j->'metrics'->'pass_history'->0->>'what' AS pass
FROM (SELECT ecml.model_info(ecml.train('iforest', 'SELECT f FROM tri', '{"n_trees": 20, "sample_size": 64}')) AS j) q;
SELECT ecml.train('iforest', 'SELECT f, i FROM tri');
SELECT ecml.train('iforest', 'SELECT i FROM tri');
SELECT ecml.train('iforest', 'SELECT f FROM tri WHERE false');
SELECT ecml.train('iforest', 'SELECT f FROM tri WHERE i = 1');
SELECT ecml.train('iforest', 'SELECT ''{1,2}''::real[] FROM tri');
SELECT ecml.train('iforest', 'SELECT CASE WHEN i = 7 THEN ''{1,NaN,3}'' ELSE f END FROM tri');
SELECT ecml.train('iforest', 'SELECT CASE WHEN i = 7 THEN ''{1,2}'' ELSE f END FROM tri');
SELECT ecml.train('iforest', 'SELECT f FROM tri', '{"n_trees": 0}');
SELECT ecml.train('iforest', 'SELECT f FROM tri', '{"factors": 2}');
SET ecml.train_memory_limit = '1MB';
SELECT ecml.train('iforest', 'SELECT f FROM tri', '{"n_trees": 10000, "sample_size": 1000}');
RESET ecml.train_memory_limit;
-- the sampling aggregate, called directly
SELECT ecml.iforest_pass(f, '{2,4}') FROM tri;
SELECT ecml.iforest_pass(f, '{2,4,-1}') FROM tri;
SELECT ecml.iforest_pass(f, NULL) FROM tri;
SELECT ecml.iforest_pass(f, '{2,4,0}') IS NULL AS no_rows FROM tri WHERE false;
SELECT length(ecml.iforest_pass_transfn(NULL, '{1,2,3}', '{2,4,0}')) AS state_bytes;
SELECT ecml.iforest_pass_combinefn('\x00', NULL);
SELECT ecml.iforest_pass_combinefn(ecml.iforest_pass_transfn(NULL, '{1,2,3}', '{2,4,0}'),
                                   ecml.iforest_pass_transfn(NULL, '{1,2,3}', '{3,4,0}'));
SELECT ecml.iforest_pass_transfn(set_byte(ecml.iforest_pass_transfn(NULL, '{1,2,3}', '{2,4,0}'), 168, 9), '{1,2,3}', '{2,4,0}');
-- a state handed in by another aggregate's INITCOND is checked before use
DO $$ BEGIN EXECUTE format('CREATE AGGREGATE pg_temp.crafted_pass(real[], float8[]) (SFUNC = ecml.iforest_pass_transfn, STYPE = bytea, INITCOND = %L)',
    set_byte(ecml.iforest_pass_transfn(NULL, '{1,2,3}', '{2,4,0}'), 168, 9)::text); END $$;
SELECT pg_temp.crafted_pass(f, '{2,4,0}') FROM tri;
-- gradient boosting: the columns, the options it cannot honour, bad sketches and plans
CREATE TABLE trg AS SELECT ARRAY[(i % 5)::real, (i % 3)::real]::real[] AS f, i % 4 = 0 AS y FROM generate_series(1, 200) i;
SELECT j->>'kind' AS kind, j->'metrics'->'iterations' AS trees, jsonb_array_length(j->'metrics'->'pass_history') AS passes
FROM (SELECT ecml.model_info(ecml.train('gbdt', 'SELECT f, y FROM trg', '{"n_trees": 2, "max_depth": 2}'))::jsonb AS j) q;
SELECT ecml.train('gbdt', 'SELECT f FROM trg');
SELECT ecml.train('gbdt', 'SELECT y, f FROM trg');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg WHERE false');
SELECT ecml.train('gbdt', 'SELECT f, false FROM trg');
SELECT ecml.train('gbdt', 'SELECT ARRAY[1, 1]::real[], y FROM trg');
SELECT ecml.train('gbdt', 'SELECT CASE WHEN y THEN ARRAY[1]::real[] ELSE f END, y FROM trg');
SELECT ecml.train('gbdt', 'SELECT ARRAY[''Infinity'']::real[], y FROM trg');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"subsample": 0}');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"early_stopping_rounds": 5}');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"sample_size": 10}');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"sample_size": "many"}');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"max_depth": 0}');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"feature_names": ["a"]}');
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg', '{"l1": 1}');
SELECT setseed(0.25);
SELECT ecml.train('gbdt', 'SELECT f, y FROM trg WHERE random() < 0.7', '{"n_trees": 1}');
-- the sketch and the pass aggregate, called directly
SELECT ecml.gbdt_bin_edges(ecml.gbdt_sketch(f, y, 1000, 16, 0), 1) FROM trg;
SELECT ecml.gbdt_bin_edges(ecml.gbdt_sketch(f, y, 1000, 16, 0), 3) FROM trg;
SELECT ecml.gbdt_sketch(f, y, 10, 16, 0) FROM trg;
SELECT ecml.gbdt_sketch(f, y, 1000, 2, 0) FROM trg;
SELECT ecml.gbdt_bin_edges('\x00', 1);
SELECT ecml.gbdt_pass(f, y, '\x00') FROM trg;
SELECT ecml.gbdt_pass(f, y, NULL) FROM trg;
SELECT ecml.gbdt_pass_combinefn('\x00', NULL);
DROP TABLE tr, trm, tri, trg;
DELETE FROM ecml.models WHERE name = 'tr_model';
