-- The registry (issue 16, items 3, 5 and 6):
-- - ecml.model() never answers from a lookup the caller's snapshot no
--   longer agrees with: a save, a rolled-back save, a delete in a
--   subtransaction, another session's committed save, another role;
-- - what the registry and ecml.model_info() say about a model comes from
--   its validated header, not from its INFO section, and reads the same in
--   every time zone;
-- - row security: a model belongs to a role; one team cannot read,
--   replace, hand over or delete another team's models, scorers read the
--   teams they belong to, readers see metadata but not the weights.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
CREATE EXTENSION IF NOT EXISTS dblink;
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(40);

CREATE TEMP TABLE reg_rows AS
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3), (i % 5)::real]::real[] AS f
FROM generate_series(1, 200) i;
-- three different models of the same shape
CREATE TEMP TABLE reg_m AS
SELECT k, (SELECT ecml.logreg_train(f, f[k] > 0) FROM reg_rows) AS m
FROM generate_series(1, 3) k;
GRANT SELECT ON reg_m, reg_rows TO PUBLIC;

-- One call site for the whole transaction: PL/pgSQL keeps a simple
-- expression's state (and ecml.model()'s fn_extra) until the transaction
-- ends, so every call below goes through the same remembered lookup.
CREATE FUNCTION pg_temp.reg_current(n text) RETURNS text LANGUAGE plpgsql AS
$$BEGIN RETURN md5(ecml.model(n)); END$$;
CREATE FUNCTION pg_temp.reg_md5(k int) RETURNS text LANGUAGE sql AS
$$SELECT md5(m) FROM reg_m WHERE reg_m.k = $1$$;

-- ---- item 3: a save is seen by the next statement of the transaction ----

SELECT ecml.save_model('reg_st', m) FROM reg_m WHERE k = 1;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(1), 'ecml.model() reads the saved model');
SELECT ecml.save_model('reg_st', m) FROM reg_m WHERE k = 2;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(2),
          'after a save in the same transaction the same call site returns the new model');

-- a retraining procedure that saves, then scores
CREATE FUNCTION pg_temp.reg_retrain_and_score(k int) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ecml.save_model('reg_st', (SELECT m FROM reg_m WHERE reg_m.k = $1));
    RETURN ecml.logreg_predict(ecml.model('reg_st'), '{0.5, -0.5, 2}');
END $$;
SELECT is(pg_temp.reg_retrain_and_score(3),
          (SELECT ecml.logreg_predict(m, '{0.5, -0.5, 2}') FROM reg_m WHERE k = 3),
          'save then score in one function scores with the new model');
SELECT is(pg_temp.reg_retrain_and_score(1),
          (SELECT ecml.logreg_predict(m, '{0.5, -0.5, 2}') FROM reg_m WHERE k = 1),
          '... and again with another model, in the same transaction');

-- inside one PL/pgSQL block, a loop of save-then-read
CREATE TEMP TABLE reg_log (k int, got text, want text);
DO $$
DECLARE
    got text;
BEGIN
    FOR i IN 1 .. 3 LOOP
        PERFORM ecml.save_model('reg_loop', (SELECT m FROM reg_m WHERE k = i));
        got := md5(ecml.model('reg_loop'));
        INSERT INTO reg_log VALUES (i, got, pg_temp.reg_md5(i));
    END LOOP;
END $$;
SELECT is((SELECT count(*) FROM reg_log WHERE got = want), 3::bigint,
          'a PL/pgSQL loop reads each model it saved');

-- rollback to a savepoint brings the old model back
SELECT ecml.save_model('reg_st', m) FROM reg_m WHERE k = 2;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(2), 'before the savepoint');
SAVEPOINT reg_s1;
SELECT ecml.save_model('reg_st', m) FROM reg_m WHERE k = 3;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(3), 'inside the savepoint: the new model');
ROLLBACK TO SAVEPOINT reg_s1;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(2),
          'after ROLLBACK TO SAVEPOINT: the old model again');

-- a rolled-back save inside an exception block
DO $$
BEGIN
    BEGIN
        PERFORM ecml.save_model('reg_st', (SELECT m FROM reg_m WHERE k = 1));
        IF pg_temp.reg_current('reg_st') <> pg_temp.reg_md5(1) THEN
            RAISE EXCEPTION 'not the new model inside the block';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'P0009';
    EXCEPTION WHEN SQLSTATE 'P0009' THEN
        NULL;
    END;
END $$;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(2),
          'a save rolled back by an exception block is not seen');

-- a delete in a subtransaction, then its rollback
SAVEPOINT reg_s2;
DELETE FROM ecml.models WHERE name = 'reg_st';
SELECT throws_ok($$SELECT pg_temp.reg_current('reg_st')$$, '42704', NULL,
                 'a deleted model is gone for the same call site');
ROLLBACK TO SAVEPOINT reg_s2;
SELECT is(pg_temp.reg_current('reg_st'), pg_temp.reg_md5(2), 'and back after the rollback');

-- another session's committed save is seen by the next statement (READ
-- COMMITTED), never by the statement already running
SELECT dblink_connect('reg_other', format('dbname=%s host=%s port=%s user=%s',
                      current_database(), split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_user));
SELECT r FROM reg_m, dblink('reg_other', format('SELECT ecml.save_model(%L, %L::bytea)', 'reg_remote', m)) AS t(r text) WHERE k = 1;
SELECT is(pg_temp.reg_current('reg_remote'), pg_temp.reg_md5(1), 'another session''s model');
SELECT r FROM reg_m, dblink('reg_other', format('SELECT ecml.save_model(%L, %L::bytea)', 'reg_remote', m)) AS t(r text) WHERE k = 2;
SELECT is(pg_temp.reg_current('reg_remote'), pg_temp.reg_md5(2),
          'another session''s committed replacement is seen by the next statement');
SELECT dblink_exec('reg_other', $$DELETE FROM ecml.models WHERE name = 'reg_remote'$$);
SELECT throws_ok($$SELECT pg_temp.reg_current('reg_remote')$$, '42704', NULL,
                 'another session''s committed delete is seen too');
SELECT dblink_disconnect('reg_other');

-- ---- item 5: the header decides, not the INFO section -------------------

-- CRC-32C and little-endian helpers, to rebuild a model's INFO section
CREATE TEMP TABLE reg_crc_table AS
SELECT array_agg(c ORDER BY n) AS t
FROM (SELECT n, (WITH RECURSIVE r(k, v) AS (
                     SELECT 0, n::bigint
                     UNION ALL
                     SELECT k + 1, CASE WHEN v & 1 = 1 THEN (v >> 1) # 2197175160 ELSE v >> 1 END
                     FROM r WHERE k < 8)
                 SELECT v FROM r WHERE k = 8) AS c
      FROM generate_series(0, 255) n) s;
CREATE FUNCTION pg_temp.reg_crc(b bytea, first int, len int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t bigint[] := (SELECT t FROM reg_crc_table);
    crc bigint := 4294967295;
BEGIN
    FOR j IN first .. first + len - 1 LOOP
        crc := (crc >> 8) # t[((crc # get_byte(b, j)) & 255) + 1];
    END LOOP;
    RETURN crc # 4294967295;
END $$;
CREATE FUNCTION pg_temp.reg_put(b bytea, off int, len int, v bigint) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    FOR j IN 0 .. len - 1 LOOP
        b := set_byte(b, off + j, ((v >> (8 * j)) & 255)::int);
    END LOOP;
    RETURN b;
END $$;
CREATE FUNCTION pg_temp.reg_get(b bytea, off int, len int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v bigint := 0;
BEGIN
    FOR j IN REVERSE len - 1 .. 0 LOOP
        v := (v << 8) | get_byte(b, off + j);
    END LOOP;
    RETURN v;
END $$;
-- The model with its INFO section's JSON replaced by info, every size and
-- both checksums made valid again.
CREATE FUNCTION pg_temp.reg_with_info(b bytea, info text) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    off int := 64;
    len int;
    data bytea := convert_to(info, 'UTF8');
    padded bytea;
BEGIN
    LOOP
        len := pg_temp.reg_get(b, off + 8, 8);
        EXIT WHEN pg_temp.reg_get(b, off, 4) = pg_temp.reg_get(convert_to('INFO', 'UTF8'), 0, 4);
        off := off + 16 + len + (16 - len % 16) % 16;
    END LOOP;
    padded := data || decode(repeat('00', (16 - length(data) % 16) % 16), 'hex');
    b := substring(b FROM 1 FOR off + 8) || '\x0000000000000000'::bytea || padded
         || substring(b FROM off + 16 + len + (16 - len % 16) % 16 + 1);
    b := pg_temp.reg_put(b, off + 8, 8, length(data));
    b := pg_temp.reg_put(b, 16, 8, length(b) - 64);
    b := pg_temp.reg_put(b, 24, 4, pg_temp.reg_crc(b, 64, length(b) - 64));
    RETURN pg_temp.reg_put(b, 60, 4, pg_temp.reg_crc(b, 0, 60));
END $$;

-- the model's own INFO section, plus every key model_info derives itself
CREATE TEMP TABLE reg_forged AS
SELECT m AS real,
       pg_temp.reg_with_info(m, ((ecml.model_info(m) - ARRAY['kind', 'format_version', 'size_bytes', 'rows',
                                                             'rows_skipped', 'created_at', 'hyperparameters',
                                                             'metrics', 'feature_names', 'sections'])
                                 || '{"kind": "gbdt", "rows": 999999, "rows_skipped": 7,
                                      "created_at": "1999-01-01T00:00:00Z", "format_version": 9,
                                      "size_bytes": 1, "metrics": {"auc": 1}, "sections": [],
                                      "hyperparameters": {"l2": 42}, "feature_names": ["x"]}')::text) AS forged
FROM reg_m WHERE k = 1;
SELECT is(ecml.model_info(forged) - 'size_bytes' - 'sections',
          ecml.model_info(real) - 'size_bytes' - 'sections',
          'model_info ignores an INFO section''s kind, rows, created_at, metrics and the other keys it owns')
FROM reg_forged;
SELECT is((ecml.model_info(forged)->>'size_bytes')::int, length(forged),
          'model_info''s size is the value''s own') FROM reg_forged;
SELECT is((ecml.model_info(forged)->>'features')::int, 3, 'the INFO section''s shape is still shown')
FROM reg_forged;
SELECT ecml.save_model('reg_forged', forged) FROM reg_forged;
SELECT is((SELECT ROW(kind, rows, trained_at, metrics) FROM ecml.models WHERE name = 'reg_forged'),
          (SELECT ROW('logreg'::text, (ecml.model_info(real)->>'rows')::bigint,
                      (ecml.model_info(real)->>'created_at')::timestamptz, ecml.model_info(real)->'metrics')
           FROM reg_forged),
          'save_model stores the header''s kind, rows and creation time, and the METR section''s metrics');
SELECT throws_ok($$SELECT ecml.model_info(pg_temp.reg_with_info(m, '[{"kind": "gbdt"}]')) FROM reg_m WHERE k = 1$$,
                 'XX001', 'invalid ecml model: INFO section is not a JSON object',
                 'an INFO section that is not an object is refused');
SELECT throws_ok($$SELECT ecml.model_info(pg_temp.reg_with_info(m, '"{\"kind\": \"gbdt\"}"')) FROM reg_m WHERE k = 1$$,
                 'XX001', 'invalid ecml model: INFO section is not a JSON object',
                 'an INFO section that is a string is refused');

-- IMMUTABLE means the same answer in every session
CREATE TEMP TABLE reg_tz (zone text, style text, info jsonb);
DO $$
DECLARE
    z text;
BEGIN
    FOREACH z IN ARRAY ARRAY['UTC', 'Asia/Tokyo', 'America/St_Johns', 'Pacific/Kiritimati'] LOOP
        PERFORM set_config('TimeZone', z, true);
        PERFORM set_config('DateStyle', CASE WHEN z = 'UTC' THEN 'ISO, MDY' ELSE 'SQL, DMY' END, true);
        INSERT INTO reg_tz SELECT z, current_setting('DateStyle'), ecml.model_info(m) FROM reg_m WHERE k = 1;
    END LOOP;
END $$;
RESET TimeZone;
RESET DateStyle;
SELECT is((SELECT count(DISTINCT info) FROM reg_tz), 1::bigint,
          'model_info is the same under every TimeZone and DateStyle');
SELECT matches((SELECT info->>'created_at' FROM reg_tz LIMIT 1),
               '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$', 'created_at is ISO 8601 in UTC');
SELECT is((SELECT (info->>'created_at')::timestamptz FROM reg_tz WHERE zone = 'Asia/Tokyo'),
          (SELECT '2000-01-01 00:00:00+00'::timestamptz + pg_temp.reg_get(m, 48, 8) * interval '1 microsecond'
           FROM reg_m WHERE k = 1),
          'created_at is the header''s creation time to the microsecond');

-- ---- item 6: models belong to roles -------------------------------------

-- the roles README's "Security and privileges" describes: owners (teams)
-- with no privileges, and what trainers, scorers and readers may do
CREATE ROLE reg_team_a NOLOGIN;
CREATE ROLE reg_team_b NOLOGIN;
CREATE ROLE reg_trainer NOLOGIN;
CREATE ROLE reg_scorer NOLOGIN;
CREATE ROLE reg_reader NOLOGIN;
GRANT USAGE ON SCHEMA ecml TO reg_trainer, reg_scorer, reg_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO reg_trainer;
GRANT SELECT ON ecml.models TO reg_scorer;
GRANT SELECT (name, kind, trained_at, rows, metrics, owner) ON ecml.models TO reg_reader;
CREATE ROLE reg_alice IN ROLE reg_trainer, reg_team_a;
CREATE ROLE reg_bob IN ROLE reg_trainer, reg_team_b;
CREATE ROLE reg_svc IN ROLE reg_scorer, reg_team_a, reg_team_b;
CREATE ROLE reg_ann IN ROLE reg_reader, reg_team_a;

SET ROLE reg_alice;
SELECT ecml.save_model('reg_a', m) FROM reg_m WHERE k = 1;
SELECT is((SELECT owner::text FROM ecml.models WHERE name = 'reg_a'), 'reg_alice', 'a new model belongs to the role that saved it');
UPDATE ecml.models SET owner = 'reg_team_a' WHERE name = 'reg_a';
SELECT is((SELECT owner::text FROM ecml.models WHERE name = 'reg_a'), 'reg_team_a', 'its owner hands it to the team');
SET ROLE reg_bob;
SELECT ecml.save_model('reg_b', m) FROM reg_m WHERE k = 2;
UPDATE ecml.models SET owner = 'reg_team_b' WHERE name = 'reg_b';

-- team b cannot see, replace, change or delete team a's model
SELECT is((SELECT array_agg(name) FROM ecml.models), '{reg_b}', 'team b sees only its own models');
SELECT throws_ok($$SELECT ecml.model('reg_a')$$, '42704', 'ecml model "reg_a" does not exist',
                 'ecml.model() does not read another team''s model');
SELECT throws_ok($$SELECT ecml.save_model('reg_a', m) FROM reg_m WHERE k = 3$$, '42501', NULL,
                 'save_model cannot replace another team''s model');
UPDATE ecml.models SET model = (SELECT m FROM reg_m WHERE k = 3), rows = 0 WHERE name = 'reg_a';
DELETE FROM ecml.models WHERE name = 'reg_a';
SELECT throws_ok($$UPDATE ecml.models SET owner = 'reg_team_a' WHERE name = 'reg_b'$$, '42501', NULL,
                 'a model cannot be handed to a team its owner does not belong to');
SELECT throws_ok($$INSERT INTO ecml.models (name, kind, model, trained_at, rows, owner)
                   SELECT 'reg_planted', 'logreg', m, now(), 1, 'reg_team_a' FROM reg_m WHERE k = 3$$, '42501', NULL,
                 'a model cannot be planted in another team''s name');
RESET ROLE;
SELECT is((SELECT md5(model) || ' ' || rows FROM ecml.models WHERE name = 'reg_a'),
          pg_temp.reg_md5(1) || ' 200', 'team b''s UPDATE and DELETE left team a''s model alone');

-- the same call site under another role does not answer from its last lookup
SET ROLE reg_alice;
SELECT is(pg_temp.reg_current('reg_a'), pg_temp.reg_md5(1), 'team a reads its model');
SET ROLE reg_bob;
SELECT throws_ok($$SELECT pg_temp.reg_current('reg_a')$$, '42704', NULL,
                 'the same call site then refuses it to team b');

-- a member of the owner replaces the model; the team keeps it
SET ROLE reg_alice;
SELECT ecml.save_model('reg_a', m) FROM reg_m WHERE k = 2;
SELECT is((SELECT owner::text || ' ' || md5(model) FROM ecml.models WHERE name = 'reg_a' AND live),
          'reg_team_a ' || pg_temp.reg_md5(2), 'a member of the team replaces its model, which stays the team''s');

-- a scorer reads every team it belongs to and writes nothing
SET ROLE reg_svc;
SELECT ok((SELECT ecml.logreg_predict(ecml.model('reg_a'), '{1, 1, 1}') + ecml.logreg_predict(ecml.model('reg_b'), '{1, 1, 1}'))
          BETWEEN 0 AND 2, 'a scorer scores with both teams'' models');
SELECT throws_ok($$SELECT ecml.save_model('reg_a', ecml.model('reg_b'))$$, '42501', 'permission denied for table models',
                 'a scorer cannot save');
SELECT throws_ok($$DELETE FROM ecml.models WHERE name = 'reg_a'$$, '42501', 'permission denied for table models',
                 'a scorer cannot delete');

-- a reader sees its teams' metadata, not the weights
SET ROLE reg_ann;
SELECT is((SELECT array_agg(DISTINCT name || ' ' || kind || ' ' || owner::text) FROM ecml.models), '{"reg_a logreg reg_team_a"}',
          'a reader lists its team''s models');
SELECT throws_ok($$SELECT model FROM ecml.models$$, '42501', 'permission denied for table models',
                 'a reader cannot read the weights');
SELECT throws_ok($$SELECT ecml.model('reg_a')$$, '42501', 'permission denied for table models',
                 'nor load them with ecml.model()');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
