-- The parsed-model cache with models stored out of line (TOAST): a new
-- query finds the cached parse by the value's TOAST pointer and header, a
-- row that now holds a different model is never answered from the old one,
-- and neither is a different model made to share the old one's header.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(14);

SELECT setseed(0.5);
-- 2000 features: the models are about 40 kB, well over the TOAST threshold
CREATE TABLE wide AS
SELECT i, array(SELECT (random() * 2 - 1)::real FROM generate_series(1, 2000) WHERE i > 0) AS f
FROM generate_series(1, 60) i;

CREATE TABLE store (name text PRIMARY KEY, model bytea);
ALTER TABLE store ALTER COLUMN model SET STORAGE EXTERNAL;
INSERT INTO store
SELECT 'a', ecml.logreg_train(f, f[1] > 0, '{"solver": "lbfgs", "max_iter": 30}') FROM wide
UNION ALL
SELECT 'b', ecml.logreg_train(f, f[2] > 0, '{"solver": "lbfgs", "max_iter": 30}') FROM wide;

SELECT cmp_ok((SELECT pg_column_size(model) FROM store WHERE name = 'a'), '>', 8000,
              'the model is large enough to be stored out of line');

CREATE TABLE probe AS SELECT f FROM wide WHERE i <= 5;

-- fill the cache with both models, in separate statements
CREATE TABLE before AS
SELECT (SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'a'), f) ORDER BY f) FROM probe) AS pa,
       (SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'b'), f) ORDER BY f) FROM probe) AS pb;
SELECT isnt((SELECT pa FROM before), (SELECT pb FROM before), 'the two models score differently');

SELECT is((SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'a'), f) ORDER BY f) FROM probe),
          (SELECT pa FROM before), 'a later query served from the cache scores as before');

-- models written into the query as constants, one per call site: each
-- call site knows its model by the Const's address, and never mixes them
CREATE FUNCTION pg_temp.score_literals(x bytea, y bytea, OUT px float8[], OUT py float8[])
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT array_agg(ecml.logreg_predict(%L::bytea, f) ORDER BY f),
                           array_agg(ecml.logreg_predict(%L::bytea, f) ORDER BY f) FROM probe', x, y)
        INTO px, py;
END $$;
SELECT is((SELECT ROW(px, py)::text FROM pg_temp.score_literals((SELECT model FROM store WHERE name = 'a'),
                                                                (SELECT model FROM store WHERE name = 'b'))),
          (SELECT ROW(pa, pb)::text FROM before), 'two constant models in one query score as the stored ones');
SELECT is((SELECT ROW(px, py)::text FROM pg_temp.score_literals((SELECT model FROM store WHERE name = 'b'),
                                                                (SELECT model FROM store WHERE name = 'a'))),
          (SELECT ROW(pb, pa)::text FROM before), 'and swapped, each call site still scores with its own');

-- the row now holds model b: it must score as b, not as the cached a
UPDATE store SET model = (SELECT model FROM store WHERE name = 'b') WHERE name = 'a';
SELECT is((SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'a'), f) ORDER BY f) FROM probe),
          (SELECT pb FROM before), 'after UPDATE the row scores as its new model');

-- a retrained model with the same shape replaces a cached one
UPDATE store SET model = (SELECT ecml.logreg_train(f, f[3] > 0, '{"solver": "lbfgs", "max_iter": 30}') FROM wide)
WHERE name = 'b';
SELECT isnt((SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'b'), f) ORDER BY f) FROM probe),
            (SELECT pb FROM before), 'a retrained model is not answered from the old cache slot');

-- damage in a never-cached out-of-line model is still caught
INSERT INTO store
SELECT 'c', overlay(ecml.logreg_train(f, f[4] > 0, '{"solver": "lbfgs", "max_iter": 30}')
                    PLACING '\x00ff'::bytea FROM 30000) FROM wide;
SELECT throws_ok($$SELECT ecml.logreg_predict((SELECT model FROM store WHERE name = 'c'), f) FROM probe$$,
                 'XX001', NULL, 'a damaged out-of-line model that was never cached is refused');

-- damage to the header of a cached model misses the cache and is caught
UPDATE store SET model = overlay(model PLACING '\xff'::bytea FROM 41) WHERE name = 'b';
SELECT throws_ok($$SELECT ecml.logreg_predict((SELECT model FROM store WHERE name = 'b'), f) FROM probe$$,
                 'XX001', NULL, 'a cached model whose header was damaged is refused');

-- Two different models with the same header: a copy of model d with one
-- coefficient's sign flipped and the low 32 bits of another coefficient
-- chosen so that the payload CRC32C (so the whole header) is unchanged.
-- CRC32C is affine over GF(2): the CRC change from flipping bit j of those
-- four bytes does not depend on the rest, so the bits that restore the CRC
-- are the solution of a 32x32 linear system.
CREATE FUNCTION pg_temp.mc_crc(b bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t bigint[] := (SELECT array_agg(c ORDER BY n)
                   FROM (SELECT n, (WITH RECURSIVE r(k, v) AS (
                                        SELECT 0, n::bigint
                                        UNION ALL
                                        SELECT k + 1, CASE WHEN v & 1 = 1 THEN (v >> 1) # 2197175160 ELSE v >> 1 END
                                        FROM r WHERE k < 8)
                                    SELECT v FROM r WHERE k = 8) AS c
                         FROM generate_series(0, 255) n) s);
    crc bigint := 4294967295;
BEGIN
    FOR j IN 0 .. length(b) - 1 LOOP
        crc := (crc >> 8) # t[((crc # get_byte(b, j)) & 255) + 1];
    END LOOP;
    RETURN crc # 4294967295;
END $$;
CREATE FUNCTION pg_temp.mc_get(b bytea, off int, len int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v bigint := 0;
BEGIN
    FOR j IN REVERSE len - 1 .. 0 LOOP
        v := (v << 8) | get_byte(b, off + j);
    END LOOP;
    RETURN v;
END $$;
-- offset of the data of section tag
CREATE FUNCTION pg_temp.mc_section(b bytea, tag text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    off int := 64;
    len int;
BEGIN
    LOOP
        len := pg_temp.mc_get(b, off + 8, 8);
        IF substring(b FROM off + 1 FOR 4) = convert_to(tag, 'UTF8') THEN
            RETURN off + 16;
        END IF;
        off := off + 16 + len + (16 - len % 16) % 16;
    END LOOP;
END $$;
CREATE FUNCTION pg_temp.mc_collide(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    coef int := pg_temp.mc_section(b, 'COEF');
    payload bytea;
    want bigint := pg_temp.mc_get(b, 24, 4);
    base bigint;
    col bigint;
    mask bigint;
    piv int;
    basis_v bigint[] := '{}';
    basis_m bigint[] := '{}';
    basis_p int[] := '{}';
    target bigint;
    sol bigint := 0;
    fix int := coef;            -- low 4 bytes of the first coefficient
BEGIN
    -- flip the sign of the second coefficient
    b := set_byte(b, coef + 15, get_byte(b, coef + 15) # 128);
    payload := substring(b FROM 65);
    base := pg_temp.mc_crc(payload);
    FOR j IN 0 .. 31 LOOP
        col := pg_temp.mc_crc(set_byte(payload, fix - 64 + j / 8,
                                       get_byte(payload, fix - 64 + j / 8) # (1 << (j % 8)))) # base;
        mask := 1::bigint << j;
        FOR i IN 1 .. coalesce(array_length(basis_p, 1), 0) LOOP
            IF (col >> basis_p[i]) & 1 = 1 THEN
                col := col # basis_v[i];
                mask := mask # basis_m[i];
            END IF;
        END LOOP;
        IF col <> 0 THEN
            piv := 0;
            WHILE (col >> piv) & 1 = 0 LOOP
                piv := piv + 1;
            END LOOP;
            basis_v := basis_v || col;
            basis_m := basis_m || mask;
            basis_p := basis_p || piv;
        END IF;
    END LOOP;
    target := base # want;
    FOR i IN 1 .. array_length(basis_p, 1) LOOP
        IF (target >> basis_p[i]) & 1 = 1 THEN
            target := target # basis_v[i];
            sol := sol # basis_m[i];
        END IF;
    END LOOP;
    IF target <> 0 THEN
        RAISE EXCEPTION 'no solution';
    END IF;
    FOR j IN 0 .. 3 LOOP
        b := set_byte(b, fix + j, get_byte(b, fix + j) # ((sol >> (8 * j)) & 255)::int);
    END LOOP;
    RETURN b;
END $$;

-- long feature names keep the model out of line
INSERT INTO store
SELECT 'd', ecml.logreg_train(f[1:3], f[1] + f[2] > 0,
                              jsonb_build_object('feature_names', ARRAY[repeat('a', 1500), repeat('b', 1500), repeat('c', 1500)]))
FROM wide;
INSERT INTO store SELECT 'e', pg_temp.mc_collide(model) FROM store WHERE name = 'd';
SELECT ok((SELECT a.model <> b.model AND substring(a.model FROM 1 FOR 64) = substring(b.model FROM 1 FOR 64)
                  AND length(a.model) = length(b.model) AND pg_column_size(a.model) > 4000
           FROM store a, store b WHERE a.name = 'd' AND b.name = 'e'),
          'two different out-of-line models with the same header (and payload CRC)');
SELECT is((SELECT (ecml.model_info(model)->>'kind') FROM store WHERE name = 'e'), 'logreg',
          'the forged one passes every check');
-- d first, so its parse is cached; e must not be answered from it
CREATE TABLE scores_d AS
SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'd'), f[1:3]) ORDER BY i) AS s FROM wide;
SELECT isnt((SELECT array_agg(ecml.logreg_predict((SELECT model FROM store WHERE name = 'e'), f[1:3]) ORDER BY i) FROM wide),
            (SELECT s FROM scores_d), 'the other model with the same header scores as itself, not from the cached one');
SELECT isnt((SELECT array_agg(ecml.logreg_predict(model, '{1, 1, 0}') ORDER BY name) FROM store WHERE name IN ('d', 'e')),
            (SELECT array_agg(ecml.logreg_predict(model, '{1, 1, 0}')) FROM store, generate_series(1, 2) WHERE name = 'd'),
            'the same, row by row in one call site');
SELECT isnt((SELECT ecml.logreg_predict(m, '{1, 1, 0}') FROM (SELECT model || ''::bytea AS m FROM store WHERE name = 'e') s),
            (SELECT ecml.logreg_predict(m, '{1, 1, 0}') FROM (SELECT model || ''::bytea AS m FROM store WHERE name = 'd') s),
            'the same for the two models in memory (not out of line)');

SELECT * FROM finish();
ROLLBACK;
