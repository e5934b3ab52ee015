-- Purchase probability: logistic regression.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- deterministic data: y depends on x1 (+), x2 (-), not on x3
CREATE TABLE lr AS
SELECT i,
       ARRAY[x1, x2, x3]::real[] AS f,
       (1.5 * x1 - 2.0 * x2 + 0.3 + noise) > 0 AS y
FROM (SELECT i, sin(i * 0.37) * 2 AS x1, cos(i * 0.91) AS x2,
             sin(i * 2.17) AS x3, sin(i * 12.9898) * 1.7 AS noise
      FROM generate_series(1, 2000) i) s;

CREATE TABLE lr_model AS
SELECT ecml.logreg_train(f, y, '{"feature_names": ["x1", "x2", "x3"]}') AS m FROM lr;

SELECT i->>'kind' AS kind, i->'features' AS features, i->'rows' AS rows,
       i->'solver' AS solver, i->'metrics'->'converged' AS converged,
       (i->'metrics'->>'iterations')::int BETWEEN 3 AND 20 AS few_iterations,
       i->'feature_names' AS names, i->'hyperparameters'->'l2' AS l2
FROM lr_model, ecml.model_info(m) AS i;

-- signs and sizes of the coefficients, intercept first, names kept
SELECT feature, sign(coefficient) AS sign, std_error > 0 AS has_se,
       p_value < 0.001 AS significant, abs(odds_ratio - exp(coefficient)) < 1e-12 AS or_ok
FROM lr_model, ecml.logreg_coefficients(m);

-- probabilities: in [0, 1], ordered like the margin, and well calibrated on average
SELECT min(p) >= 0 AND max(p) <= 1 AS in_range,
       round(avg(p)::numeric, 2) = round(avg(y::int)::numeric, 2) AS calibrated
FROM (SELECT ecml.logreg_predict(m, f) AS p, y FROM lr, lr_model) s;
SELECT ecml.logreg_predict(m, '{1, -1, 0}') > 0.9 AS likely,
       ecml.logreg_predict(m, '{-1, 1, 0}') < 0.1 AS unlikely
FROM lr_model;

-- every option is accepted and recorded
SELECT ecml.model_info(ecml.logreg_train(f, y,
    '{"l2": 0.01, "l1": 0, "fit_intercept": false, "standardize": false,
      "class_weight": "balanced", "max_iter": 50, "tol": 1e-8, "solver": "lbfgs"}'))->'hyperparameters'
FROM lr;
SELECT ecml.model_info(ecml.logreg_train(f, y, '{"class_weight": 3.5}'))->'class_weights' FROM lr;
SELECT ecml.model_info(ecml.logreg_train(f, y, '{"class_weight": "balanced"}'))->'class_weights' FROM lr;
-- no intercept: no intercept row
SELECT count(*) FILTER (WHERE feature = '(intercept)') AS intercepts, count(*) AS total
FROM ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y, '{"fit_intercept": false}') FROM lr));
-- l1 drives the useless feature to exactly zero, and has no standard errors
SELECT feature, coefficient = 0 AS zero, std_error IS NULL AS no_se
FROM ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y, '{"l1": 0.05}') FROM lr));
-- the solvers agree
SELECT max(abs(a.coefficient - b.coefficient)) < 1e-3 AS newton_equals_lbfgs
FROM ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y, '{"solver": "newton", "tol": 1e-9}') FROM lr)) WITH ORDINALITY a(feature, coefficient, se, z, p, o, n)
JOIN ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y, '{"solver": "lbfgs", "tol": 1e-9}') FROM lr)) WITH ORDINALITY b(feature, coefficient, se, z, p, o, n)
USING (n);
-- standardization changes the optimizer's coordinates, not the unpenalized fit
SELECT max(abs(a.coefficient - b.coefficient)) < 1e-3 AS standardize_invariant
FROM ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y, '{"l2": 0, "tol": 1e-9}') FROM lr)) WITH ORDINALITY a(feature, coefficient, se, z, p, o, n)
JOIN ecml.logreg_coefficients((SELECT ecml.logreg_train(f, y, '{"l2": 0, "tol": 1e-9, "standardize": false}') FROM lr)) WITH ORDINALITY b(feature, coefficient, se, z, p, o, n)
USING (n);
-- progress reporting runs (its NOTICE text, with timings, is checked in test/extra)
SET ecml.progress = on;
SELECT length(ecml.logreg_train(f, y, '{"max_iter": 2}')) > 0 AS trained FROM lr;
RESET ecml.progress;

-- GROUP BY: one model per group
SELECT i % 2 AS grp, ecml.model_info(ecml.logreg_train(f, y))->'rows' AS rows
FROM lr GROUP BY 1 ORDER BY 1;

-- NULL rows are skipped and counted
SELECT i->'rows' AS rows, i->'rows_skipped' AS skipped
FROM (SELECT ecml.model_info(ecml.logreg_train(CASE WHEN i % 10 = 0 THEN NULL ELSE f END,
                                               CASE WHEN i % 7 = 0 THEN NULL ELSE y END)) AS i
      FROM lr) s;

-- bad input: each a clear error
SELECT ecml.logreg_train(f, y) FROM lr WHERE false;
SELECT ecml.logreg_train(NULL::real[], y) FROM lr;
SELECT ecml.logreg_train(f, true) FROM lr;
SELECT ecml.logreg_train(f, false) FROM lr;
SELECT ecml.logreg_train(CASE WHEN i = 5 THEN '{1, NULL, 3}'::real[] ELSE f END, y) FROM lr;
SELECT ecml.logreg_train(CASE WHEN i = 5 THEN '{1, NaN, 3}'::real[] ELSE f END, y) FROM lr;
SELECT ecml.logreg_train(CASE WHEN i = 5 THEN '{1, 2, Infinity}'::real[] ELSE f END, y) FROM lr;
SELECT ecml.logreg_train(CASE WHEN i = 5 THEN '{1, 2}'::real[] ELSE f END, y) FROM lr;
SELECT ecml.logreg_train(CASE WHEN i = 5 THEN '{}'::real[] ELSE f END, y) FROM lr;
SELECT ecml.logreg_train(CASE WHEN i = 5 THEN '{{1, 2, 3}}'::real[] ELSE f END, y) FROM lr;
SELECT ecml.logreg_train(f, y, '{"feature_names": ["a", "b"]}') FROM lr;
SELECT ecml.logreg_train(f, y, '{"solver": "newton", "l1": 0.1}') FROM lr;

SELECT ecml.logreg_predict(m, '{1, 2}') FROM lr_model;
SELECT ecml.logreg_predict(m, '{1, 2, 3, 4}') FROM lr_model;
SELECT ecml.logreg_predict(m, '{1, NULL, 3}') FROM lr_model;
SELECT ecml.logreg_predict(m, '{1, NaN, 3}') FROM lr_model;
SELECT ecml.logreg_predict(m, '{1, -Infinity, 3}') FROM lr_model;
SELECT ecml.logreg_predict(m, '{{1, 2, 3}}') FROM lr_model;
SELECT ecml.logreg_predict(m, NULL) IS NULL AS strict FROM lr_model;
SELECT ecml.logreg_predict('\x0102'::bytea, '{1, 2, 3}');
\set VERBOSITY terse
SELECT ecml.logreg_predict(substring(m FROM 1 FOR 100), '{1, 2, 3}') FROM lr_model;
\set VERBOSITY default
SELECT ecml.logreg_predict(set_byte(m, length(m) - 20, get_byte(m, length(m) - 20) # 1), '{1, 2, 3}') FROM lr_model;
SELECT * FROM ecml.logreg_coefficients('\x0102'::bytea);
-- the session is still usable after every error
SELECT 1 AS still_alive;
