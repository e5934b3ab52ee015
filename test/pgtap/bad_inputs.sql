-- The bad-input matrix (issue 8, part 2), generated at run time from the
-- catalog: every function and aggregate that belongs to the extension is
-- called once per bad value of each argument, the other arguments staying
-- valid.  Each call must end in a result or an ERROR whose SQLSTATE is one
-- of ecml's documented classes (never XX000, never a crash), and the
-- connection must answer SELECT 1 afterwards.  A function whose argument
-- has no rule (a new type, or a new argument without a valid value) fails
-- the test, so a new signature cannot escape it.
--
-- Bad values by type: NULL, empty / 2-D / 3-D arrays, arrays with a NULL
-- element, wrong lengths (1, d-1, d+1, 100000), NaN/Infinity/-Infinity,
-- zero, negative, huge and INT32/INT64 bounds, bad option objects (every
-- option key of the trainer with values of the wrong type or out of
-- range), hostile text, and corrupted models of every kind: truncated at
-- every byte (logreg) or section boundary (all kinds), raw and "resealed"
-- (header sizes and both CRC32C checksums recomputed, so the damage
-- reaches the section walker and the kind's decoder), bit flips in every
-- header byte and through the payload, a model of every other kind, a
-- model relabelled as another kind with valid checksums, and a newer
-- format version with valid checksums.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SET LOCAL client_min_messages = warning;
-- a runaway case must not hang the suite.  The cases run in one DO
-- statement that takes about 90 s on a busy 2-core machine (load average
-- 60): the cap is generous so that load alone never reaches it.
SET LOCAL statement_timeout = '20min';

-- ---- fixtures: one small valid model of every kind -------------------------

CREATE TEMP TABLE bi_fx (kind text PRIMARY KEY, m bytea NOT NULL);
INSERT INTO bi_fx
SELECT 'logreg', ecml.logreg_train(ARRAY[sin(i), cos(i * 0.7), i % 5]::real[], sin(i * 1.3) > 0)
FROM generate_series(1, 60) i
UNION ALL
SELECT 'gbdt', ecml.fraud_train(ARRAY[sin(i), cos(i * 0.7), i % 5]::real[], sin(i * 1.3) > 0, '{"n_trees": 3}')
FROM generate_series(1, 60) i
UNION ALL
SELECT 'iforest', ecml.anomaly_train(ARRAY[sin(i), cos(i * 0.7), i % 5]::real[], '{"n_trees": 3, "sample_size": 16}')
FROM generate_series(1, 60) i
UNION ALL
SELECT 'mf', ecml.mf_train(i % 7, i % 11, 1 + i % 3, '{"factors": 4, "iterations": 2}')
FROM generate_series(1, 200) i
UNION ALL
SELECT 'vectors', ecml.pack_vectors(i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[])
FROM generate_series(1, 20) i
UNION ALL
SELECT 'lstm_int', ecml.lstm_train(ARRAY[i % 3, i % 5, i % 7, (i + 1) % 3]::bigint[],
                                   '{"epochs": 1, "hidden_size": 4, "embedding_dim": 4}')
FROM generate_series(1, 40) i
UNION ALL
SELECT 'lstm_text', ecml.lstm_train(ARRAY['view', CASE WHEN i % 2 = 0 THEN 'cart' ELSE 'view' END, 'purchase'],
                                    '{"epochs": 1, "hidden_size": 4, "embedding_dim": 4}')
FROM generate_series(1, 40) i
UNION ALL
SELECT 'wordvec', ecml.word2vec_train(ARRAY['warm', 'coat', 'w' || i % 3, CASE WHEN i % 2 = 0 THEN 'parka' ELSE 'jacket' END],
                                      '{"dim": 4, "epochs": 1, "min_count": 1, "minn": 3, "maxn": 4, "buckets": 1000}')
FROM generate_series(1, 40) i
UNION ALL
SELECT 'textclf', ecml.text_classifier_train(ARRAY['warm', 'coat', 'w' || i % 3], 'l' || i % 3,
                                             '{"dim": 4, "epochs": 1, "word_ngrams": 2, "buckets": 1000}')
FROM generate_series(1, 40) i;
SELECT ecml.save_model('bi_model', m) FROM bi_fx WHERE kind = 'logreg';

-- ---- CRC32C (Castagnoli, reflected 0x82F63B78) to reseal damaged models ----

CREATE TEMP TABLE bi_crc_table AS
SELECT array_agg(c ORDER BY n) AS t
FROM (SELECT n, (WITH RECURSIVE r(k, v) AS (
                     SELECT 0, n::bigint
                     UNION ALL
                     SELECT k + 1, CASE WHEN v & 1 = 1 THEN (v >> 1) # 2197175160 ELSE v >> 1 END
                     FROM r WHERE k < 8)
                 SELECT v FROM r WHERE k = 8) AS c
      FROM generate_series(0, 255) n) s;

CREATE FUNCTION pg_temp.bi_crc(b bytea, first int, len int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t bigint[] := (SELECT t FROM bi_crc_table);
    crc bigint := 4294967295;
BEGIN
    FOR j IN first .. first + len - 1 LOOP
        crc := (crc >> 8) # t[((crc # get_byte(b, j)) & 255) + 1];
    END LOOP;
    RETURN crc # 4294967295;
END $$;

CREATE FUNCTION pg_temp.bi_put32(b bytea, off int, v bigint) RETURNS bytea
LANGUAGE plpgsql AS $$
BEGIN
    FOR j IN 0 .. 3 LOOP
        b := set_byte(b, off + j, ((v >> (8 * j)) & 255)::int);
    END LOOP;
    RETURN b;
END $$;

CREATE FUNCTION pg_temp.bi_get32(b bytea, off int) RETURNS bigint
LANGUAGE sql AS $$
    SELECT get_byte(b, off)::bigint | (get_byte(b, off + 1)::bigint << 8)
         | (get_byte(b, off + 2)::bigint << 16) | (get_byte(b, off + 3)::bigint << 24)
$$;

-- Make a damaged model pass the container's size and checksum checks:
-- payload size = what follows the header, payload CRC and header CRC
-- recomputed.  What is left to catch it are the section walk and the
-- kind's own decoder.
CREATE FUNCTION pg_temp.bi_reseal(b bytea, keep_payload_crc boolean DEFAULT false) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    plen int := length(b) - 64;
BEGIN
    IF length(b) < 64 THEN
        RETURN b;
    END IF;
    b := pg_temp.bi_put32(b, 16, plen);
    b := pg_temp.bi_put32(b, 20, 0);
    IF NOT keep_payload_crc THEN
        b := pg_temp.bi_put32(b, 24, pg_temp.bi_crc(b, 64, plen));
    END IF;
    RETURN pg_temp.bi_put32(b, 60, pg_temp.bi_crc(b, 0, 60));
END $$;

-- ---- damaged models: one table of variants per kind -----------------------

CREATE TEMP TABLE bi_models (id serial PRIMARY KEY, kind text, label text, m bytea);

DO $$
DECLARE
    f record;
    b bytea;
    len int;
    off int;
    nsec int;
    slen bigint;
    bounds int[];
    stride int;
    t int;
    kinds text[] := ARRAY['logreg', 'mf', 'vectors', 'lstm', 'gbdt', 'iforest', 'wordvec', 'textclf'];
BEGIN
    FOR f IN SELECT kind, m FROM bi_fx ORDER BY kind LOOP
        b := f.m;
        len := length(b);
        INSERT INTO bi_models (kind, label, m) VALUES
            (f.kind, 'valid', b),
            (f.kind, 'empty bytea', '\x'),
            (f.kind, 'one zero byte', '\x00'),
            (f.kind, 'not a model (64 bytes of 0xAB)', decode(repeat('ab', 64), 'hex')),
            (f.kind, 'text instead of a model', convert_to('ECML this is not a model at all, only some text to fill 64 bytes', 'UTF8')),
            (f.kind, '16 trailing zero bytes (raw)', b || decode(repeat('00', 16), 'hex')),
            (f.kind, '16 trailing zero bytes (resealed)', pg_temp.bi_reseal(b || decode(repeat('00', 16), 'hex'))),
            (f.kind, 'doubled (raw)', b || b),
            (f.kind, 'header twice (resealed)', pg_temp.bi_reseal(substr(b, 1, 64) || b));

        -- section boundaries, from the section walk of the valid model
        bounds := ARRAY[64];
        off := 64;
        nsec := pg_temp.bi_get32(b, 12)::int;
        FOR s IN 1 .. nsec LOOP
            slen := pg_temp.bi_get32(b, off + 8) + (pg_temp.bi_get32(b, off + 12) << 32);
            bounds := bounds || (off + 16);
            off := off + 16 + slen::int + ((16 - slen::int % 16) % 16);
            bounds := bounds || off;
        END LOOP;

        -- truncation: every byte of the smallest model, every boundary
        -- (and one byte either side) of every model, raw and resealed;
        -- resealed with the section count cut to the complete sections left
        IF f.kind = 'logreg' THEN
            FOR t IN 0 .. len - 1 LOOP
                INSERT INTO bi_models (kind, label, m)
                VALUES (f.kind, 'truncated to ' || t || ' bytes (raw)', substr(b, 1, t));
            END LOOP;
        END IF;
        FOR k IN 1 .. array_length(bounds, 1) LOOP
            FOREACH t IN ARRAY ARRAY[bounds[k] - 1, bounds[k], bounds[k] + 1] LOOP
                CONTINUE WHEN t < 64 OR t >= len;
                IF f.kind <> 'logreg' THEN
                    INSERT INTO bi_models (kind, label, m)
                    VALUES (f.kind, 'truncated to ' || t || ' bytes (raw)', substr(b, 1, t));
                END IF;
                INSERT INTO bi_models (kind, label, m)
                VALUES (f.kind, 'truncated to ' || t || ' bytes (resealed)', pg_temp.bi_reseal(substr(b, 1, t)));
                IF k % 2 = 1 AND t = bounds[k] THEN
                    INSERT INTO bi_models (kind, label, m)
                    VALUES (f.kind, 'truncated to ' || t || ' bytes, ' || (k - 1) / 2 || ' sections (resealed)',
                            pg_temp.bi_reseal(pg_temp.bi_put32(substr(b, 1, t), 12, (k - 1) / 2)));
                END IF;
            END LOOP;
        END LOOP;

        -- header: one bit of every byte, raw (caught by the header CRC) and
        -- resealed (reaches the field checks behind it)
        FOR j IN 0 .. 63 LOOP
            INSERT INTO bi_models (kind, label, m)
            VALUES (f.kind, 'header byte ' || j || ' bit ' || j % 8 || ' flipped (raw)',
                    set_byte(b, j, get_byte(b, j) # (1 << (j % 8))));
            CONTINUE WHEN j >= 60;
            INSERT INTO bi_models (kind, label, m)
            VALUES (f.kind, 'header byte ' || j || ' bit ' || j % 8 || ' flipped (header CRC fixed)',
                    set_byte(set_byte(b, j, get_byte(b, j) # (1 << (j % 8))), 60, 0));
        END LOOP;
        UPDATE bi_models SET m = pg_temp.bi_put32(m, 60, pg_temp.bi_crc(m, 0, 60))
        WHERE kind = f.kind AND label LIKE 'header byte % (header CRC fixed)';

        -- header fields with valid checksums
        INSERT INTO bi_models (kind, label, m)
        SELECT f.kind, x.label, pg_temp.bi_reseal(x.m, true)
        FROM (VALUES
            ('format version 2 (newer, checksums valid)', set_byte(b, 4, 2)),
            ('format version 65535 (checksums valid)', set_byte(set_byte(b, 4, 255), 5, 255)),
            ('format version 0 (checksums valid)', set_byte(b, 4, 0)),
            ('kind 0 (checksums valid)', set_byte(b, 6, 0)),
            ('kind 9 (checksums valid)', set_byte(b, 6, 9)),
            ('kind 65535 (checksums valid)', set_byte(set_byte(b, 6, 255), 7, 255)),
            ('header size 0 (checksums valid)', pg_temp.bi_put32(b, 8, 0)),
            ('header size 128 (checksums valid)', pg_temp.bi_put32(b, 8, 128)),
            ('section count 0 (checksums valid)', pg_temp.bi_put32(b, 12, 0)),
            ('section count 1 (checksums valid)', pg_temp.bi_put32(b, 12, 1)),
            ('section count +1 (checksums valid)', pg_temp.bi_put32(b, 12, nsec + 1)),
            ('section count 2^32-1 (checksums valid)', pg_temp.bi_put32(b, 12, 4294967295)),
            ('reserved field set (checksums valid)', set_byte(b, 28, 1)),
            ('rows seen -1 (checksums valid)', set_byte(b, 39, 255)),
            ('rows skipped -1 (checksums valid)', set_byte(b, 47, 255))) x(label, m);
        -- relabelled as every other kind, checksums valid: the kind check
        -- passes and the other kind's decoder gets these sections
        INSERT INTO bi_models (kind, label, m)
        SELECT f.kind, 'relabelled as ' || kinds[k] || ' (checksums valid)',
               pg_temp.bi_reseal(set_byte(b, 6, k), true)
        FROM generate_series(1, array_length(kinds, 1)) k
        WHERE kinds[k] <> regexp_replace(f.kind, '_(int|text)$', '');
        -- the payload: raw flips (payload CRC), then resealed flips of every
        -- section-header byte and through the data
        FOR j IN 0 .. 3 LOOP
            off := 64 + (len - 64) * j / 4;
            INSERT INTO bi_models (kind, label, m)
            VALUES (f.kind, 'payload byte ' || off || ' flipped (raw)', set_byte(b, off, get_byte(b, off) # 16));
        END LOOP;
        FOR k IN 1 .. array_length(bounds, 1) BY 2 LOOP
            CONTINUE WHEN bounds[k] >= len;
            FOR j IN 0 .. 15 LOOP
                INSERT INTO bi_models (kind, label, m)
                VALUES (f.kind, 'section header byte ' || bounds[k] + j || ' bit ' || (j * 3) % 8 || ' flipped (resealed)',
                        pg_temp.bi_reseal(set_byte(b, bounds[k] + j, get_byte(b, bounds[k] + j) # (1 << ((j * 3) % 8)))));
            END LOOP;
            INSERT INTO bi_models (kind, label, m)
            VALUES (f.kind, 'section length at ' || bounds[k] + 8 || ' set to 2^32-1 (resealed)',
                    pg_temp.bi_reseal(pg_temp.bi_put32(b, bounds[k] + 8, 4294967295)));
        END LOOP;
        stride := greatest(1, (len - 64) / 96);
        off := 64;
        WHILE off < len LOOP
            INSERT INTO bi_models (kind, label, m)
            VALUES (f.kind, 'payload byte ' || off || ' bit ' || off % 8 || ' flipped (resealed)',
                    pg_temp.bi_reseal(set_byte(b, off, get_byte(b, off) # (1 << (off % 8)))));
            INSERT INTO bi_models (kind, label, m)
            VALUES (f.kind, 'payload byte ' || off || ' set to 0xFF (resealed)',
                    pg_temp.bi_reseal(set_byte(b, off, 255)));
            off := off + stride;
        END LOOP;
    END LOOP;
END $$;

-- ---- valid arguments ------------------------------------------------------

-- The model kind a function takes, from its name.
CREATE FUNCTION pg_temp.bi_kind(fn regprocedure) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE
        WHEN p.proname LIKE 'logreg\_%' THEN 'logreg'
        WHEN p.proname LIKE 'mf\_%' THEN 'mf'
        WHEN p.proname LIKE 'search%' OR p.proname = 'pack_vectors' THEN 'vectors'
        WHEN p.proname LIKE 'fraud\_%' OR p.proname = 'feature_importance' THEN 'gbdt'
        WHEN p.proname LIKE 'anomaly\_%' THEN 'iforest'
        WHEN p.proname LIKE 'lstm\_%' AND 'text[]'::regtype = ANY (p.proargtypes) THEN 'lstm_text'
        WHEN p.proname LIKE 'lstm\_%' THEN 'lstm_int'
        WHEN p.proname LIKE 'word2vec\_pass%' THEN 'w2vpass'
        WHEN p.proname IN ('word2vec_train', 'word_vectors_load', 'word_vector', 'similar_words', 'embed_text') THEN 'wordvec'
        WHEN p.proname LIKE 'text\_%' THEN 'textclf'
        WHEN p.proname IN ('model_info', 'save_model', 'save_version', 'evaluate') THEN 'any'
        END
    FROM pg_proc p WHERE p.oid = fn
$$;

-- An ecml.lstm_pass checkpoint as ecml.train('lstm') builds it: one token
-- (V = 2), E = H = L = 1, max_length 2, batch_size 1, a shuffle buffer of 1, weights 0.1,
-- learning rate 0.01, seed 42; token_type 0 (bigint) or 1 (text).
CREATE FUNCTION pg_temp.bi_lstm_checkpoint(token_type int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode('5054534c' || lpad(to_hex(token_type), 2, '0') || '000000'
                  || '02000000' || '01000000' || '01000000' || '01000000' || '02000000' || '01000000'
                  || '01000000' || '00000000' || '01000000' || '00000000' || '01000000' || '00000000'
                  || '00000000' || '00000000' || '00000000' || '01000000' || '01000000' || '01000000'
                  || '00000000' || '00000000' || '00000000' || '00000000' || '00000000' || repeat('00', 16)
                  || '7b14ae47e17a843f' || '0000000000001440' || repeat('00', 24) || '2a00000000000000'
                  || repeat('00', 128)
                  || repeat('cdcccc3d', 18) || repeat('00', 144) || '0000000000000000' || '0500000000000000' || repeat('00', 16)
                  || repeat('00', 16), 'hex')
$$;

-- An ecml.word2vec_pass checkpoint as ecml.train('word2vec') builds it: one
-- word (V = 1) of count 1, no n-grams, dim = window = negative = epochs = 1,
-- learning rate 0.025, sif_a 0.001, seed 42, input weight 0.1, then zero
-- output weight, moments and row weights
-- (text_w2v_passes.c: W2vPassState, 192 bytes, then the arrays).
CREATE FUNCTION pg_temp.bi_w2v_checkpoint() RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode('50563257' || '00000000' || '01000000' || '00000000' || '00000000'
                  || '00000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '00000000'
                  || '0000000000000000' || '9a9999999999993f' || '03000000' || '00000000' || '01000000' || '00000000'
                  || 'fca9f1d24d62503f' || '2a00000000000000'
                  || '0100000000000000' || repeat('00', 80)
                  || '0100000000000000' || 'cdcccc3d00000000' || repeat('00', 32), 'hex')
$$;

-- A valid value for one argument, as an SQL expression; in aggregates it
-- may use the row number i (rows come from generate_series(1, 40) i).
-- NULL: no rule, which fails the test.
CREATE FUNCTION pg_temp.bi_valid(fn regprocedure, argname text, argtype regtype, agg boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    kind text := pg_temp.bi_kind(fn);
    pname name := (SELECT proname FROM pg_proc WHERE oid = fn);
BEGIN
    IF argtype = 'bytea'::regtype AND argname = 'word_vectors' THEN
        -- text_classifier_train starts from word vectors of the options' dim (4)
        RETURN '(SELECT m FROM bi_fx WHERE kind = ''wordvec'')';
    ELSIF argtype = 'bytea'::regtype AND argname IN ('model', 'packed') THEN
        RETURN format('(SELECT m FROM bi_fx WHERE kind = %L)',
                      CASE kind WHEN 'any' THEN 'logreg' ELSE kind END);
    ELSIF argtype = 'bytea'::regtype AND argname IN ('state', 'other') THEN
        -- the bytea states of the pass aggregates, called directly
        RETURN 'NULL::bytea';
    ELSIF argtype = 'bytea'::regtype AND argname = 'checkpoint' AND kind = 'w2vpass' THEN
        RETURN 'pg_temp.bi_w2v_checkpoint()';
    ELSIF argtype = 'bytea'::regtype AND argname = 'checkpoint' THEN
        RETURN format('pg_temp.bi_lstm_checkpoint(%s)', CASE kind WHEN 'lstm_text' THEN 1 ELSE 0 END);
    ELSIF argtype = 'bytea'::regtype AND argname = 'sketch' THEN
        RETURN '(SELECT ecml.gbdt_sketch(ARRAY[sin(i), cos(i * 0.7), i % 5]::real[], sin(i * 1.3) > 0, 1000, 16, 0) FROM generate_series(1, 40) i)';
    ELSIF argtype = 'bytea'::regtype AND argname = 'plan' THEN
        -- a pass plan as ecml.train('gbdt') builds it: 3 features of one
        -- bin each, no finished tree, the root open in slot 0
        RETURN '''\x4c50424703000000000000000600000000000000000000000100000001000000000000000000000000000000000000000000f03f000000000000f03f000000000000f03f000000000000000001000000010000000100000000000000020000000400000000000000000000000000000000000000ffffffff0000000000000000000000000000000000000000000000000000000000000000''::bytea';
    ELSIF argtype = 'text'::regtype AND argname = 'kind' THEN
        RETURN '''logreg''::text';
    ELSIF argtype = 'text'::regtype AND argname = 'source' THEN
        RETURN '''SELECT ARRAY[sin(i), cos(i * 0.7), i % 5]::real[], sin(i * 1.3) > 0 FROM generate_series(1, 40) i''::text';
    ELSIF argtype = 'text'::regtype AND argname = 'name' THEN
        -- save_model writes under its own name: ecml.model('bi_model') stays
        RETURN CASE WHEN pname IN ('save_model', 'save_version') THEN '''bi_saved''::text' ELSE '''bi_model''::text' END;
    ELSIF argtype = 'text'::regtype AND argname IN ('holdout', 'query') THEN
        RETURN '''SELECT ARRAY[sin(i), cos(i * 0.7), i % 5]::real[], sin(i * 1.3) > 0 FROM generate_series(1, 40) i''::text';
    ELSIF argtype = 'jsonb'::regtype AND argname = 'grid' THEN
        RETURN '''{"l2": [0.001, 0.1]}''::jsonb';
    ELSIF argtype = 'jsonb'::regtype AND argname = 'options' THEN
        RETURN CASE pname
            WHEN 'logreg_train' THEN '''{"l2": 0.001}''::jsonb'
            WHEN 'train' THEN '''{"l2": 0.001}''::jsonb'
            WHEN 'save_version' THEN '''{"promote": "never"}''::jsonb'
            WHEN 'tune' THEN '''{"folds": 2}''::jsonb'
            WHEN 'fraud_train' THEN '''{"n_trees": 3}''::jsonb'
            WHEN 'anomaly_train' THEN '''{"n_trees": 3, "sample_size": 16}''::jsonb'
            WHEN 'mf_train' THEN '''{"factors": 4, "iterations": 2}''::jsonb'
            WHEN 'pack_vectors' THEN '''{"metric": "cosine"}''::jsonb'
            WHEN 'lstm_train' THEN '''{"epochs": 1, "hidden_size": 4, "embedding_dim": 4}''::jsonb'
            WHEN 'word2vec_train' THEN '''{"dim": 4, "epochs": 1, "min_count": 1, "maxn": 4, "buckets": 1000}''::jsonb'
            WHEN 'word_vectors_load' THEN '''{"sif_a": 0.01}''::jsonb'
            WHEN 'text_classifier_train' THEN '''{"dim": 4, "epochs": 1}''::jsonb'
            END;
    ELSIF argtype = 'real[]'::regtype THEN
        IF agg AND argname = 'features' THEN
            RETURN 'ARRAY[sin(i), cos(i * 0.7), i % 5]::real[]';
        ELSIF agg AND argname = 'embedding' THEN
            RETURN 'ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[]';
        ELSIF argname = 'features' THEN
            RETURN '''{0.5,-0.2,3}''::real[]';
        ELSIF argname IN ('a', 'b', 'v') THEN
            RETURN '''{0.5,-1,2}''::real[]';
        ELSIF argname IN ('query', 'user_vector') THEN
            RETURN '''{0.1,0.2,0.3,0.4}''::real[]';
        ELSIF argname = 'queries' THEN
            RETURN '''{{0.1,0.2,0.3,0.4},{1,0,0,0}}''::real[]';
        ELSIF argname = 'values' THEN
            RETURN '''{1,2}''::real[]';
        ELSIF agg AND argname = 'vector' THEN
            RETURN 'ARRAY[sin(i), cos(i), 1]::real[]';
        ELSIF argname = 'vector' THEN
            RETURN '''{0.1,0.2,0.3,0.4}''::real[]';
        END IF;
    ELSIF argtype = 'real'::regtype AND agg AND argname = 'value' THEN
        RETURN '(1 + i % 3)::real';
    ELSIF argtype = 'real'::regtype AND argname = 'value' THEN
        RETURN '1::real';
    ELSIF argtype = 'boolean'::regtype THEN
        IF agg AND argname IN ('label', 'is_fraud') THEN
            RETURN CASE WHEN pname IN ('logreg_train', 'fraud_train') THEN 'sin(i * 1.3) > 0' ELSE 'i % 3 = 0' END;
        ELSIF argname IN ('exclude_seen', 'label') OR (argname IS NULL AND NOT agg) THEN
            RETURN 'true';
        END IF;
    ELSIF argtype = 'bigint'::regtype THEN
        IF argname = 'seed' THEN RETURN '0::bigint';
        ELSIF agg AND argname = 'user_id' THEN RETURN '(i % 7)::bigint';
        ELSIF agg AND argname = 'item_id' THEN RETURN '(i % 11)::bigint';
        ELSIF agg AND argname = 'id' THEN RETURN 'i::bigint';
        ELSIF agg AND argname = 'other_id' THEN RETURN '(i % 11)::bigint';
        ELSIF argname = 'other_id' THEN RETURN '5::bigint';
        ELSIF argname = 'user_id' THEN RETURN '3::bigint';
        ELSIF argname = 'item_id' THEN RETURN '5::bigint';
        END IF;
    ELSIF argtype = 'integer'::regtype THEN
        RETURN CASE argname WHEN 'version' THEN '1' WHEN 'k' THEN '3' WHEN 'n' THEN '8'
                            WHEN 'max_points' THEN '10' WHEN 'ngrams' THEN '2' WHEN 'feature' THEN '2'
                            WHEN 'sample_size' THEN '1000' WHEN 'max_bins' THEN '16' END;
    ELSIF argtype = 'bigint[]'::regtype THEN
        IF agg AND argname = 'sequence' THEN
            RETURN 'ARRAY[i % 3, i % 5, i % 7, (i + 1) % 3]::bigint[]';
        ELSIF argname = 'sequence' THEN RETURN '''{1,2,0}''::bigint[]';
        ELSIF argname = 'vocabulary' THEN RETURN '''{1}''::bigint[]';
        ELSIF argname = 'item_ids' THEN RETURN '''{1,2}''::bigint[]';
        ELSIF argname = 'recommended' THEN RETURN '''{1,2,3,4}''::bigint[]';
        ELSIF argname = 'relevant' THEN RETURN '''{2,9}''::bigint[]';
        ELSIF argname = 'filter_ids' THEN RETURN '''{1,2,3,4,5}''::bigint[]';
        ELSIF argname = 'exclude' THEN RETURN '''{1}''::bigint[]';
        END IF;
    ELSIF argtype = 'text[]'::regtype THEN
        IF agg AND argname = 'sequence' THEN
            RETURN 'ARRAY[''view'', CASE WHEN i % 2 = 0 THEN ''cart'' ELSE ''view'' END, ''purchase'']';
        ELSIF argname = 'sequence' THEN RETURN '''{view,cart}''::text[]';
        ELSIF argname = 'vocabulary' THEN RETURN '''{view}''::text[]';
        ELSIF agg AND argname = 'tokens' THEN
            RETURN 'ARRAY[''coat'', ''coat'', ''warm'', ''coat'', ''w'' || i % 2, ''coat'', ''coat'']';
        ELSIF argname = 'tokens' THEN RETURN '''{a,b,c}''::text[]';
        END IF;
    ELSIF argtype = 'text'::regtype THEN
        IF agg AND argname = 'label' THEN RETURN '''l'' || i % 3';
        ELSIF agg AND argname = 'word' THEN RETURN '''w'' || i';
        ELSIF argname = 'label' THEN RETURN '''l1''';
        ELSIF argname = 'word' THEN RETURN '''coat''';
        ELSIF argname = 'document' THEN RETURN '''Warm waterproof coats''';
        END IF;
    ELSIF argtype = 'regconfig'::regtype THEN
        RETURN '''english''::regconfig';
    ELSIF argtype = 'double precision'::regtype AND agg THEN
        RETURN CASE argname
            WHEN 'score' THEN '((i * 37) % 100 / 100.0)::float8'
            WHEN 'probability' THEN '((i * 37) % 100 / 100.0)::float8'
            WHEN 'prediction' THEN '(i % 5)::float8'
            WHEN 'actual' THEN '(i % 4)::float8'
            WHEN 'target_precision' THEN '0.5::float8'
            END;
    ELSIF argtype = 'double precision[]'::regtype AND argname = 'params' AND pname LIKE 'mf\_pass%' THEN
        -- an explicit half-step with the items' side fixed
        RETURN '''{0,0,0.1,3,1}''::float8[]';
    ELSIF argtype = 'double precision[]'::regtype AND argname = 'params' AND pname LIKE 'lstm\_vocab\_pass%' THEN
        -- a vocabulary pass: sequences cut to 10 tokens, 100 counters
        RETURN '''{10,100}''::float8[]';
    ELSIF argtype = 'double precision[]'::regtype AND argname = 'params' AND pname LIKE 'iforest\_pass%' THEN
        -- a sampling pass: 2 trees of 4 rows, seed 0
        RETURN '''{2,4,0}''::float8[]';
    ELSIF argtype = 'double precision[]'::regtype AND argname = 'params' THEN
        -- the parameters of a logreg pass: the first pass (counts, moments)
        RETURN '''{0,-1,1,1,1}''::float8[]';
    ELSIF argtype = 'double precision[]'::regtype THEN
        -- the float8[] states of rmse and log_loss (n, sums), called directly
        RETURN '''{3,1.5,0.75}''::float8[]';
    ELSIF argtype = 'double precision'::regtype THEN
        RETURN '0.25::float8';
    END IF;
    RETURN NULL;
END $$;

-- ---- bad values, by argument type ------------------------------------------

-- (label, expression) pairs for one argument; valid is the valid
-- expression (evaluated for its shape).  No rule for the type: no rows,
-- which fails the test.
CREATE FUNCTION pg_temp.bi_bad(fn regprocedure, argname text, argtype regtype, valid text)
RETURNS TABLE (label text, expr text) LANGUAGE plpgsql AS $$
DECLARE
    d int;
    nd int;
    cols int;
    fkind text;
    trainer text;
    keys text[];
    bad_json text[] := ARRAY['-1', '0', '0.5', '1e300', '-1e300', '2147483648', '1e15',
                             '"x"', 'true', 'null', '[]', '{}', '[1, "a"]'];
BEGIN
    IF argtype IN ('real[]'::regtype, 'bigint[]'::regtype, 'text[]'::regtype, 'double precision[]'::regtype) THEN
        EXECUTE format('SELECT cardinality(%s), array_ndims(%s), coalesce(array_length(%s, 2), 0) FROM (SELECT 1 AS i) s',
                       valid, valid, valid) INTO d, nd, cols;
    END IF;
    IF argtype = 'real[]'::regtype OR argtype = 'double precision[]'::regtype THEN
        DECLARE
            t text := CASE WHEN argtype = 'real[]'::regtype THEN 'real' ELSE 'float8' END;
            big text := CASE WHEN argtype = 'real[]'::regtype THEN '3e38' ELSE '1e308' END;
            tiny text := CASE WHEN argtype = 'real[]'::regtype THEN '1e-45' ELSE '5e-324' END;
            fill text;
        BEGIN
            -- shape: a vector of d, or a 2-D batch of rows of cols
            fill := CASE WHEN nd = 2 THEN 'ARRAY[2, %s]' ELSE 'ARRAY[%s]' END;
            RETURN QUERY VALUES
                ('NULL', format('NULL::%s[]', t)),
                ('empty array', format('''{}''::%s[]', t)),
                ('2-D 2x2', format('''{{1,2},{3,4}}''::%s[]', t)),
                ('2-D 1xd', format('array_fill(0.5::%s, ARRAY[1, %s])', t, greatest(d, 1))),
                ('3-D', format('array_fill(0.5::%s, ARRAY[1, 1, %s])', t, greatest(coalesce(nullif(cols, 0), d), 1))),
                ('lower bound 0', format('array_fill(0.5::%s, ARRAY[%s], ARRAY[0])', t, d)),
                ('NULL element', format('array_fill(NULL::%s, ARRAY[1]) || array_fill(0.5::%s, ARRAY[%s])', t, t, greatest(d - 1, 0))),
                ('length 1', format('ARRAY[0.5]::%s[]', t)),
                ('length 100000', format('array_fill(0.5::%s, ARRAY[100000])', t)),
                ('NaN element', format('array_fill(0.5::%s, ARRAY[%s]) || ''NaN''::%s', t, greatest(d - 1, 0), t)),
                ('Infinity element', format('array_fill(0.5::%s, ARRAY[%s]) || ''Infinity''::%s', t, greatest(d - 1, 0), t)),
                ('-Infinity element', format('''-Infinity''::%s || array_fill(0.5::%s, ARRAY[%s])', t, t, greatest(d - 1, 0))),
                ('all zero', format('array_fill(0::%s, ' || fill || ')', t, coalesce(nullif(cols, 0), d))),
                ('all -1', format('array_fill(-1::%s, ' || fill || ')', t, coalesce(nullif(cols, 0), d))),
                ('all huge', format('array_fill(%s::%s, ' || fill || ')', big, t, coalesce(nullif(cols, 0), d))),
                ('all -huge', format('array_fill(-%s::%s, ' || fill || ')', big, t, coalesce(nullif(cols, 0), d))),
                ('all denormal', format('array_fill(%s::%s, ' || fill || ')', tiny, t, coalesce(nullif(cols, 0), d)));
            IF nd = 2 THEN
                RETURN QUERY VALUES
                    ('rows of cols-1', format('array_fill(0.5::%s, ARRAY[2, %s])', t, cols - 1)),
                    ('rows of cols+1', format('array_fill(0.5::%s, ARRAY[2, %s])', t, cols + 1)),
                    ('one row of 100000', format('array_fill(0.5::%s, ARRAY[1, 100000])', t)),
                    ('100000 rows', format('array_fill(0.5::%s, ARRAY[100000, %s])', t, cols)),
                    ('1-D of cols', format('array_fill(0.5::%s, ARRAY[%s])', t, cols)),
                    ('NaN in a row', format('''{{0.1,0.2,0.3,0.4},{NaN,0,0,0}}''::%s[]', t)),
                    ('NULL in a row', format('''{{0.1,0.2,0.3,0.4},{NULL,0,0,0}}''::%s[]', t));
            ELSE
                IF d > 1 THEN
                    RETURN QUERY VALUES ('length d-1', format('array_fill(0.5::%s, ARRAY[%s])', t, d - 1));
                END IF;
                RETURN QUERY VALUES ('length d+1', format('array_fill(0.5::%s, ARRAY[%s])', t, d + 1));
            END IF;
        END;
    ELSIF argtype = 'bigint[]'::regtype THEN
        RETURN QUERY VALUES
            ('NULL', 'NULL::bigint[]'),
            ('empty array', '''{}''::bigint[]'),
            ('2-D', '''{{1,2},{3,4}}''::bigint[]'),
            ('lower bound 0', 'array_fill(1::bigint, ARRAY[2], ARRAY[0])'),
            ('NULL element', '''{1,NULL,2}''::bigint[]'),
            ('length 1', '''{1}''::bigint[]'),
            ('length 100000', '(SELECT array_agg(g) FROM generate_series(1::bigint, 100000) g)'),
            ('INT64 bounds', '''{9223372036854775807,-9223372036854775808}''::bigint[]'),
            ('negative', '''{-1,-2}''::bigint[]'),
            ('duplicates', '''{1,1,1,1}''::bigint[]'),
            ('unknown ids', '''{123456789,987654321}''::bigint[]');
    ELSIF argtype = 'text[]'::regtype THEN
        RETURN QUERY VALUES
            ('NULL', 'NULL::text[]'),
            ('empty array', '''{}''::text[]'),
            ('2-D', '''{{view,cart},{cart,view}}''::text[]'),
            ('lower bound 0', 'array_fill(''view''::text, ARRAY[2], ARRAY[0])'),
            ('NULL element', 'ARRAY[''view'', NULL]::text[]'),
            ('empty string', 'ARRAY['''']::text[]'),
            ('100000-character token', 'ARRAY[repeat(''x'', 100000)]'),
            ('length 100000', 'array_fill(''view''::text, ARRAY[100000])'),
            ('100000 distinct tokens', '(SELECT array_agg(g::text) FROM generate_series(1, 100000) g)'),
            ('non-ASCII', 'ARRAY[''ünïcødé'', ''購物'', ''😀'']');
    ELSIF argtype = 'integer'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::integer'), ('0', '0'), ('-1', '-1'), ('1', '1'),
            ('100000', '100000'), ('INT32 max', '2147483647'), ('INT32 min', '(-2147483647 - 1)');
    ELSIF argtype = 'bigint'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::bigint'), ('0', '0::bigint'), ('-1', '-1::bigint'),
            ('unknown id', '123456789::bigint'), ('INT64 max', '9223372036854775807::bigint'),
            ('INT64 min', '(-9223372036854775807::bigint - 1)');
    ELSIF argtype = 'boolean'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::boolean'), ('true', 'true'), ('false', 'false');
    ELSIF argtype = 'real'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::real'), ('NaN', '''NaN''::real'), ('Infinity', '''Infinity''::real'),
            ('-Infinity', '''-Infinity''::real'), ('0', '0::real'), ('-1', '-1::real'),
            ('huge', '3e38::real'), ('-huge', '-3e38::real');
    ELSIF argtype = 'double precision'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::float8'), ('NaN', '''NaN''::float8'), ('Infinity', '''Infinity''::float8'),
            ('-Infinity', '''-Infinity''::float8'), ('0', '0::float8'), ('-1', '-1::float8'), ('2', '2::float8'),
            ('huge', '1e308::float8'), ('-huge', '-1e308::float8'), ('denormal', '5e-324::float8');
    ELSIF argtype = 'text'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::text'), ('empty', ''''''), ('unknown name', '''no such model'''),
            ('10000 characters', 'repeat(''x'', 10000)'), ('backslash and quote', 'E''a\\b''''c'''),
            ('SQL injection', '''bi_model''''; DROP TABLE ecml.models; --'''),
            ('non-ASCII', '''模型😀''');
    ELSIF argtype = 'regconfig'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::regconfig'), ('simple', '''simple''::regconfig'),
            ('no such configuration (an OID)', '99999::oid::regconfig');
    ELSIF argtype = 'jsonb'::regtype THEN
        RETURN QUERY VALUES ('NULL', 'NULL::jsonb'), ('empty object', '''{}''::jsonb'),
            ('array', '''[1, 2]''::jsonb'), ('string', '''"x"''::jsonb'), ('JSON null', '''null''::jsonb'),
            ('number', '''1''::jsonb'), ('unknown key', '''{"no_such_option": 1}''::jsonb'),
            ('unknown key with valid ones', valid || ' || ''{"no_such_option": 1}''::jsonb');
        -- every option the trainer records, with each bad value
        trainer := (SELECT proname FROM pg_proc WHERE oid = fn);
        fkind := pg_temp.bi_kind(fn);
        SELECT array_agg(k ORDER BY k) INTO keys
        FROM bi_fx f, jsonb_object_keys(ecml.model_info(f.m) -> 'hyperparameters') k
        WHERE f.kind = CASE fkind WHEN 'lstm_text' THEN 'lstm_int' ELSE fkind END;
        IF trainer = 'pack_vectors' THEN
            keys := coalesce(keys, '{}') || '{metric}'::text[];
        END IF;
        RETURN QUERY
            SELECT format('option %s = %s', k, v),
                   format('%s || jsonb_build_object(%L, %L::jsonb)', valid, k, v)
            FROM unnest(keys) k, unnest(bad_json) v;
    ELSIF argtype = 'bytea'::regtype AND argname IN ('state', 'other', 'sketch', 'plan', 'checkpoint') THEN
        -- an aggregate's state (or a gbdt sketch or pass plan): damaged
        -- states of its own kind, and models (not states)
        DECLARE
            st text := CASE WHEN (SELECT proname FROM pg_proc WHERE oid = fn) LIKE 'logreg_pass%'
                            THEN 'ecml.logreg_pass_transfn(NULL, ''{1,2,3}'', true, ''{0,-1,1,1,1}'')'
                            WHEN (SELECT proname FROM pg_proc WHERE oid = fn) LIKE 'iforest_pass%'
                            THEN 'ecml.iforest_pass_transfn(NULL, ''{1,2,3}'', ''{2,4,0}'')'
                            WHEN (SELECT proname FROM pg_proc WHERE oid = fn) LIKE 'gbdt%'
                            THEN 'ecml.gbdt_sketch_transfn(NULL, ''{1,2,3}'', true, 1000, 16, 0)'
                            WHEN (SELECT proname FROM pg_proc WHERE oid = fn) LIKE 'lstm\_vocab\_pass%'
                            THEN 'ecml.lstm_vocab_pass_transfn(NULL, ''{1,2,3}''::bigint[], ''{10,100}'')'
                            WHEN (SELECT proname FROM pg_proc WHERE oid = fn) LIKE 'lstm\_pass%'
                            THEN 'ecml.lstm_pass_transfn(NULL, ''{1,2,1}''::bigint[], ''{1}''::bigint[], pg_temp.bi_lstm_checkpoint(0))'
                            WHEN (SELECT proname FROM pg_proc WHERE oid = fn) LIKE 'word2vec\_pass%'
                            THEN 'ecml.word2vec_pass_transfn(NULL, ''{a,a}''::text[], ''{a}''::text[], pg_temp.bi_w2v_checkpoint())'
                            ELSE 'ecml.score_bins_transfn(NULL, 0.5, true)' END;
        BEGIN
            RETURN QUERY VALUES ('NULL', 'NULL::bytea'), ('empty', '''\x''::bytea'), ('4 bytes', '''\x01020304''::bytea'),
                ('a model, not a state', '(SELECT m FROM bi_fx WHERE kind = ''logreg'')'),
                ('state truncated', format('substr(%s, 1, 60)', st)),
                ('state with a byte flipped in its shape', format('set_byte(%s, 8, 9)', st)),
                ('state with its key bits flipped', format('set_byte(%s, 4, 99)', st)),
                ('state of 10000 features or bins claimed', format('overlay(%s placing ''\x10270000''::bytea from 9)', st)),
                ('state with 2^32 bins claimed', format('overlay(%s placing ''\x0000000001''::bytea from 21)', st)),
                ('state padded', format('%s || ''\x00''::bytea', st));
        END;
    ELSIF argtype = 'bytea'::regtype THEN
        fkind := CASE WHEN argname = 'word_vectors' THEN 'wordvec' ELSE pg_temp.bi_kind(fn) END;
        RETURN QUERY VALUES ('NULL', 'NULL::bytea');
        -- damaged variants of the function's own kind (model_info: of every kind)
        RETURN QUERY
            SELECT format('%s model: %s', m.kind, m.label), format('(SELECT m FROM bi_models WHERE id = %s)', m.id)
            FROM bi_models m
            WHERE (m.kind = fkind OR fkind = 'any') AND m.label <> 'valid'
            ORDER BY m.id;
        -- valid models of every other kind
        RETURN QUERY
            SELECT format('valid %s model (wrong kind)', f.kind), format('(SELECT m FROM bi_fx WHERE kind = %L)', f.kind)
            FROM bi_fx f
            WHERE fkind <> 'any' AND f.kind <> fkind
            ORDER BY f.kind;
    END IF;
END $$;

-- ---- the cases -------------------------------------------------------------

CREATE TEMP TABLE bi_functions AS
SELECT p.oid::regprocedure AS fn, p.proname, p.prokind = 'a' AS agg, p.proretset AS srf,
       p.prorettype::regtype AS rettype, p.pronargs,
       coalesce(p.proargnames, '{}') AS argnames, p.proargtypes::regtype[] AS argtypes
FROM pg_proc p
JOIN pg_depend dep ON dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e'
JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ecml'
WHERE p.prokind IN ('f', 'a');

-- the calls: argument expressions (valid ones, one replaced by a bad one)
CREATE FUNCTION pg_temp.bi_call(f bi_functions, args text[]) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE
        WHEN f.agg THEN format('SELECT (%s(%s))::text FROM generate_series(1, %s) i',
                               f.fn::oid::regproc, array_to_string(args, ', '),
                               CASE WHEN f.proname = 'mf_train' THEN 200
                                    -- the text trainers' cost grows with tokens x epochs: 40
                                    -- copies of 100000 distinct tokens take a minute at the
                                    -- default options, 4 a few seconds
                                    WHEN f.proname IN ('word2vec_train', 'text_classifier_train') THEN 4
                                    ELSE 40 END)
        WHEN f.srf THEN format('SELECT count(*)::text || md5(string_agg(r::text, '','')) FROM %s(%s) r',
                               f.fn::oid::regproc, array_to_string(args, ', '))
        ELSE format('SELECT (%s(%s))::text', f.fn::oid::regproc, array_to_string(args, ', '))
        END
$$;

CREATE TEMP TABLE bi_cases (
    id serial PRIMARY KEY,
    fn regprocedure,
    arg text,
    label text,
    sql text
);
CREATE TEMP TABLE bi_missing (fn regprocedure, arg text, what text);

DO $$
DECLARE
    f bi_functions;
    valid text[];
    v text;
    nbad int;
    b record;
BEGIN
    FOR f IN SELECT * FROM bi_functions ORDER BY fn::text LOOP
        -- support functions: SQL cannot make a value of type internal (not
        -- even a NULL), so they are reachable only through their aggregates
        IF 'internal'::regtype = ANY (f.argtypes) THEN
            INSERT INTO bi_cases (fn, arg, label, sql)
            SELECT f.fn, '', 'NULL::internal (not callable from SQL)',
                   pg_temp.bi_call(f, array_agg(format('NULL::%s', t) ORDER BY n))
            FROM unnest(f.argtypes) WITH ORDINALITY AS a(t, n);
            CONTINUE;
        END IF;
        valid := '{}';
        FOR a IN 1 .. f.pronargs LOOP
            v := pg_temp.bi_valid(f.fn, f.argnames[a], f.argtypes[a - 1], f.agg);
            IF v IS NULL THEN
                INSERT INTO bi_missing VALUES (f.fn, coalesce(f.argnames[a], '$' || a) || ' ' || f.argtypes[a - 1], 'no valid value');
            END IF;
            valid := valid || coalesce(v, 'NULL');
        END LOOP;
        CONTINUE WHEN EXISTS (SELECT FROM bi_missing m WHERE m.fn = f.fn);
        INSERT INTO bi_cases (fn, arg, label, sql) VALUES (f.fn, '', 'valid', pg_temp.bi_call(f, valid));
        IF f.agg THEN
            INSERT INTO bi_cases (fn, arg, label, sql) VALUES
                (f.fn, '', 'no rows', pg_temp.bi_call(f, valid) || ' WHERE false'),
                (f.fn, '', 'one row', pg_temp.bi_call(f, valid) || ' WHERE i = 1');
        END IF;
        FOR a IN 1 .. f.pronargs LOOP
            nbad := 0;
            FOR b IN SELECT * FROM pg_temp.bi_bad(f.fn, f.argnames[a], f.argtypes[a - 1], valid[a]) LOOP
                nbad := nbad + 1;
                INSERT INTO bi_cases (fn, arg, label, sql)
                VALUES (f.fn, coalesce(f.argnames[a], '$' || a), b.label,
                        pg_temp.bi_call(f, valid[1:a - 1] || b.expr || valid[a + 1:]));
                -- aggregates: also the bad value in one row among valid ones
                IF f.agg AND f.argtypes[a - 1] <> 'jsonb'::regtype THEN
                    INSERT INTO bi_cases (fn, arg, label, sql)
                    VALUES (f.fn, coalesce(f.argnames[a], '$' || a), b.label || ' (row 2 only)',
                            pg_temp.bi_call(f, valid[1:a - 1] || format('CASE WHEN i = 2 THEN %s ELSE %s END', b.expr, valid[a]) || valid[a + 1:]));
                END IF;
            END LOOP;
            IF f.agg AND f.argtypes[a - 1] = 'jsonb'::regtype THEN
                INSERT INTO bi_cases (fn, arg, label, sql)
                VALUES (f.fn, f.argnames[a], 'options that differ between rows',
                        pg_temp.bi_call(f, valid[1:a - 1] || format('CASE WHEN i = 2 THEN ''{}''::jsonb ELSE %s END', valid[a]) || valid[a + 1:]));
            END IF;
            IF nbad = 0 THEN
                INSERT INTO bi_missing VALUES (f.fn, coalesce(f.argnames[a], '$' || a) || ' ' || f.argtypes[a - 1], 'no bad-value rule for the type');
            END IF;
        END LOOP;
    END LOOP;
END $$;

-- ---- run them ----------------------------------------------------------------

CREATE TEMP TABLE bi_results (
    id int PRIMARY KEY,
    result text,			-- md5 of the result
    nonfinite boolean,		-- the result shows NaN or Infinity
    num float8,				-- the result, when it is one number
    outcome text,			-- 'ok' or the SQLSTATE
    message text,
    alive boolean,
    ms float8
);

DO $$
DECLARE
    c record;
    res text;
    st text;
    msg text;
    one int;
    t0 timestamptz;
BEGIN
    FOR c IN SELECT * FROM bi_cases ORDER BY id LOOP
        t0 := clock_timestamp();
        res := NULL;
        BEGIN
            EXECUTE c.sql INTO res;
            st := 'ok';
            msg := NULL;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        END;
        one := NULL;
        EXECUTE 'SELECT 1' INTO one;
        INSERT INTO bi_results
        VALUES (c.id, md5(coalesce(res, '<NULL>')), res ~ '(NaN|Infinity)',
                CASE WHEN res ~ '^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$' THEN res::float8 END, st, msg, one = 1, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
END $$;

-- after all that, every valid call of a scoring function answers as it did
-- at first (no damaged model left behind in a cache)
CREATE TEMP TABLE bi_again AS SELECT c.id, NULL::text AS result FROM bi_cases c JOIN bi_functions f USING (fn)
WHERE c.label = 'valid' AND NOT f.agg
  -- ecml.train is a trainer like the aggregates: its models carry their training times;
  -- save_version saves a new version each time, tune reports its seconds,
  -- rollback of the one version there is refuses
  AND f.proname NOT IN ('train', 'save_version', 'tune', 'rollback')
  -- the vocabulary pass's state holds a hash table keyed per backend
  -- (SipHash, lstm_vocab.c): the same counts, other bytes in another backend
  AND f.proname NOT LIKE 'lstm\_vocab\_pass%';
DO $$
DECLARE
    c record;
    res text;
BEGIN
    FOR c IN SELECT a.id, s.sql FROM bi_again a JOIN bi_cases s USING (id) LOOP
        EXECUTE c.sql INTO res;
        UPDATE bi_again SET result = md5(coalesce(res, '<NULL>')) WHERE id = c.id;
    END LOOP;
END $$;

-- The documented error classes (README, "Errors"): data exceptions (22xxx:
-- invalid parameter value, dimension mismatch, non-finite values, NULL
-- elements, array subscripts), data corrupted (XX001), program limits
-- (54xxx), datatype mismatch (42804: a text model given bigint tokens and
-- back), undefined object (42704: no model of that name), unique violation
-- (23505: duplicate ids in a pack); and for the support functions with an
-- internal argument, the parser's "cannot cast to internal" (42846).
CREATE TEMP VIEW bi_view AS
SELECT c.fn, c.arg, c.label, r.outcome, r.message, r.alive, r.ms, r.nonfinite, r.num,
       r.outcome = 'ok' OR r.outcome ~ '^(22...|XX001|54...|42804|42704|23505)$'
       OR (r.outcome = '42846' AND c.label LIKE 'NULL::internal%')
       -- ecml.train's source is the caller's SQL: it may not parse (42601),
       -- name what does not exist (42P01, 42703, 42883) or not be a SELECT
       -- (42809), and a kind may have no multi-pass trainer yet (0A000)
       OR (c.fn::text LIKE 'ecml.train(%' AND r.outcome ~ '^(42601|42P01|42703|42883|42809|0A000)$')
       -- a half-step row whose partner is not in the model: the source changed (55000)
       OR (c.fn::text LIKE 'ecml.mf\_pass%' AND r.outcome = '55000')
       -- so are the lifecycle functions' held-out and source queries; a kind
       -- may have no held-out metrics (0A000); a rollback needs an earlier
       -- live version (55000)
       OR (c.fn::text ~ '^ecml\.(evaluate|tune|query_columns|save_version)\(' AND r.outcome ~ '^(42601|42P01|42703|42883|42809|42846|0A000)$')
       OR (c.fn::text LIKE 'ecml.rollback(%' AND r.outcome = '55000') AS allowed
FROM bi_cases c JOIN bi_results r USING (id);

-- ---- assertions: one per function, then the totals ---------------------------

SELECT plan((SELECT count(*)::int FROM bi_functions) + 7);

SELECT is(
    (SELECT string_agg(format('%s %s: %s', fn, arg, what), '; ') FROM bi_missing),
    NULL,
    'every argument of every ecml function has a valid value and a bad-value rule');

SELECT ok(
    bool_and(v.allowed AND v.alive) AND count(*) > 0,
    format('%s: %s cases, each a result or an ecml SQLSTATE, SELECT 1 after each%s',
           f.fn, count(v.*),
           coalesce(': ' || array_to_string((array_agg(format('[%s %s -> %s %s]', v.arg, v.label, v.outcome, v.message) ORDER BY v.arg)
                                FILTER (WHERE NOT (v.allowed AND v.alive)))[1:8], ' '), '')))
FROM bi_functions f LEFT JOIN bi_view v ON v.fn = f.fn
GROUP BY f.fn ORDER BY f.fn::text;

SELECT is((SELECT count(*)::int FROM bi_view WHERE outcome = 'XX000'), 0, 'no internal error (XX000) in the matrix');

-- the version check is reached, and says so, for every kind
SELECT is(
    (SELECT format('%s cases, %s functions, %s not refused as newer',
                   count(*), count(DISTINCT fn),
                   count(*) FILTER (WHERE outcome <> 'XX001'
                                    OR message NOT LIKE 'ecml model has format version 2, this ecml reads up to version 1'))
     FROM bi_view WHERE label LIKE '%format version 2 (newer%'),
    (SELECT format('%s cases, %s functions, 0 not refused as newer', count(*), count(DISTINCT fn))
     FROM bi_cases c JOIN bi_functions f USING (fn)
     WHERE 'bytea'::regtype = ANY (f.argtypes) AND c.label LIKE '%format version 2 (newer%'
     HAVING count(DISTINCT fn) >= 25),
    'a newer format version with valid checksums is refused as such by every function taking a model');

-- a model of another kind, by value or relabelled with valid checksums,
-- never scores (an LSTM over text tokens given bigint tokens, or the
-- reverse, is the same kind: a datatype mismatch)
SELECT is(
    (SELECT string_agg(DISTINCT format('%s %s -> %s', fn, label, outcome), '; ') FROM bi_view
     WHERE (label LIKE 'valid % model (wrong kind)' OR label LIKE '%relabelled as%')
       AND outcome <> 'XX001' AND fn::text NOT LIKE 'ecml.model_info%' AND fn::text NOT LIKE 'ecml.save_model%'
       AND fn::text NOT LIKE 'ecml.save_version%' AND fn::text NOT LIKE 'ecml.evaluate%'
       AND NOT (outcome = '42804' AND label ~ '^valid lstm_(int|text) model')),
    (SELECT NULL::text FROM bi_view WHERE label LIKE '%relabelled as%' HAVING count(DISTINCT fn) >= 25),
    'a model of the wrong kind is refused (XX001) by every scoring function');

-- no NaN or Infinity out of finite input, except where documented: the
-- cosine distance of a zero vector (or one whose norm underflows) is NaN,
-- and an infinite score is a threshold of pr_curve like any other
SELECT is(
    (SELECT string_agg(DISTINCT format('%s %s %s', fn, arg, label), '; ') FROM bi_view
     WHERE outcome = 'ok' AND nonfinite
       AND NOT (fn::text LIKE 'ecml.cosine_distance(%' AND label IN ('all zero', 'all denormal'))
       AND NOT (fn::text LIKE 'ecml.pr_curve(%' AND label LIKE '%Infinity%')),
    NULL, 'no result is NaN or Infinity except where documented');

-- probabilities and scores stay in their documented range, whatever the
-- input (a damaged model with valid checksums included)
SELECT is(
    (SELECT string_agg(format('%s %s %s = %s', fn, arg, label, num), '; ') FROM bi_view
     WHERE outcome = 'ok' AND fn::text ~ '^ecml\.(logreg_predict|fraud_score|anomaly_score)\('
       AND (num IS NULL OR num < 0 OR num > 1)
       AND label <> 'NULL'),
    NULL, 'logreg_predict, fraud_score and anomaly_score answer within [0, 1]');

SELECT is(
    (SELECT string_agg(c.fn::text, '; ') FROM bi_again a JOIN bi_results r USING (id) JOIN bi_cases c USING (id)
     WHERE r.result IS DISTINCT FROM a.result OR r.outcome <> 'ok'),
    NULL, 'every valid call answers the same before and after the bad ones');

SELECT diag(format('bad-input matrix: %s functions, %s cases, %s ms', count(DISTINCT fn), count(*), round(sum(ms))))
FROM bi_view;
SELECT diag(format('  %s: %s', outcome, n)) FROM (SELECT outcome, count(*) AS n FROM bi_view GROUP BY 1 ORDER BY 2 DESC) s;
SELECT diag(format('  slowest case: %s ms, %s %s %s', round(ms), fn, arg, label))
FROM (SELECT * FROM bi_view ORDER BY ms DESC LIMIT 3) s;

SELECT * FROM finish();
ROLLBACK;
