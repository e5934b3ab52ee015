-- Model lifecycle (issue 21): versions numbered and kept, the promotion
-- policy (better, equal, worse within and beyond the tolerance), rollback,
-- retention, row security per owner, a statement running during a
-- promotion keeps the version it started with, and ecml.tune finds the
-- known best options on generated data.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
CREATE EXTENSION IF NOT EXISTS dblink;
BEGIN;
SET LOCAL client_min_messages = error;
SELECT plan(33);

-- a logistic truth on two features; a held-out set of the same
SELECT setseed(0.21);
CREATE TABLE lc_train AS
SELECT i, ARRAY[x1, x2, random() * 2 - 1]::real[] AS f,
       random() < 1 / (1 + exp(-(3 * x1 - 2 * x2))) AS y
FROM (SELECT i, random() * 2 - 1 AS x1, random() * 2 - 1 AS x2 FROM generate_series(1, 3000) i) s;
CREATE TABLE lc_holdout AS SELECT * FROM lc_train WHERE i % 5 = 0;
DELETE FROM lc_train WHERE i % 5 = 0;
CREATE TABLE lc_m AS
SELECT 'good' AS k, ecml.logreg_train(f, y) AS m FROM lc_train
UNION ALL SELECT 'shuffled', ecml.logreg_train(f, y) FROM (SELECT f, (random() < 0.5) AS y FROM lc_train) s
UNION ALL SELECT 'shrunk', ecml.logreg_train(f, y, '{"l2": 30}') FROM lc_train
UNION ALL SELECT 'half', ecml.logreg_train(f, y) FROM lc_train WHERE i % 2 = 0;
CREATE FUNCTION pg_temp.m(k text) RETURNS bytea LANGUAGE sql AS $$SELECT m FROM lc_m WHERE lc_m.k = $1$$;
CREATE FUNCTION pg_temp.live(n text) RETURNS int LANGUAGE sql AS
$$SELECT version FROM ecml.models WHERE name = n AND live$$;
\set holdout '{"holdout": "SELECT f, y FROM lc_holdout"}'

-- ---- versions numbered and kept --------------------------------------------
SELECT is(ecml.save_version('lc', pg_temp.m('shuffled')), 1, 'the first save is version 1');
SELECT is(ecml.save_version('lc', pg_temp.m('good'), :'holdout'), 2, 'the next is version 2');
SELECT is((SELECT array_agg(version ORDER BY version) FROM ecml.models WHERE name = 'lc'), '{1,2}',
          'both versions are kept');
SELECT is(pg_temp.live('lc'), 2, 'a better version on the held-out rows is promoted');
SELECT is(md5(ecml.model('lc')), md5(pg_temp.m('good')), 'ecml.model(name) reads the live version');
SELECT is(md5(ecml.model('lc', 1)), md5(pg_temp.m('shuffled')), 'ecml.model(name, version) reads a given one');
SELECT ok((SELECT (holdout_metrics->>'auc')::float8 > 0.8 AND (holdout_metrics->>'rows')::int = 600
                  AND saved_by = current_user AND saved_at IS NOT NULL
           FROM ecml.models WHERE name = 'lc' AND version = 2),
          'the version carries its held-out metrics (600 rows), who saved it and when');

-- ---- the promotion policy ----------------------------------------------------
SELECT is(ecml.save_version('lc', pg_temp.m('good'), :'holdout'), 3, 'the same model again');
SELECT is(pg_temp.live('lc'), 3, 'equal on the held-out rows: promoted (not worse)');
SELECT is(ecml.save_version('lc', pg_temp.m('shuffled'), :'holdout'::jsonb || '{"tolerance": 0.1}'), 4,
          'a model trained on shuffled labels is saved');
SELECT is(pg_temp.live('lc'), 3, '... but not promoted: worse by more than the tolerance');
SELECT is((SELECT event || ' ' || from_version FROM ecml.model_history WHERE name = 'lc' AND version = 4),
          'refused 3', 'the refusal is in ecml.model_history, with the live version it was compared with');
SELECT ok((SELECT reason LIKE 'auc % on the held-out rows, live version 3: % (higher is better, tolerance 0.1)'
                  AND value < live_value - 0.1 AND tolerance = 0.1
           FROM ecml.model_history WHERE name = 'lc' AND version = 4), 'and says why, with both metrics');
SELECT is(ecml.save_version('lc', pg_temp.m('shrunk'), :'holdout'::jsonb || '{"metric": "log_loss"}'), 5,
          'a strongly regularized model: worse log loss');
SELECT is(pg_temp.live('lc'), 3, 'refused at tolerance 0');
SELECT is(ecml.save_version('lc', pg_temp.m('shrunk'), :'holdout'::jsonb || '{"metric": "log_loss", "tolerance": 1}'), 6,
          'the same model with tolerance 1');
SELECT is(pg_temp.live('lc'), 6, 'worse, but within the tolerance: promoted');

-- ---- promote and rollback ------------------------------------------------------
SELECT ecml.promote('lc', 4);
SELECT is(pg_temp.live('lc'), 4, 'ecml.promote() makes a refused version live');
SELECT is(ecml.rollback('lc'), 6, 'ecml.rollback() returns to the version live before it');
SELECT is(ecml.rollback('lc'), 3, 'and again, one further back');
SELECT is((SELECT string_agg(event, ',' ORDER BY at) FROM ecml.model_history WHERE name = 'lc' AND event <> 'refused'),
          'promoted,promoted,promoted,promoted,promoted,rolled_back,rolled_back', 'every promotion and rollback is logged');

-- ---- retention ----------------------------------------------------------------
SET LOCAL ecml.keep_versions = 2;
SELECT ecml.save_version('lc', pg_temp.m('half'), '{"promote": "never"}');
SELECT is((SELECT array_agg(version ORDER BY version) FROM ecml.models WHERE name = 'lc'), '{3,6,7}',
          'ecml.keep_versions = 2 keeps the newest two and the live one');
RESET ecml.keep_versions;

-- ---- row security per owner -----------------------------------------------------
CREATE ROLE lc_team_a NOLOGIN;
CREATE ROLE lc_team_b NOLOGIN;
GRANT USAGE ON SCHEMA ecml TO lc_team_a, lc_team_b;
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO lc_team_a, lc_team_b;
GRANT SELECT ON ecml.model_history TO lc_team_a, lc_team_b;
GRANT SELECT ON lc_m, lc_holdout TO lc_team_a, lc_team_b;
SET LOCAL ROLE lc_team_a;
SELECT ecml.save_version('lc_a', pg_temp.m('good'));
SELECT ecml.save_version('lc_a', pg_temp.m('half'), '{"promote": "never"}');
SET LOCAL ROLE lc_team_b;
SELECT is((SELECT count(*)::int FROM ecml.models WHERE name = 'lc_a') + (SELECT count(*)::int FROM ecml.model_history WHERE name = 'lc_a'),
          0, 'another team sees none of the versions and none of their history');
SELECT throws_ok($$SELECT ecml.promote('lc_a', 2)$$, '42704', NULL, 'nor promotes one');
SELECT throws_ok($$SELECT ecml.rollback('lc_a')$$, '42704', NULL, 'nor rolls one back');
SELECT throws_ok($$SELECT ecml.save_version('lc_a', pg_temp.m('good'))$$, '42501', NULL, 'nor saves a version under that name');
RESET ROLE;

-- ---- a statement running during a promotion keeps its version ---------------
SELECT dblink_connect('lc_other', format('dbname=%s host=%s port=%s user=%s',
                      current_database(), split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_user));
SELECT dblink_exec('lc_other', $$DELETE FROM ecml.models WHERE name = 'lc_c'$$);
SELECT r FROM dblink('lc_other', $$SELECT ecml.save_model('lc_c', ecml.logreg_train(ARRAY[i, 1]::real[], i % 2 = 0))::text FROM generate_series(1, 50) i$$) AS t(r text);
SELECT r FROM dblink('lc_other', $$SELECT ecml.save_model('lc_c', ecml.logreg_train(ARRAY[i, 1]::real[], i % 3 = 0))::text FROM generate_series(1, 50) i$$) AS t(r text);
-- a cursor is one statement: it scores with the snapshot it was opened
-- with, while another session's rollback commits half-way through
CREATE FUNCTION pg_temp.lc_during_rollback() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c CURSOR FOR SELECT g, md5(ecml.model('lc_c')) AS m FROM generate_series(1, 6) g;
    r record;
    seen text[] := '{}';
BEGIN
    OPEN c;
    FOR i IN 1 .. 3 LOOP
        FETCH c INTO r;
        seen := seen || r.m;
    END LOOP;
    PERFORM * FROM dblink('lc_other', 'SELECT ecml.rollback(''lc_c'')') AS t(v int);
    LOOP
        FETCH c INTO r;
        EXIT WHEN NOT FOUND;
        seen := seen || r.m;
    END LOOP;
    CLOSE c;
    RETURN (SELECT string_agg(DISTINCT x, ',') FROM unnest(seen) x) || ' ' || cardinality(seen);
END $$;
CREATE TEMP TABLE lc_before AS SELECT md5(ecml.model('lc_c')) AS live, 2 AS version;
SELECT is(pg_temp.lc_during_rollback(), (SELECT live FROM lc_before) || ' 6',
          'a statement running while another session rolls back scores all its rows with the version it started with');
SELECT is(md5(ecml.model('lc_c')), md5(ecml.model('lc_c', 1)), 'the next statement reads the rolled-back-to version');
SELECT dblink_exec('lc_other', $$DELETE FROM ecml.models WHERE name = 'lc_c'$$);
SELECT dblink_disconnect('lc_other');

-- ---- tune: the known answer ------------------------------------------------------
-- heavy L2 flattens the probabilities: the best log loss has the least L2
CREATE TEMP TABLE lc_tune AS
SELECT * FROM ecml.tune('logreg', 'SELECT f, y FROM lc_train', '{"l2": [100, 0.001, 10]}',
                        '{"folds": 3, "metric": "log_loss", "save_as": "lc_tuned"}');
SELECT is((SELECT array_agg(training_options->>'l2' ORDER BY rank) FROM lc_tune), '{0.001,10,100}',
          'tune ranks the L2 values by 3-fold log loss, best first');
SELECT ok((SELECT bool_and(folds = 3 AND spread >= 0 AND mean > 0 AND metric = 'log_loss') FROM lc_tune),
          'with the mean and spread of the metric over 3 folds');
SELECT is((SELECT options->>'l2' FROM ecml.models WHERE name = 'lc_tuned' AND live), '0.001',
          'save_as saves the best options as a new version');
-- the source runs once into a temporary table that every fold reads: the
-- same folds and the same results as rerunning it per fold, and no table
-- is left behind
SELECT is((SELECT array_agg(ARRAY[training_options->>'l2', mean::text, spread::text] ORDER BY rank)
           FROM ecml.tune('logreg', 'SELECT f, y FROM lc_train', '{"l2": [100, 0.001, 10]}',
                          '{"folds": 3, "metric": "log_loss", "materialize": false}')),
          (SELECT array_agg(ARRAY[training_options->>'l2', mean::text, spread::text] ORDER BY rank) FROM lc_tune),
          'tune gives the same means and spreads whether the source is materialized once or rerun per fold');
SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'ecml\_tune\_%' AND relpersistence = 't'), 0::bigint,
          'tune drops its temporary table');

SELECT * FROM finish();
ROLLBACK;
