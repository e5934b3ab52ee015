-- Embedding similarity: distances and operators on real[].
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- values chosen so that every result is exact in float32
SELECT ecml.l2_distance('{1,2,3}', '{4,6,3}') AS l2,
       ecml.inner_product('{1,2,3}', '{4,6,3}') AS ip,
       ecml.negative_inner_product('{1,2,3}', '{4,6,3}') AS nip,
       ecml.cosine_distance('{1,0}', '{0,1}') AS orthogonal,
       ecml.cosine_distance('{1,1}', '{2,2}') AS parallel,
       ecml.cosine_distance('{1,1}', '{-3,-3}') AS opposite;
-- lengths that exercise the 16-lane body and the scalar tail
SELECT n, ecml.inner_product(a, b) = s_ip AS ip_exact,
       ecml.l2_distance(a, b) = sqrt(s_l2) AS l2_exact
FROM (SELECT n, array_agg(((i * 7) % 11 - 5)::real ORDER BY i) AS a,
             array_agg(((i * 3) % 5 - 2)::real ORDER BY i) AS b,
             sum(((i * 7) % 11 - 5) * ((i * 3) % 5 - 2)) AS s_ip,
             sum((((i * 7) % 11 - 5) - ((i * 3) % 5 - 2)) ^ 2) AS s_l2
      FROM generate_series(1, 40) n, generate_series(1, n) i GROUP BY n) s
WHERE n IN (1, 7, 8, 15, 16, 17, 31, 32, 33, 40) ORDER BY n;
-- cosine agrees with its definition in float8
SELECT abs(ecml.cosine_distance(a, b) -
           (1 - (SELECT sum(x * y) FROM unnest(a, b) u(x, y)) /
                sqrt((SELECT sum(x * x) FROM unnest(a) x) * (SELECT sum(y * y) FROM unnest(b) y)))) < 1e-6 AS cosine_ok
FROM (SELECT array_agg(sin(i)::real ORDER BY i) AS a, array_agg(cos(i * 1.3)::real ORDER BY i) AS b
      FROM generate_series(1, 100) i) s;
-- large finite values: float32 sums overflow, the result does not
SELECT ecml.l2_distance('{3e30,4e30}', '{0,0}') AS big_l2,
       ecml.inner_product('{1e30,1e30}', '{1e10,1e10}') AS big_ip,
       round(ecml.cosine_distance('{3e30,4e30}', '{4e30,3e30}')::numeric, 6) AS big_cos;

-- normalize
SELECT ecml.l2_normalize('{3,4}') AS unit, ecml.l2_normalize('{0,0,0}') AS zeros,
       abs(ecml.inner_product(ecml.l2_normalize('{1,2,3,4,5}'), ecml.l2_normalize('{1,2,3,4,5}')) - 1) < 1e-6 AS unit_norm,
       ecml.l2_normalize('{1e30,1e30}') AS big;
-- a zero vector has no direction: cosine distance is NaN, sorted last
SELECT ecml.cosine_distance('{0,0}', '{1,2}') AS undefined;

-- operators, schema-qualified and through search_path; each is its own commutator
SELECT '{1,2}'::real[] OPERATOR(ecml.<->) '{4,6}' AS l2,
       '{1,2}'::real[] OPERATOR(ecml.<#>) '{4,6}' AS nip,
       '{1,0}'::real[] OPERATOR(ecml.<=>) '{1,1}' AS cos;
SELECT oprname, oprcom::regoperator AS commutator, oprcode AS function
FROM pg_operator WHERE oprnamespace = 'ecml'::regnamespace ORDER BY oprname;
SET search_path = public, ecml;
CREATE TABLE emb AS
SELECT i AS id, ARRAY[sin(i), cos(i), sin(2 * i)]::real[] AS e FROM generate_series(1, 50) i;
SELECT id, round((e <-> '{0.5,0.5,0}')::numeric, 4) AS d FROM emb ORDER BY e <-> '{0.5,0.5,0}', id LIMIT 3;
SELECT id FROM emb ORDER BY e <#> '{1,0,0}', id LIMIT 3;
SELECT id FROM emb ORDER BY e <=> '{1,0,0}', id LIMIT 3;
-- ORDER BY with NaN from a zero vector: last
INSERT INTO emb VALUES (0, '{0,0,0}');
SELECT id FROM emb ORDER BY e <=> '{1,0,0}' DESC, id LIMIT 1;
RESET search_path;
-- IMMUTABLE, STRICT, PARALLEL SAFE
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
WHERE pronamespace = 'ecml'::regnamespace
  AND proname IN ('l2_distance', 'inner_product', 'negative_inner_product', 'cosine_distance', 'l2_normalize')
ORDER BY proname;
SELECT ecml.l2_distance(NULL, '{1}') IS NULL AS strict_null;

-- bad input
\set VERBOSITY terse
SELECT ecml.l2_distance('{1,2,3}', '{1,2}');
SELECT '{1,2}'::real[] OPERATOR(ecml.<=>) '{1,2,3}';
SELECT ecml.inner_product('{}', '{}');
SELECT ecml.cosine_distance('{1,NULL}', '{1,2}');
SELECT ecml.l2_distance('{1,2}', '{NaN,2}');
SELECT ecml.inner_product('{1,Infinity}', '{1,2}');
SELECT ecml.cosine_distance('{NaN,1}', '{1,2}');
SELECT ecml.l2_distance('{{1,2},{3,4}}', '{1,2}');
SELECT ecml.l2_normalize('{}');
SELECT ecml.l2_normalize('{1,NaN}');
SELECT ecml.l2_normalize('{1,NULL}');
SELECT ecml.l2_distance(array_fill(1::real, ARRAY[16001]), array_fill(1::real, ARRAY[16001]));
