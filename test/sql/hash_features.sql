-- The hashing trick: ecml.hash_features(tokens text[], n) → real[].
-- Every expected vector below was checked against scikit-learn 1.2.1:
-- FeatureHasher(n_features=n, input_type='string', alternate_sign=True)
-- .transform([tokens]) with the same tokens (NULL elements left out).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;

-- sklearn: [0, 0, 2, 0, 0, -1, 0, 0]; 'a' twice adds up, the NULL adds nothing
SELECT ecml.hash_features(ARRAY['a', 'b', 'a', 'héllo', NULL, ''], 8);
-- multi-byte UTF-8 and an emoji; sklearn: [0, 0, -2, 0, 1, 0, -1, 0, 0, 0, 0, 0, 0, 0, -1, 0]
SELECT ecml.hash_features(ARRAY['color=red', 'size=M', 'brand=Äpfel', '😀', 'category=日本語'], 16);
-- MurmurHash3's 4-byte blocks and 1-, 2- and 3-byte tails; sklearn: -1 at
-- columns 13, 20, 23 and 32 (1-based)
SELECT ecml.hash_features(ARRAY['abcdefghijklmnopq', 'abcdefghijklmnopqr', 'abcdefghijklmnopqrs', 'abcdefghijklmnop'], 32);
-- one column: the sum of the signs; sklearn: [2]
SELECT ecml.hash_features(ARRAY['a', 'b', 'a', 'héllo', '', 'x', 'y', 'z'], 1);

-- a large n, shown sparsely (1-based column, value); sklearn: (549075, -1),
-- (612863, 2), (628796, -1), (837174, 1), (876736, -1)
SELECT array_length(v, 1) AS n,
       (SELECT array_agg(format('(%s, %s)', i, x) ORDER BY i)
        FROM unnest(v) WITH ORDINALITY u(x, i) WHERE x <> 0) AS nonzero
FROM ecml.hash_features(ARRAY['user=42', 'item=1001', 'item=1001', 'country=DE', 'device=mobile', 'hour=23'], 1048576) v;

-- 'tok4006025602' hashes to -2^31, whose absolute value does not fit in
-- int32: sklearn puts it at 2^31 mod n (1-based: 3, 649, 1, 1) with sign -1
SELECT n, (SELECT array_agg(format('(%s, %s)', i, x) ORDER BY i)
           FROM unnest(ecml.hash_features(ARRAY['tok4006025602'], n)) WITH ORDINALITY u(x, i) WHERE x <> 0) AS nonzero
FROM unnest(ARRAY[3, 1000, 1048576]) n;
SELECT v[1] AS first, array_length(v, 1) AS n
FROM ecml.hash_features(ARRAY['tok4006025602'], 16777216) v;

-- empty input, only NULLs, NULL array (STRICT)
SELECT ecml.hash_features('{}', 3) AS empty, ecml.hash_features('{NULL,NULL}', 2) AS nulls,
       ecml.hash_features(NULL, 4) AS null_array, ecml.hash_features('{x}', NULL) AS null_n;
-- varchar[] is accepted like text[]
SELECT ecml.hash_features(ARRAY['a', 'b', 'a']::varchar[], 8) = ecml.hash_features(ARRAY['a', 'b', 'a'], 8) AS varchar_ok;
-- a non-default lower bound does not matter
SELECT ecml.hash_features('[0:2]={a,b,a}'::text[], 8) = ecml.hash_features('{a,b,a}', 8) AS same;

-- per row, like a feature column; the values only depend on the tokens
CREATE TABLE orders (id int, tags text[]);
INSERT INTO orders VALUES (1, '{gift,express}'), (2, '{express,gift}'), (3, '{}'), (4, '{gift,NULL,express}');
SELECT id, ecml.hash_features(tags, 4) FROM orders ORDER BY id;

-- errors
SELECT ecml.hash_features('{a}', 0);
SELECT ecml.hash_features('{a}', -5);
SELECT ecml.hash_features('{a}', 16777217);
SELECT ecml.hash_features('{{a,b},{c,d}}', 8);

-- volatility, parallel safety and documentation
SELECT p.provolatile, p.proparallel, p.proisstrict, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p WHERE p.oid = 'ecml.hash_features(text[], integer)'::regprocedure;
