-- ecml demo: purchase probability for a synthetic online shop.
--
-- Run it in any fresh database (it creates tables sessions, session_features
-- and test_scores in the current schema):
--   createdb purchase_demo && psql -X -v ON_ERROR_STOP=1 -d purchase_demo -f examples/demo.sql
-- Its last step schedules retraining with pg_cron, which can only be created
-- in the database named by cron.database_name; elsewhere the step is skipped.
-- The data are generated here with a fixed seed, so every run prints the same
-- numbers (up to floating-point rounding in the last digits).

\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;

\echo
\echo '== 1. A shop''s web sessions (50,000, generated with a fixed seed)'
\echo '   Each session has pages viewed, duration, the landing page''s bounce rate,'
\echo '   whether the visitor came back, the month, the device and the traffic source.'
\echo '   Whether it ended in a purchase is drawn from a known logistic model of these.'

-- setseed() makes random() repeat; generate_series() is scanned by the
-- leader alone, so the rows get the same random numbers in the same order.
SELECT setseed(0.42) \gset
CREATE TABLE sessions AS
WITH raw AS MATERIALIZED (
    SELECT id,
           least(60, 1 + floor(-ln(1 - random()) * 4))::int    AS pages_viewed,
           random()                                              AS r_duration,
           round((0.15 + 0.6 * random())::numeric, 3)::real      AS bounce_rate,
           random() < 0.3                                        AS returning_visitor,
           1 + floor(random() * 12)::int                         AS month,
           random()                                              AS r_device,
           random()                                              AS r_source
    FROM generate_series(1, 50000) AS id
), s AS MATERIALIZED (
    SELECT id, pages_viewed,
           round(pages_viewed * (15 + 90 * r_duration) + 5)::int AS duration_s,
           bounce_rate, returning_visitor, month,
           CASE WHEN r_device < 0.60 THEN 'mobile'
                WHEN r_device < 0.95 THEN 'desktop'
                ELSE 'tablet' END                                AS device,
           CASE WHEN r_source < 0.35 THEN 'search'
                WHEN r_source < 0.55 THEN 'direct'
                WHEN r_source < 0.75 THEN 'ads'
                WHEN r_source < 0.90 THEN 'social'
                ELSE 'email' END                                 AS source
    FROM raw
)
SELECT s.*,
       -- the "true" model the regression should recover
       random() < 1 / (1 + exp(-(
             -3.6
           + 0.18 * least(pages_viewed, 25)
           + 0.35 * ln(1 + duration_s / 60.0)
           - 1.8 * bounce_rate
           + 0.8 * returning_visitor::int
           + 0.6 * (month IN (11, 12))::int
           + CASE device WHEN 'desktop' THEN 0.35 WHEN 'mobile' THEN -0.15 ELSE 0 END
           + CASE source WHEN 'email' THEN 0.7 WHEN 'search' THEN 0.2
                         WHEN 'ads' THEN 0.1 WHEN 'social' THEN -0.4 ELSE 0 END
       ))) AS purchased
FROM s
ORDER BY id;
ALTER TABLE sessions ADD PRIMARY KEY (id);
ANALYZE sessions;

SELECT * FROM sessions ORDER BY id LIMIT 5;
SELECT count(*) AS sessions,
       round(avg(purchased::int), 4) AS purchase_rate
FROM sessions;

\echo
\echo '== 2. Feature vectors (real[]): numeric features, then hashed categories'
\echo '   ecml.hash_features(tokens, n) hashes "device=desktop", "source=ads", ... into'
\echo '   n columns (+1 or -1 each, like scikit-learn''s FeatureHasher); || appends them.'
CREATE TABLE session_features AS
SELECT id,
       ARRAY[pages_viewed,
             ln(1 + duration_s / 60.0),
             bounce_rate,
             returning_visitor::int,
             (month IN (11, 12))::int]::real[]
       -- The commonest levels (mobile, direct) are the baseline and are
       -- left out; with every level hashed, each category's buckets would
       -- together duplicate the intercept.
       || ecml.hash_features(array_remove(array_remove(
              ARRAY['device=' || device, 'source=' || source],
              'device=mobile'), 'source=direct'), 16)
           AS features,
       purchased
FROM sessions
ORDER BY id;
ANALYZE session_features;

SELECT id, features, purchased FROM session_features ORDER BY id LIMIT 3;

-- One name per feature, for the coefficient table and model_info.
SELECT jsonb_build_object(
           'l2', 1e-4,
           'feature_names', to_jsonb(
               ARRAY['pages_viewed', 'log_duration_min', 'bounce_rate',
                     'returning_visitor', 'holiday_season']
               || ARRAY(SELECT 'hash_' || i FROM generate_series(0, 15) AS i)))
       AS train_options \gset

\echo
\echo '== 3. Train on 80% of the sessions (id % 5 <> 0) and save the model'
\timing on
SELECT ecml.save_model('purchase', ecml.logreg_train(features, purchased, :'train_options'))
FROM session_features
WHERE id % 5 <> 0 \gset
\timing off

SELECT name, kind, rows, pg_size_pretty(octet_length(model)::bigint) AS size
FROM ecml.models;

\echo
\echo '== 4. What is in the model: ecml.model_info(ecml.model(''purchase''))'
\echo '   (its list of binary sections and the repeated feature names left out here)'
SELECT jsonb_pretty(ecml.model_info(ecml.model('purchase'))
                    - 'sections' #- '{hyperparameters,feature_names}') AS model_info;

\echo
\echo '== 5. Coefficients in the features'' original units (intercept first)'
\echo '   odds_ratio: how the odds of a purchase change when the feature grows by one;'
\echo '   true_value: the coefficient the data were drawn with (hashed buckets not shown).'
SELECT c.feature,
       round(c.coefficient::numeric, 4) AS coefficient,
       round(c.std_error::numeric, 4)   AS std_error,
       round(c.z::numeric, 2)           AS z,
       round(c.p_value::numeric, 4)     AS p_value,
       round(c.odds_ratio::numeric, 3)  AS odds_ratio,
       t.true_value
FROM ecml.logreg_coefficients(ecml.model('purchase')) WITH ORDINALITY AS c
JOIN (VALUES ('(intercept)', -3.75),   -- -3.6, plus -0.15 for the mobile baseline
             ('pages_viewed', 0.18), ('log_duration_min', 0.35),
             ('bounce_rate', -1.8), ('returning_visitor', 0.8),
             ('holiday_season', 0.6)) AS t(feature, true_value)
     ON t.feature = c.feature
ORDER BY c.ordinality;

\echo
\echo '== 6. Score the held-out 20% (id % 5 = 0)'
\echo '   The scalar subquery fetches the model once for the whole query.'
CREATE TABLE test_scores AS
SELECT id, purchased,
       ecml.logreg_predict((SELECT ecml.model('purchase')), features) AS p
FROM session_features
WHERE id % 5 = 0;

SELECT s.id, s.pages_viewed, s.duration_s, s.device, s.source,
       round(t.p::numeric, 3) AS purchase_probability, s.purchased
FROM test_scores t JOIN sessions s USING (id)
ORDER BY t.p DESC, id
LIMIT 5;

\echo
\echo '== 7. How good is it?  Metrics on the held-out sessions'
\echo '   (baselines: pages viewed alone as the score; the base rate as the probability)'
SELECT count(*)                                            AS test_sessions,
       round(ecml.roc_auc(p, purchased)::numeric, 4)           AS roc_auc,
       round(ecml.average_precision(p, purchased)::numeric, 4) AS average_precision,
       round(ecml.log_loss(p, purchased)::numeric, 4)          AS log_loss
FROM test_scores;

SELECT round(ecml.roc_auc(s.pages_viewed, t.purchased)::numeric, 4)           AS roc_auc_pages_only,
       round(ecml.average_precision(s.pages_viewed, t.purchased)::numeric, 4) AS average_precision_pages_only,
       round(ecml.log_loss(b.rate, t.purchased)::numeric, 4)                  AS log_loss_base_rate
FROM test_scores t
JOIN sessions s USING (id)
CROSS JOIN (SELECT avg(purchased::int)::float8 AS rate
            FROM sessions WHERE id % 5 <> 0) AS b;

\echo
\echo '== 8. Retrain every night with pg_cron'
-- pg_cron lives in one database (cron.database_name); anywhere else, say so.
SELECT coalesce(current_setting('cron.database_name', true) = current_database(), false)
       AND EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron') AS in_cron_db \gset
\if :in_cron_db
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT cron.schedule('retrain-purchase', '0 3 * * *', format(
    $$SELECT ecml.save_model('purchase', ecml.logreg_train(features, purchased, %L))
      FROM session_features WHERE id %% 5 <> 0$$, :'train_options')) IS NOT NULL AS scheduled;
SELECT jobname, schedule, database FROM cron.job;
\else
\echo '   skipped: pg_cron runs in the database named by cron.database_name, not in this one.'
\echo '   There, schedule the statement of step 3 with cron.schedule().'
\endif

\echo
\echo 'Done.  Tables: sessions, session_features, test_scores; models: ecml.models.'
