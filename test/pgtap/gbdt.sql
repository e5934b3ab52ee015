-- Gradient-boosted fraud scoring: quality on payments with planted fraud
-- patterns, TreeSHAP additivity and Shapley properties, missing-value
-- routing, early stopping, parallel-vs-serial equivalence, determinism and
-- cancellation.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(26);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- 40k payments, about 5% fraud, from a known probability with planted
-- patterns: a large amount at night, a new device from a mismatching
-- country, a burst of payments, an interaction of two scores, and a weak
-- linear signal.  p is the true probability: the best any model can do.
SELECT setseed(0.42);
CREATE TABLE payments AS
SELECT i, f, p, random() < p AS fraud
FROM (SELECT i, f,
             1 / (1 + exp(-(-5.0
                 + 4.0 * (f[1] > 6.2 AND (f[2] < 5 OR f[2] > 22))::int
                 + 4.0 * (f[3] < 7 AND f[4] = 1)::int
                 + 2.0 * (f[5] >= 4)::int
                 + 2.5 * (f[6] > 0.8)::int * (f[7] < 0.3)::int
                 + 0.3 * f[8]))) AS p
      FROM (SELECT i, ARRAY[ln(1 + 400 * random() * random() * 5),       -- log amount
                            floor(random() * 24),                         -- hour
                            floor(-ln(1 - random()) * 60),                -- device age, days
                            (random() < 0.2)::int,                        -- country mismatch
                            floor(-ln(1 - random()) * 1.5),               -- payments last hour
                            random(), random(),                           -- two scores
                            random() * 2 - 1]::real[] AS f                -- weak linear signal
            FROM generate_series(1, 40000) i) s) t;
ANALYZE payments;

CREATE TABLE gb AS
SELECT ecml.fraud_train(f, fraud, '{"feature_names": ["amount", "hour", "device_age", "mismatch", "velocity", "s1", "s2", "linear"]}') AS m
FROM payments WHERE i % 5 <> 0;
CREATE TABLE lr AS SELECT ecml.logreg_train(f, fraud) AS m FROM payments WHERE i % 5 <> 0;
CREATE TABLE held AS
SELECT ecml.average_precision(ecml.fraud_score(g.m, f), fraud) AS ap,
       ecml.roc_auc(ecml.fraud_score(g.m, f), fraud) AS auc,
       ecml.average_precision(ecml.logreg_predict(l.m, f), fraud) AS lr_ap,
       ecml.average_precision(p, fraud) AS oracle_ap,
       ecml.roc_auc(p, fraud) AS oracle_auc
FROM payments, gb g, lr l WHERE i % 5 = 0;

SELECT cmp_ok((SELECT ap FROM held), '>', (SELECT oracle_ap - 0.08 FROM held),
              'held-out average precision within 0.08 of the true probability''s');
SELECT cmp_ok((SELECT auc FROM held), '>', (SELECT oracle_auc - 0.03 FROM held),
              'held-out ROC AUC within 0.03 of the true probability''s');
SELECT cmp_ok((SELECT ap FROM held), '>', (SELECT lr_ap + 0.15 FROM held),
              'trees find the interactions a linear model misses (average precision)');
SELECT ok((SELECT array_agg(feature) @> ARRAY['amount', 'device_age', 'mismatch']
           FROM (SELECT feature FROM ecml.fraud_feature_importance((SELECT m FROM gb)) LIMIT 4) s),
          'the planted features lead the importance ranking');

-- TreeSHAP: base + contributions = margin, margin = logit(score)
CREATE TABLE expl AS
SELECT i, f, ecml.fraud_explain(m, f) AS e, ecml.fraud_score(m, f) AS p FROM payments, gb WHERE i <= 400;
SELECT cmp_ok((SELECT max(abs((e->>'base_value')::float8
                              + (SELECT sum(value::float8) FROM jsonb_each_text(e->'contributions'))
                              - (e->>'margin')::float8)) FROM expl),
              '<', 1e-9::float8, 'TreeSHAP contributions sum to margin - base value');
SELECT cmp_ok((SELECT max(abs((e->>'margin')::float8 - ln(p / (1 - p)))) FROM expl),
              '<', 1e-9::float8, 'the explained margin is the score''s log-odds');
-- covers are training row counts: the base value is the mean training margin
SELECT cmp_ok((SELECT abs(avg(ln(p / (1 - p))) - (SELECT min((e->>'base_value')::float8) FROM expl))
               FROM (SELECT ecml.fraud_score(m, f) AS p FROM payments, gb WHERE i % 5 <> 0) s),
              '<', 1e-4::float8, 'the base value is the mean margin over the training rows');
-- Shapley "dummy": a feature no tree splits on contributes exactly zero
CREATE TABLE gb_dummy AS
SELECT ecml.fraud_train(ARRAY[f[1], f[2], 7, f[4]]::real[], fraud, '{"n_trees": 20}') AS m
FROM payments WHERE i % 5 <> 0;
SELECT is((SELECT count(*) FROM payments, gb_dummy
           WHERE i <= 200 AND (ecml.fraud_explain(m, ARRAY[f[1], f[2], 7, f[4]]::real[])->'contributions'->>'x3')::float8 <> 0),
          0::bigint, 'a feature that is never split on gets zero contribution');
-- stumps make an additive model: a feature's contribution depends on its own value only
CREATE TABLE gb_stump AS
SELECT ecml.fraud_train(f, fraud, '{"n_trees": 30, "max_depth": 1}') AS m FROM payments WHERE i % 5 <> 0;
SELECT cmp_ok((SELECT max(abs((a->>'x1')::float8 - (b->>'x1')::float8) + abs((a->>'x3')::float8 - (b->>'x3')::float8))
               FROM (SELECT ecml.fraud_explain(m, f)->'contributions' AS a,
                            ecml.fraud_explain(m, ARRAY[f[1], f[2] + 7, f[3], f[4], f[5], f[6], f[7], f[8]]::real[])->'contributions' AS b
                     FROM payments, gb_stump WHERE i <= 200) s),
              '<', 1e-12::float8, 'with stumps, changing one feature leaves the others'' contributions unchanged');
-- with interactions, a single-feature split of the credit follows the hot path
SELECT cmp_ok((SELECT (ecml.fraud_explain(m, '{7.5, 2, 30, 0, 0, 0.5, 0.5, 0}')->'contributions'->>'amount')::float8 FROM gb),
              '>', 0.5::float8, 'a large night payment credits the amount');

-- missing values: the learned default direction follows the evidence
SELECT setseed(0.17);
CREATE TABLE miss AS
SELECT i, x, CASE WHEN gone THEN 'NaN'::real ELSE x END AS xm, gone,
       random() < CASE WHEN gone THEN 0.6 WHEN x > 0.5 THEN 0.3 ELSE 0.02 END AS fraud
FROM (SELECT i, random()::real AS x, random() < 0.15 AS gone FROM generate_series(1, 20000) i) s;
CREATE TABLE miss_m AS
SELECT ecml.fraud_train(ARRAY[xm, i % 7]::real[], fraud, '{"n_trees": 30}') AS m FROM miss;
SELECT cmp_ok((SELECT ecml.fraud_score(m, '{NaN, 3}') FROM miss_m), '>', 0.45::float8,
              'a missing value that signals fraud scores high');
SELECT cmp_ok((SELECT ecml.fraud_score(m, '{0.2, 3}') FROM miss_m), '<', 0.08::float8,
              'present low values score low');
-- the same data with missing meaning "safe": the direction flips
CREATE TABLE miss_safe AS
SELECT ecml.fraud_train(ARRAY[xm, i % 7]::real[], CASE WHEN gone THEN false ELSE fraud END, '{"n_trees": 30}') AS m FROM miss;
SELECT cmp_ok((SELECT ecml.fraud_score(m, '{NaN, 3}') FROM miss_safe), '<', 0.02::float8,
              'a missing value that signals safety scores low');
-- missing values seen only in scoring go with the larger child, not to an arbitrary side
SELECT cmp_ok((SELECT abs(ecml.fraud_score(m, ARRAY[NULL, 3]::real[]) - ecml.fraud_score(m, '{NaN, 3}')) FROM miss_m),
              '=', 0::float8, 'NULL and NaN elements route the same way');
CREATE TABLE miss_null AS
SELECT ecml.fraud_train(ARRAY[CASE WHEN gone THEN NULL ELSE x END, i % 7]::real[], fraud, '{"n_trees": 30}') AS m FROM miss;
SELECT is((SELECT count(*) FROM miss, miss_m a, miss_null b WHERE i <= 2000
           AND ecml.fraud_score(a.m, ARRAY[xm, i % 7]::real[]) <> ecml.fraud_score(b.m, ARRAY[xm, i % 7]::real[])),
          0::bigint, 'training with NULL elements equals training with NaN');

-- early stopping keeps the best iteration
CREATE TABLE es AS
SELECT ecml.fraud_train(f, fraud, '{"n_trees": 400, "learning_rate": 0.5, "max_depth": 8, "min_child_weight": 0.1, "l2": 0.1,
                                    "validation_fraction": 0.25, "early_stopping_rounds": 8, "seed": 5}') AS m
FROM payments WHERE i % 5 <> 0;
CREATE TABLE es_info AS
SELECT (i->>'trees')::int AS trees, (i->'metrics'->>'best_iteration')::int AS best,
       (i->'metrics'->>'iterations')::int AS iterations, (i->'metrics'->>'stopped_early')::boolean AS stopped,
       (SELECT min(ord) FROM jsonb_array_elements_text(i->'metrics'->'valid_log_loss_history') WITH ORDINALITY h(v, ord)
        WHERE v::float8 = (SELECT min(v2::float8) FROM jsonb_array_elements_text(i->'metrics'->'valid_log_loss_history') v2)) AS argmin
FROM es, ecml.model_info(m) i;
SELECT ok((SELECT stopped AND iterations < 400 FROM es_info), 'training stopped early on an overfitting schedule');
SELECT is((SELECT trees FROM es_info), (SELECT argmin::int FROM es_info), 'the model keeps the trees up to the lowest validation loss');
SELECT is((SELECT iterations - trees FROM es_info), 8, 'it stopped 8 rounds after the best');
-- the kept model equals one trained for exactly that many trees on the same split
CREATE TABLE es_fixed AS
SELECT ecml.fraud_train(f, fraud, jsonb_build_object('n_trees', (SELECT trees FROM es_info), 'learning_rate', 0.5, 'max_depth', 8,
                                    'min_child_weight', 0.1, 'l2', 0.1, 'validation_fraction', 0.25, 'early_stopping_rounds', 0, 'seed', 5)) AS m
FROM payments WHERE i % 5 <> 0;
SELECT is((SELECT count(*) FROM payments, es a, es_fixed b WHERE i <= 3000 AND ecml.fraud_score(a.m, f) <> ecml.fraud_score(b.m, f)),
          0::bigint, 'the early-stopped model scores exactly as the best iteration''s');

-- parallel aggregation gives the same model
CREATE TABLE serial_m AS
SELECT ecml.fraud_train(f, fraud, '{"n_trees": 40, "subsample": 0.8, "colsample": 0.75, "validation_fraction": 0.1, "seed": 9}') AS m
FROM payments WHERE i % 5 <> 0;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Partial Mode"') AS mode
                                 FROM pg_temp.plan_json('SELECT ecml.fraud_train(f, fraud) FROM payments WHERE i % 5 <> 0') p) s
                  WHERE mode = '"Partial"'),
          'the training aggregate runs as a parallel partial aggregate');
CREATE TABLE par_m AS
SELECT ecml.fraud_train(f, fraud, '{"n_trees": 40, "subsample": 0.8, "colsample": 0.75, "validation_fraction": 0.1, "seed": 9}') AS m
FROM payments WHERE i % 5 <> 0;
SELECT is((SELECT ecml.model_info(m)->'rows' FROM par_m), (SELECT ecml.model_info(m)->'rows' FROM serial_m),
          'the parallel run saw every row');
SELECT is((SELECT ecml.model_info(m)->'validation_rows' FROM par_m), (SELECT ecml.model_info(m)->'validation_rows' FROM serial_m),
          'row selection does not depend on row order');
SELECT cmp_ok((SELECT max(abs(ecml.fraud_score(a.m, f) - ecml.fraud_score(b.m, f))) FROM payments, serial_m a, par_m b WHERE i % 5 = 0),
              '<', 1e-6::float8, 'parallel and serial models score the same');
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Workers Planned"') AS w
                                 FROM pg_temp.plan_json('SELECT sum(ecml.fraud_score((SELECT m FROM gb), f)) FROM payments') p) s
                  WHERE w::int > 0),
          'scoring runs in parallel workers');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- cancellation: a statement timeout stops a long training (plpgsql's
-- OTHERS does not catch query_canceled, so name it).  The bound only
-- catches a loop that ignores cancel (100000 trees take many minutes): it
-- is generous so that a loaded 2-core machine meets it; how soon training
-- stops is measured by test/extra/cancel_all.sh, not asserted.
CREATE FUNCTION pg_temp.seconds_until_canceled(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN -1;
EXCEPTION WHEN query_canceled THEN
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
SET LOCAL statement_timeout = '500ms';
CREATE TABLE canceled AS
SELECT pg_temp.seconds_until_canceled($$SELECT ecml.fraud_train(f, fraud, '{"n_trees": 100000, "max_depth": 10, "min_child_weight": 0}') FROM payments$$) AS s;
RESET statement_timeout;
SELECT cmp_ok((SELECT s FROM canceled), '>', 0::float8, 'a statement timeout cancels training');
SELECT cmp_ok((SELECT s FROM canceled), '<', 60::float8, 'training stopped (within 60 s, a bound for loaded machines)');

SELECT * FROM finish();
ROLLBACK;
