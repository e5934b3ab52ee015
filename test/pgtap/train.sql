-- ecml.train: the multi-pass trainer reaches the buffering aggregate's
-- optimum, runs its passes as parallel partial aggregates, and trains in
-- memory bounded by the model where the aggregate would need the rows;
-- for gbdt, on the same bins, the trees of ecml.fraud_train.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(38);
SET client_min_messages = warning;

-- logits 0.3 + 1.2 x1 - 0.8 x2 + 0 x3 + 0.5 x4; x4 has a large offset
CREATE TABLE tr_lr AS
SELECT i, ARRAY[x1, x2, x3, x4]::real[] AS f,
       (hashint4(i) & 65535) / 65536.0 < 1 / (1 + exp(-(0.3 + 1.2 * x1 - 0.8 * x2 + 0.5 * (x4 - 50)))) AS y
FROM (SELECT i, sin(i * 0.37) * 2 AS x1, cos(i * 0.11) * 3 AS x2, ((i * 7919) % 101) / 50.0 - 1 AS x3,
             50 + sin(i * 1.7) AS x4
      FROM generate_series(1, 30000) i) s;
ANALYZE tr_lr;

CREATE TABLE tr_models AS
SELECT 'aggregate' AS how, ecml.logreg_train(f, y) AS m FROM tr_lr
UNION ALL SELECT 'passes', ecml.train('logreg', 'SELECT f, y FROM tr_lr')
UNION ALL SELECT 'aggregate_l2', ecml.logreg_train(f, y, '{"l2": 0.01, "class_weight": "balanced"}') FROM tr_lr
UNION ALL SELECT 'passes_l2', ecml.train('logreg', 'SELECT f, y FROM tr_lr', '{"l2": 0.01, "class_weight": "balanced"}')
UNION ALL SELECT 'aggregate_l1', ecml.logreg_train(f, y, '{"l1": 0.001}') FROM tr_lr
UNION ALL SELECT 'passes_l1', ecml.train('logreg', 'SELECT f, y FROM tr_lr', '{"l1": 0.001}')
UNION ALL SELECT 'aggregate_raw', ecml.logreg_train(f, y, '{"standardize": false, "fit_intercept": false, "solver": "lbfgs"}') FROM tr_lr
UNION ALL SELECT 'passes_raw', ecml.train('logreg', 'SELECT f, y FROM tr_lr', '{"standardize": false, "fit_intercept": false, "solver": "lbfgs"}');

CREATE FUNCTION pg_temp.loss(how text) RETURNS float8 LANGUAGE sql AS
$$ SELECT (ecml.model_info(m)->'metrics'->>'final_loss')::float8 FROM tr_models WHERE tr_models.how = $1 $$;
CREATE FUNCTION pg_temp.coef_gap(a text, b text) RETURNS float8 LANGUAGE sql AS
$$ SELECT max(abs(x.coefficient - y.coefficient) / greatest(1, abs(x.coefficient)))
   FROM ecml.logreg_coefficients((SELECT m FROM tr_models WHERE how = a)) x
   JOIN ecml.logreg_coefficients((SELECT m FROM tr_models WHERE how = b)) y USING (feature) $$;

-- The aggregate works on float32 standardized rows, the passes in float64:
-- the objectives agree to float32's resolution, the coefficients to 1e-4.
SELECT cmp_ok(abs(pg_temp.loss('passes') - pg_temp.loss('aggregate')) / pg_temp.loss('aggregate'), '<', 1e-7::float8,
              'Newton passes reach the aggregate''s objective (relative gap below 1e-7)');
SELECT cmp_ok(pg_temp.coef_gap('passes', 'aggregate'), '<', 1e-4::float8, 'and its coefficients');
SELECT cmp_ok(abs(pg_temp.loss('passes_l2') - pg_temp.loss('aggregate_l2')) / pg_temp.loss('aggregate_l2'), '<', 1e-7::float8,
              'the same with l2 and balanced class weights');
SELECT cmp_ok(abs(pg_temp.loss('passes_l1') - pg_temp.loss('aggregate_l1')) / pg_temp.loss('aggregate_l1'), '<', 1e-6::float8,
              'the same with l1 (OWL-QN passes)');
SELECT cmp_ok(abs(pg_temp.loss('passes_raw') - pg_temp.loss('aggregate_raw')) / pg_temp.loss('aggregate_raw'), '<', 1e-6::float8,
              'the same without standardization or intercept (L-BFGS passes)');
SELECT ok((SELECT (ecml.model_info(m)->'metrics'->>'converged')::boolean FROM tr_models WHERE how = 'passes'),
          'the multi-pass fit converged');
-- the known answer: the planted weights, scaled back to the original units
SELECT ok((SELECT bool_and(abs(coefficient - w) < 0.15)
           FROM ecml.logreg_coefficients((SELECT m FROM tr_models WHERE how = 'passes'))
           JOIN (VALUES ('x1', 1.2), ('x2', -0.8), ('x3', 0.0), ('x4', 0.5)) v(feature, w) USING (feature)),
          'the multi-pass model recovers the planted weights within 0.15');

-- the pass aggregate runs as a parallel partial aggregate, and a forced
-- parallel plan trains the same model
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS
$$ DECLARE p json; BEGIN EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p; RETURN p::jsonb; END $$;
SELECT ok(EXISTS (SELECT 1 FROM jsonb_path_query(pg_temp.plan_json($$SELECT ecml.logreg_pass(f, y, '{0,-1,1,1,1}') FROM tr_lr$$),
                                                 'strict $.** ? (@."Partial Mode" == "Partial")')),
          'ecml.logreg_pass runs as a Partial Aggregate under a parallel plan');
SELECT cmp_ok(abs((ecml.model_info(ecml.train('logreg', 'SELECT f, y FROM tr_lr'))->'metrics'->>'final_loss')::float8
                  - pg_temp.loss('passes')), '<', 1e-12::float8,
              'a forced parallel plan trains the same model (objective within 1e-12)');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- bounded memory: below the rows' size the aggregate refuses, the passes train
SET LOCAL ecml.train_memory_limit = '1MB';
SELECT throws_ok($$SELECT ecml.logreg_train(f, y) FROM tr_lr, generate_series(1, 4)$$, '54000', NULL,
                 'the buffering aggregate needs the rows in memory (120000 rows of 5 floats > 1 MB)');
SELECT ok((SELECT ecml.model_info(ecml.train('logreg', 'SELECT f, y FROM tr_lr, generate_series(1, 4)'))->>'kind') = 'logreg',
          'ecml.train trains under the same limit: its states hold sums, not rows');
RESET ecml.train_memory_limit;

-- matrix factorization: ALS half-steps as grouped aggregates
CREATE TABLE tr_mf AS
SELECT u, i, (1 + ((u * 7 + i * 13) % 5))::real AS v
FROM generate_series(1, 300) u, generate_series(1, 200) i WHERE hashint4(u * 1000 + i) % 10 = 0;
INSERT INTO tr_mf SELECT u, i, 1 FROM tr_mf WHERE (u + i) % 17 = 0;   -- duplicates, summed by both
CREATE TABLE tr_mf_models AS
SELECT ecml.mf_train(u, i, v, '{"implicit": false, "factors": 8, "iterations": 5, "solver": "cholesky", "store_interactions": false}') AS ex_agg,
       ecml.train('mf', 'SELECT u, i, v FROM tr_mf', '{"implicit": false, "factors": 8, "iterations": 5}') AS ex_pass,
       ecml.mf_train(u, i, v, '{"factors": 8, "iterations": 5, "solver": "cholesky", "store_interactions": false}') AS im_agg,
       ecml.train('mf', 'SELECT u, i, v FROM tr_mf', '{"factors": 8, "iterations": 5}') AS im_pass
FROM tr_mf;
SELECT cmp_ok((SELECT max(abs(ecml.mf_predict(ex_agg, u, i) - ecml.mf_predict(ex_pass, u, i))) FROM tr_mf_models, tr_mf),
              '<', 1e-4::real, 'ecml.train(mf), explicit: the predictions of ecml.mf_train (Cholesky) within 1e-4');
SELECT cmp_ok((SELECT abs((ecml.model_info(ex_agg)->'metrics'->>'train_rmse')::float8
                          - (ecml.model_info(ex_pass)->'metrics'->>'train_rmse')::float8) FROM tr_mf_models),
              '<', 0.002::float8, 'ecml.train(mf), explicit: training RMSE within 0.002 of ecml.mf_train');
SELECT cmp_ok((SELECT max(abs(ecml.mf_predict(im_agg, u, i) - ecml.mf_predict(im_pass, u, i))) FROM tr_mf_models, tr_mf),
              '<', 1e-4::real, 'ecml.train(mf), implicit: the predictions of ecml.mf_train (Cholesky) within 1e-4');
SELECT is((SELECT (SELECT count(*) FROM ecml.mf_recommend(im_agg, 7, 10, exclude_seen => false) a JOIN ecml.mf_recommend(im_pass, 7, 10, exclude_seen => false) b USING (item_id)) FROM tr_mf_models),
          10::bigint, 'ecml.train(mf), implicit: the same top 10 for a user');
SELECT is((SELECT jsonb_array_length(ecml.model_info(ex_pass)->'metrics'->'pass_history') FROM tr_mf_models),
          4 + 2 * 5 + 1, 'the per-pass history: interactions, value check, two id passes, 2 half-steps an iteration, the RMSE pass');
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
CREATE TABLE tr_mf_par AS
SELECT ecml.train('mf', 'SELECT u, i, v FROM tr_mf', '{"implicit": false, "factors": 8, "iterations": 5}') AS m;
SELECT cmp_ok((SELECT max(abs(ecml.mf_predict(ex_pass, u, i) - ecml.mf_predict(m, u, i)))
               FROM tr_mf_models, tr_mf_par, tr_mf),
              '<', 1e-4::real, 'ecml.train(mf) under a parallel plan trains the same model');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- isolation forest: one sampling pass whose bytea state merges
CREATE TABLE tr_if AS
SELECT i, ARRAY[sin(i * 0.37), cos(i * 0.11), ((i * 7) % 13) / 13.0]::real[] AS f, false AS outlier
FROM generate_series(1, 20000) i;
INSERT INTO tr_if SELECT 20000 + i, ARRAY[3 + i * 0.1, -3, 2]::real[], true FROM generate_series(1, 20) i;
CREATE TABLE tr_if_small AS SELECT * FROM tr_if WHERE i % 50 = 0 OR outlier;
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE tr_if_models AS
SELECT (SELECT ecml.anomaly_train(f, '{"seed": 3, "sample_size": 1000}') FROM tr_if_small) AS agg_all,
       ecml.train('iforest', 'SELECT f FROM tr_if_small', '{"seed": 3, "sample_size": 1000}') AS pass_all,
       (SELECT ecml.anomaly_train(f, '{"seed": 3}') FROM tr_if) AS agg,
       ecml.train('iforest', 'SELECT f FROM tr_if', '{"seed": 3}') AS pass;
SELECT is((SELECT max(abs(ecml.anomaly_score(agg_all, f) - ecml.anomaly_score(pass_all, f))) FROM tr_if_models, tr_if_small),
          0::float8, 'ecml.train(iforest) with every row in every sample grows the trees of ecml.anomaly_train');
SELECT cmp_ok((SELECT ecml.roc_auc(ecml.anomaly_score(pass, f), outlier) FROM tr_if_models, tr_if),
              '>', 0.99::float8, 'ecml.train(iforest) ranks the planted outliers first (AUC > 0.99)');
-- a sample biased to early rows would leave the second half's cluster unseen
CREATE TABLE tr_if_halves AS
SELECT i, ARRAY[(i > 10000)::int * 10 + sin(i) * 0.5, cos(i) * 0.5]::real[] AS f FROM generate_series(1, 20000) i;
SELECT cmp_ok((SELECT abs(avg(s) FILTER (WHERE i <= 10000) - avg(s) FILTER (WHERE i > 10000))
               FROM (SELECT i, ecml.anomaly_score(m, f) AS s
                     FROM tr_if_halves,
                          (SELECT ecml.train('iforest', 'SELECT f FROM tr_if_halves ORDER BY i', '{"seed": 5}') AS m) t) q),
              '<', 0.02::float8, 'the samples are uniform over the rows: both halves of an ordered table score alike');
RESET max_parallel_workers_per_gather;
-- gbdt: features with few distinct values (and NULLs) get fraud_train's
-- bins from the sketch, so the passes grow fraud_train's trees
CREATE TABLE tr_gb AS
SELECT i, ARRAY[(i * 7 % 5)::real, (i * 13 % 9)::real,
                CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 3 % 4)::real END, (i % 3)::real,
                round(sin(i * 0.3) * 20)::real]::real[] AS f,
       (i * 7 % 5) + (i * 13 % 9) * 0.5 + (hashint4(i) & 7) * 0.4 + coalesce(nullif(i % 11, 0) * 0.1, 2) > 6 AS y
FROM generate_series(1, 20000) i;
ANALYZE tr_gb;
CREATE TABLE tr_gb_models AS
SELECT (SELECT ecml.fraud_train(f, y, '{"n_trees": 6, "max_depth": 4}') FROM tr_gb) AS agg,
       ecml.train('gbdt', 'SELECT f, y FROM tr_gb', '{"n_trees": 6, "max_depth": 4}') AS pass,
       (SELECT ecml.fraud_train(f, y, '{"n_trees": 5, "max_depth": 5, "max_leaves": 9, "colsample": 0.6, "class_weight": "balanced", "l2": 3, "min_child_weight": 20, "seed": 7}') FROM tr_gb) AS agg2,
       ecml.train('gbdt', 'SELECT f, y FROM tr_gb', '{"n_trees": 5, "max_depth": 5, "max_leaves": 9, "colsample": 0.6, "class_weight": "balanced", "l2": 3, "min_child_weight": 20, "seed": 7}') AS pass2;
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(agg, f) - ecml.fraud_score(pass, f))) FROM tr_gb_models, tr_gb),
              '<', 1e-6::float8, 'ecml.train(gbdt) on identical bins: the predictions of ecml.fraud_train within 1e-6');
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(agg2, f) - ecml.fraud_score(pass2, f))) FROM tr_gb_models, tr_gb),
              '<', 1e-6::float8, 'the same with max_leaves, colsample, balanced class weights, l2 and min_child_weight');
SELECT is((SELECT (ecml.model_info(pass)->'info')::jsonb FROM tr_gb_models),
          (SELECT (ecml.model_info(agg)->'info')::jsonb FROM tr_gb_models),
          'the same trees: node count, base margin, bins and class weights');
SELECT is((SELECT jsonb_array_length(ecml.model_info(pass)->'metrics'->'pass_history') FROM tr_gb_models),
          1 + 6 * 4 + 1, 'the per-pass history: the sketch, one pass per tree level, the loss');

-- subsample: a row is in tree t's sample by a hash of its content and the
-- seed, in the passes as in fraud_train, so the same rows and the same trees
CREATE TABLE tr_gb_sub AS
SELECT (SELECT ecml.fraud_train(f, y, '{"n_trees": 6, "max_depth": 4, "subsample": 0.6, "seed": 11}') FROM tr_gb) AS agg,
       ecml.train('gbdt', 'SELECT f, y FROM tr_gb', '{"n_trees": 6, "max_depth": 4, "subsample": 0.6, "seed": 11}') AS pass,
       ecml.train('gbdt', 'SELECT f, y FROM tr_gb ORDER BY i DESC', '{"n_trees": 6, "max_depth": 4, "subsample": 0.6, "seed": 11}') AS pass_desc,
       ecml.train('gbdt', 'SELECT f, y FROM tr_gb', '{"n_trees": 6, "max_depth": 4, "subsample": 0.6, "seed": 12}') AS pass_seed;
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(s.agg, f) - ecml.fraud_score(s.pass, f))) FROM tr_gb_sub s, tr_gb),
              '<', 1e-6::float8, 'ecml.train(gbdt) with subsample: the predictions of ecml.fraud_train with the same subsample and seed');
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(s.pass, f) - ecml.fraud_score(s.pass_desc, f))) FROM tr_gb_sub s, tr_gb),
              '<', 1e-6::float8, 'the sample does not depend on the order of the rows: the same model read backwards');
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(s.pass, f) - ecml.fraud_score(m.pass, f))) FROM tr_gb_sub s, tr_gb_models m, tr_gb),
              '>', 1e-3::float8, 'subsample changes the model');
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(s.pass, f) - ecml.fraud_score(s.pass_seed, f))) FROM tr_gb_sub s, tr_gb),
              '>', 1e-3::float8, 'another seed draws other rows');
SELECT cmp_ok((SELECT ecml.roc_auc(ecml.fraud_score(s.pass, f), y) - ecml.roc_auc(ecml.fraud_score(m.pass, f), y)
               FROM tr_gb_sub s, tr_gb_models m, tr_gb),
              '>', -0.01::float8, 'and keeps the AUC of the full-sample model within 0.01');

-- continuous features: a sketch of 2000 of 30000 rows places the edges
CREATE TABLE tr_gbc AS
SELECT i, ARRAY[x1, x2, x3]::real[] AS f,
       (hashint4(i) & 65535) / 65536.0 < 1 / (1 + exp(-(1.5 * x1 - x2 * x2 + 0.5 * x3))) AS y
FROM (SELECT i, sin(i * 0.37) * 2 AS x1, cos(i * 0.11) * 1.5 AS x2, ((hashint4(i * 3) & 65535) / 32768.0 - 1) AS x3
      FROM generate_series(1, 30000) i) s;
ANALYZE tr_gbc;
CREATE TABLE tr_gbc_sk AS
SELECT ecml.gbdt_sketch(f, y, 2000, 17, 0) AS sk,
       ecml.gbdt_sketch(f, y, 2000, 17, 0 ORDER BY i DESC) AS sk_desc
FROM tr_gbc;
-- DKW (Massart 1990): P(rank error > eps) <= 2 exp(-2 k eps^2); k = 2000, 1e-6: eps = 0.061
SELECT cmp_ok((SELECT max(abs((SELECT count(*) FROM tr_gbc WHERE f[j] <= e.edge)::float8 / 30000 - e.q / 16.0))
               FROM tr_gbc_sk, generate_series(1, 3) j,
                    unnest(ecml.gbdt_bin_edges(sk, j)) WITH ORDINALITY AS e(edge, q)),
              '<', 0.061::float8, 'every sketched edge is within the stated rank error of its quantile (k = 2000)');
SELECT is((SELECT array_agg(ecml.gbdt_bin_edges(sk, j) = ecml.gbdt_bin_edges(sk_desc, j)) FROM tr_gbc_sk, generate_series(1, 3) j),
          '{t,t,t}'::boolean[], 'the sketch does not depend on the order of the rows');
CREATE TABLE tr_gbc_models AS
SELECT (SELECT ecml.fraud_train(f, y, '{"n_trees": 10, "max_depth": 3, "max_bins": 17}') FROM tr_gbc) AS agg,
       ecml.train('gbdt', 'SELECT f, y FROM tr_gbc', '{"n_trees": 10, "max_depth": 3, "max_bins": 17, "sample_size": 2000}') AS pass;
SELECT cmp_ok((SELECT abs(ecml.roc_auc(ecml.fraud_score(agg, f), y) - ecml.roc_auc(ecml.fraud_score(pass, f), y))
               FROM tr_gbc_models, tr_gbc),
              '<', 0.01::float8, 'continuous features, sketched edges: AUC within 0.01 of ecml.fraud_train');

SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT ok(EXISTS (SELECT 1 FROM jsonb_path_query(pg_temp.plan_json($$SELECT ecml.iforest_pass(f, '{100,256,0}') FROM tr_if$$),
                                                 'strict $.** ? (@."Partial Mode" == "Partial")')),
          'ecml.iforest_pass runs as a Partial Aggregate under a parallel plan');
CREATE TABLE tr_if_par AS
SELECT ecml.train('iforest', 'SELECT f FROM tr_if_small', '{"seed": 3, "sample_size": 1000}') AS m;
SELECT is((SELECT max(abs(ecml.anomaly_score(pass_all, f) - ecml.anomaly_score(m, f)))
           FROM tr_if_models, tr_if_par, tr_if_small),
          0::float8, 'ecml.train(iforest) under a parallel plan: the merged samples hold every row, the same trees');
SELECT ok(EXISTS (SELECT 1 FROM jsonb_path_query(pg_temp.plan_json($$SELECT ecml.gbdt_sketch(f, y, 1000, 256, 0) FROM tr_gb$$),
                                                 'strict $.** ? (@."Partial Mode" == "Partial")')),
          'ecml.gbdt_sketch runs as a Partial Aggregate under a parallel plan');
SELECT is((SELECT array_agg(ecml.gbdt_bin_edges(s, j) = ecml.gbdt_bin_edges(sk, j))
           FROM (SELECT ecml.gbdt_sketch(f, y, 2000, 17, 0) AS s FROM tr_gbc) p, tr_gbc_sk, generate_series(1, 3) j),
          '{t,t,t}'::boolean[], 'a parallel sketch gives the serial edges');
CREATE TABLE tr_gb_par AS
SELECT ecml.train('gbdt', 'SELECT f, y FROM tr_gb', '{"n_trees": 6, "max_depth": 4}') AS m;
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(pass, f) - ecml.fraud_score(m, f))) FROM tr_gb_models, tr_gb_par, tr_gb),
              '<', 1e-6::float8, 'ecml.train(gbdt) under a parallel plan trains the same model');
CREATE TABLE tr_gb_sub_par AS
SELECT ecml.train('gbdt', 'SELECT f, y FROM tr_gb', '{"n_trees": 6, "max_depth": 4, "subsample": 0.6, "seed": 11}') AS m;
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(s.pass, f) - ecml.fraud_score(p.m, f))) FROM tr_gb_sub s, tr_gb_sub_par p, tr_gb),
              '<', 1e-6::float8, 'with subsample too: each worker draws its rows as the serial plan does');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

SELECT * FROM finish();
ROLLBACK;
