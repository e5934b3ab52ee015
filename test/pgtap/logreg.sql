-- Logistic regression: recovered coefficients, quality, parallel
-- equivalence, determinism, SQLSTATEs and the model cache.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(27);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- 60k rows from a known model: logit = 0.5 + 1.0 x1 - 2.0 x2 + 0.5 x3 + 0 x4 + 0.25 x5
SELECT setseed(0.25);
CREATE TABLE known AS
SELECT i, f, random() < 1 / (1 + exp(-(0.5 + f[1] - 2.0 * f[2] + 0.5 * f[3] + 0.25 * (f[5] - 105)))) AS y
FROM (SELECT i, ARRAY[random() * 2 - 1, random() * 2 - 1, random() * 4 - 2,
                      random() * 2 - 1, random() * 10 + 100]::real[] AS f
      FROM generate_series(1, 60000) i) s;
-- x5 has a large offset: standardization must keep it well conditioned
CREATE TABLE truth(feature text, coef float8);
INSERT INTO truth VALUES ('(intercept)', 0.5 - 0.25 * 105), ('x1', 1.0), ('x2', -2.0),
    ('x3', 0.5), ('x4', 0.0), ('x5', 0.25);
ANALYZE known;

CREATE TABLE fit AS
SELECT c.* FROM ecml.logreg_coefficients(
    (SELECT ecml.logreg_train(f, y, '{"l2": 0, "feature_names": ["x1","x2","x3","x4","x5"]}')
     FROM known WHERE i % 5 <> 0)) c;

SELECT ok(abs(f.coefficient - t.coef) < 4 * f.std_error,
          format('%s recovered within 4 standard errors (%s vs %s, se %s)',
                 t.feature, round(f.coefficient::numeric, 3), t.coef, round(f.std_error::numeric, 3)))
FROM fit f JOIN truth t USING (feature) ORDER BY feature;
SELECT cmp_ok((SELECT max(std_error) FROM fit WHERE feature <> '(intercept)'), '<', 0.06::float8,
              'standard errors are small at 48k rows');
SELECT ok((SELECT p_value > 0.001 FROM fit WHERE feature = 'x4'), 'the null feature is not significant');

-- held-out quality: AUC of the true model is about 0.84
CREATE TABLE model AS
SELECT ecml.logreg_train(f, y) AS m FROM known WHERE i % 5 <> 0;
SELECT cmp_ok((SELECT ecml.roc_auc(ecml.logreg_predict(m, f), y) FROM known, model WHERE i % 5 = 0),
              '>', 0.80::float8, 'held-out ROC AUC above 0.80');
SELECT cmp_ok((SELECT ecml.log_loss(ecml.logreg_predict(m, f), y) FROM known, model WHERE i % 5 = 0),
              '<', 0.52::float8, 'held-out log loss below 0.52');
SELECT ok((SELECT (ecml.model_info(m)->'metrics'->>'converged')::boolean FROM model), 'converged');

-- parallel aggregation forced: the plan has a partial aggregate and the model is as good
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Partial Mode"') AS mode
                                 FROM pg_temp.plan_json('SELECT ecml.logreg_train(f, y) FROM known WHERE i % 5 <> 0') p) s
                  WHERE mode = '"Partial"'),
          'the training aggregate runs as a parallel partial aggregate');
CREATE TABLE model_par AS SELECT ecml.logreg_train(f, y) AS m FROM known WHERE i % 5 <> 0;
SELECT is((SELECT ecml.model_info(m)->'rows' FROM model_par), (SELECT ecml.model_info(m)->'rows' FROM model),
          'parallel run saw every row');
SELECT cmp_ok((SELECT max(abs(a.coefficient - b.coefficient))
               FROM ecml.logreg_coefficients((SELECT m FROM model)) WITH ORDINALITY a(f, coefficient, s, z, p, o, n)
               JOIN ecml.logreg_coefficients((SELECT m FROM model_par)) WITH ORDINALITY b(f, coefficient, s, z, p, o, n) USING (n)),
              '<', 1e-4::float8, 'parallel and serial coefficients agree');
SELECT cmp_ok((SELECT abs(ecml.roc_auc(ecml.logreg_predict(a.m, f), y) - ecml.roc_auc(ecml.logreg_predict(b.m, f), y))
               FROM known, model a, model_par b WHERE i % 5 = 0),
              '<', 1e-4::float8, 'parallel and serial held-out AUC agree');
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Workers Planned"') AS w
                                 FROM pg_temp.plan_json('SELECT sum(ecml.logreg_predict((SELECT m FROM model), f)) FROM known') p) s
                  WHERE w::int > 0),
          'scoring runs in parallel workers');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- determinism: same rows, same order, same options -> same weights
SELECT results_eq(
    $$SELECT coefficient FROM ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y ORDER BY i) FROM known))$$,
    $$SELECT coefficient FROM ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y ORDER BY i) FROM known))$$,
    'training is deterministic');

-- class_weight "balanced": here negatives are rare (1 in ~10), so weighting
-- them up pulls the mean predicted probability from ~0.9 towards 0.5
CREATE TABLE rare AS SELECT i, f, y FROM known WHERE y OR i % 10 = 0;
SELECT cmp_ok((SELECT avg(ecml.logreg_predict(m, f)) FROM rare,
                      (SELECT ecml.logreg_train(f, y, '{"class_weight": "balanced"}') AS m FROM rare) s),
              '<',
              (SELECT avg(ecml.logreg_predict(m, f)) - 0.1 FROM rare,
                      (SELECT ecml.logreg_train(f, y) AS m FROM rare) s),
              'balanced class weights pull the mean prediction towards the rare class');

-- the cache never serves a replaced model
SELECT ecml.save_model('tap', ecml.logreg_train(f, y, '{"l2": 0}')) FROM known;
CREATE TABLE s1 AS SELECT sum(ecml.logreg_predict(ecml.model('tap'), f)) AS s FROM known;
SELECT ecml.save_model('tap', ecml.logreg_train(f, y, '{"l2": 1}')) FROM known;
SELECT isnt((SELECT sum(ecml.logreg_predict(ecml.model('tap'), f)) FROM known), (SELECT s FROM s1),
            'a replaced registry model scores differently in the same session');
SELECT is((SELECT sum(ecml.logreg_predict(ecml.model('tap'), f)) FROM known),
          (SELECT sum(ecml.logreg_predict(m, f)) FROM known, (SELECT ecml.logreg_train(f, y, '{"l2": 1}') AS m FROM known) s),
          'and scores like the model it was replaced with');

-- SQLSTATEs
SELECT throws_ok($$SELECT ecml.logreg_train(f, y, '{"bogus": 1}') FROM known$$, '22023', NULL, 'unknown option: invalid_parameter_value');
SELECT throws_ok($$SELECT ecml.logreg_predict(m, '{1,NaN,3,4,5}') FROM model$$, '22000', NULL, 'NaN: data_exception');
SELECT throws_ok($$SELECT ecml.logreg_predict(m, '{1,NULL,3,4,5}') FROM model$$, '22004', NULL, 'NULL element: null_value_not_allowed');
SELECT throws_ok($$SELECT ecml.logreg_predict(m, '{1,2}') FROM model$$, '22000', NULL, 'wrong length: data_exception');
SELECT throws_ok($$SELECT ecml.logreg_predict(set_byte(m, 100, get_byte(m, 100) # 1), '{1,2,3,4,5}') FROM model$$, 'XX001', NULL, 'flipped bit: data_corrupted');
SELECT throws_ok($$SELECT ecml.model('no such model')$$, '42704', NULL, 'missing model: undefined_object');
SET LOCAL ecml.train_memory_limit = '1MB';
SELECT throws_ok($$SELECT ecml.logreg_train(f, y) FROM known$$, '54000', NULL, 'memory cap: program_limit_exceeded');

SELECT * FROM finish();
ROLLBACK;
