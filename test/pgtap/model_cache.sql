-- The parsed-model cache with models stored out of line (TOAST): a new
-- query finds the cached parse from the header slice alone, and a row that
-- now holds a different model is never answered from the old one.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(7);

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

SELECT * FROM finish();
ROLLBACK;
