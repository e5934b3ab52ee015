-- Core: version, GUCs, the model container, the registry, options errors.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

SELECT ecml.version();
SELECT ecml.blas_info() ?& ARRAY['library', 'version', 'arch', 'threading', 'threads'] AS has_keys,
       ecml.blas_info()->>'threading' AS threading,
       (ecml.blas_info()->>'threads')::int AS threads;
SET ecml.blas_threads = 2;
SELECT (ecml.blas_info()->>'threads')::int AS threads;
RESET ecml.blas_threads;
SHOW ecml.train_memory_limit;
SHOW ecml.progress;
SET ecml.blas_threads = 0;
SET ecml.no_such_setting = 1;

-- CRC-32C (Castagnoli) in SQL, only to forge headers for the checks below.
CREATE FUNCTION pg_temp.crc32c(b bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    crc bigint := 4294967295;
BEGIN
    FOR i IN 0 .. length(b) - 1 LOOP
        crc := crc # get_byte(b, i);
        FOR k IN 1 .. 8 LOOP
            IF crc & 1 = 1 THEN
                crc := (crc >> 1) # 2197175160;     -- 0x82F63B78
            ELSE
                crc := crc >> 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN crc # 4294967295;
END $$;
-- Rewrite header bytes [off, off+len) with the little-endian value v and fix the header CRC.
CREATE FUNCTION pg_temp.forge(m bytea, off int, len int, v bigint) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    crc bigint;
BEGIN
    FOR i IN 0 .. len - 1 LOOP
        m := set_byte(m, off + i, ((v >> (8 * i)) & 255)::int);
    END LOOP;
    crc := pg_temp.crc32c(substring(m FROM 1 FOR 60));
    FOR i IN 0 .. 3 LOOP
        m := set_byte(m, 60 + i, ((crc >> (8 * i)) & 255)::int);
    END LOOP;
    RETURN m;
END $$;

CREATE TABLE core_rows AS
SELECT i, ARRAY[sin(i * 0.7), cos(i * 1.3)]::real[] AS f,
       (sin(i * 0.7) + 0.5 * cos(i * 1.3) + 0.8 * sin(i * 12.9898)) > 0 AS y
FROM generate_series(1, 400) i;
CREATE TABLE core_model AS SELECT ecml.logreg_train(f, y) AS m FROM core_rows;

-- the header as documented: magic, version 1, kind 1, header size 64
SELECT substring(m FROM 1 FOR 4) AS magic, get_byte(m, 4) AS version,
       get_byte(m, 6) AS kind, get_byte(m, 8) AS header_size,
       length(m) % 16 AS misalignment
FROM core_model;
SELECT i->>'kind' AS kind, i->'format_version' AS version, i->'rows' AS rows,
       i->'rows_skipped' AS skipped, (i->>'size_bytes')::int = length(m) AS size_ok,
       jsonb_path_query_array(i, '$.sections[*].tag') AS sections
FROM core_model, ecml.model_info(m) AS i;
-- the forge helper reproduces the real header CRC
SELECT pg_temp.forge(m, 4, 2, 1) = m AS forge_is_exact FROM core_model;

-- every failed check is an error that says which
SELECT ecml.model_info('\x'::bytea);
SELECT ecml.model_info('hello world'::bytea);
SELECT ecml.model_info(substring(m FROM 1 FOR 40)) FROM core_model;
\set VERBOSITY terse
SELECT ecml.model_info(substring(m FROM 1 FOR length(m) - 16)) FROM core_model;
SELECT ecml.model_info(m || '\x00'::bytea) FROM core_model;
\set VERBOSITY default
SELECT ecml.model_info(set_byte(m, 200, get_byte(m, 200) # 16)) FROM core_model;
SELECT ecml.model_info(set_byte(m, 33, get_byte(m, 33) # 1)) FROM core_model;
SELECT ecml.model_info(set_byte(m, 4, 2)) FROM core_model;
SELECT ecml.model_info(pg_temp.forge(m, 4, 2, 0)) FROM core_model;
SELECT ecml.model_info(pg_temp.forge(m, 6, 2, 99)) FROM core_model;
SELECT ecml.model_info(pg_temp.forge(m, 8, 4, 48)) FROM core_model;
SELECT ecml.model_info(pg_temp.forge(m, 12, 4, 1000)) FROM core_model;
SELECT ecml.model_info(pg_temp.forge(m, 28, 4, 7)) FROM core_model;
SELECT ecml.model_info(pg_temp.forge(m, 32, 8, -1)) FROM core_model;
-- a valid container of another kind is refused by a logreg function
SELECT ecml.model_info(pg_temp.forge(m, 6, 2, 2))->>'kind' AS forged_kind FROM core_model;
SELECT ecml.logreg_predict(pg_temp.forge(m, 6, 2, 2), '{1,2}') FROM core_model;
SELECT ecml.model_info(NULL) IS NULL AS null_in_null_out;

-- the registry
SELECT ecml.save_model('core', m) FROM core_model;
SELECT name, kind, rows, metrics ? 'iterations' AS has_metrics FROM ecml.models;
SELECT ecml.model('core') = m AS same_bytes FROM core_model;
SELECT ecml.save_model('core', m) FROM core_model;     -- replaces
SELECT count(*) FROM ecml.models;
-- ecml.model() keeps one lookup per query and call site, keyed by name
SELECT ecml.save_model('core2', ecml.logreg_train(f, y, '{"l2": 1}')) FROM core_rows;
SELECT n, ecml.model(n) = (SELECT model FROM ecml.models WHERE name = n AND live) AS same
FROM (VALUES (1, 'core'), (2, 'core2'), (3, 'core'), (4, 'core2')) v(i, n) ORDER BY i;
SELECT ecml.model('missing');
SELECT ecml.save_model('bad', 'not a model'::bytea);
SELECT ecml.save_model(NULL, m) FROM core_model;
SELECT ecml.save_model('nothing', NULL);
-- pg_dump keeps the registry's rows; TOAST stores models uncompressed
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid)
    JOIN pg_class c ON c.oid = t.oid WHERE e.extname = 'ecml';
SELECT attstorage FROM pg_attribute WHERE attrelid = 'ecml.models'::regclass AND attname = 'model';
-- created_at is the header's time in UTC, ISO 8601, whatever the session's
-- TimeZone and DateStyle (model_info is IMMUTABLE), and save_model reads
-- it back exactly: the epoch, the first and the last valid microsecond
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
SELECT v, ecml.model_info(pg_temp.forge(m, 48, 8, v))->>'created_at' AS created_at
FROM core_model, (VALUES (0::bigint), (-211813488000000000), (9223371331199999999)) t(v);
SELECT ecml.save_model('core_' || i, pg_temp.forge(m, 48, 8, v))
FROM core_model, (VALUES (1, 0::bigint), (2, -211813488000000000), (3, 9223371331199999999)) t(i, v);
RESET DateStyle;
SET TimeZone = 'UTC';
SELECT name, trained_at FROM ecml.models WHERE name IN ('core_1', 'core_2', 'core_3') ORDER BY name;
RESET TimeZone;
-- row security: a model belongs to the role that saved it; a role with
-- every table privilege still cannot replace, change or delete a model of a
-- role it does not belong to
SELECT polname, polcmd, pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS check
FROM pg_policy WHERE polrelid = 'ecml.models'::regclass;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'ecml.models'::regclass;
CREATE ROLE regress_ecml_team_a;
CREATE ROLE regress_ecml_team_b;
GRANT USAGE ON SCHEMA ecml TO regress_ecml_team_a, regress_ecml_team_b;
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO regress_ecml_team_a, regress_ecml_team_b;
GRANT SELECT ON core_model TO regress_ecml_team_a, regress_ecml_team_b;
SET ROLE regress_ecml_team_a;
SELECT ecml.save_model('core_a', m) FROM core_model;
SELECT name, owner FROM ecml.models;
SET ROLE regress_ecml_team_b;
\set VERBOSITY terse
SELECT ecml.save_model('core_a', m) FROM core_model;
\set VERBOSITY default
SELECT ecml.model('core_a');
UPDATE ecml.models SET rows = 0 WHERE name = 'core_a';
DELETE FROM ecml.models WHERE name = 'core_a';
INSERT INTO ecml.models (name, kind, model, trained_at, rows, owner)
SELECT 'core_b', 'logreg', m, now(), 1, 'regress_ecml_team_a' FROM core_model;
SELECT ecml.save_model('core_b', m) FROM core_model;
UPDATE ecml.models SET owner = 'regress_ecml_team_a' WHERE name = 'core_b';
RESET ROLE;
SELECT name, owner, rows FROM ecml.models WHERE name IN ('core_a', 'core_b') ORDER BY name;
DELETE FROM ecml.models;
REVOKE ALL ON ecml.models, core_model FROM regress_ecml_team_a, regress_ecml_team_b;
REVOKE ALL ON SCHEMA ecml FROM regress_ecml_team_a, regress_ecml_team_b;
DROP ROLE regress_ecml_team_a;
DROP ROLE regress_ecml_team_b;

-- options: not an object, unknown key, wrong type, out of range, bad choice
SELECT ecml.logreg_train(f, y, '[1, 2]') FROM core_rows;
SELECT ecml.logreg_train(f, y, '"l2"') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"l3": 1}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"l2": "strong"}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"l2": -1}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"max_iter": 2.5}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"max_iter": 0}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"fit_intercept": 1}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"solver": "sgd"}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"solver": 1}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"class_weight": "even"}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"class_weight": 0}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"class_weight": true}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"feature_names": "a"}') FROM core_rows;
SELECT ecml.logreg_train(f, y, '{"feature_names": ["a", 1]}') FROM core_rows;
-- null means the default
SELECT ecml.model_info(ecml.logreg_train(f, y, '{"l2": null}'))->'hyperparameters'->'l2' AS l2 FROM core_rows;

-- the memory cap
SET ecml.train_memory_limit = '1MB';
SELECT ecml.logreg_train(ARRAY[i, i, i, i, i, i, i, i]::real[], i % 2 = 0)
FROM generate_series(1, 100000) i;
RESET ecml.train_memory_limit;
