-- Embedding similarity: pack_vectors, search, search_batch.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- 300 deterministic 8-d vectors with small integer elements (distances are exact)
CREATE TABLE items AS
SELECT i::bigint AS id,
       ARRAY(SELECT ((i * 37 + j * 101 + i * j * 13) % 9 - 4)::real FROM generate_series(1, 8) j) AS e
FROM generate_series(1, 300) i;
UPDATE items SET e = '{1,1,1,1,1,1,1,1}' WHERE ARRAY(SELECT abs(x) FROM unnest(e) x) = '{0,0,0,0,0,0,0,0}';
CREATE TABLE packs AS
SELECT ecml.pack_vectors(id, e) AS cos,
       ecml.pack_vectors(id, e, '{"metric": "inner_product"}') AS ip,
       ecml.pack_vectors(id, e, '{"metric": "l2"}') AS l2
FROM items;
SELECT i - 'created_at' - 'sections' AS info, jsonb_path_query_array(i, '$.sections[*].tag') AS sections
FROM packs, ecml.model_info(cos) i;
SELECT ecml.model_info(ip)->>'metric' AS ip, ecml.model_info(l2)->>'metric' AS l2 FROM packs;

-- search: best first, the same as ORDER BY the matching operator
SELECT s.id, s.distance FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 5) s;
SELECT id, (e OPERATOR(ecml.<->) '{1,0,-1,2,0,1,-2,0}')::real AS distance
FROM items ORDER BY e OPERATOR(ecml.<->) '{1,0,-1,2,0,1,-2,0}', id LIMIT 5;
SELECT s.id, s.distance FROM packs, ecml.search(ip, '{1,0,-1,2,0,1,-2,0}', 5) s;
SELECT id, (e OPERATOR(ecml.<#>) '{1,0,-1,2,0,1,-2,0}')::real AS distance
FROM items ORDER BY e OPERATOR(ecml.<#>) '{1,0,-1,2,0,1,-2,0}', id LIMIT 5;
SELECT s.id, round(s.distance::numeric, 5) AS distance FROM packs, ecml.search(cos, '{1,0,-1,2,0,1,-2,0}', 5) s;
SELECT id, round((e OPERATOR(ecml.<=>) '{1,0,-1,2,0,1,-2,0}')::numeric, 5) AS distance
FROM items ORDER BY e OPERATOR(ecml.<=>) '{1,0,-1,2,0,1,-2,0}', id LIMIT 5;
-- ties are broken by id: every item at L2 distance 0 from itself and its duplicates
SELECT count(*) AS rows, bool_and(d1 <= d2) AS sorted
FROM (SELECT distance AS d1, lead(distance) OVER (ORDER BY ord) AS d2
      FROM packs, ecml.search(l2, '{0,0,0,0,0,0,0,0}', 300) WITH ORDINALITY s(id, distance, ord)) s
WHERE d2 IS NOT NULL;
SELECT array_agg(id ORDER BY ord) = (SELECT array_agg(id ORDER BY e OPERATOR(ecml.<->) '{0,0,0,0,0,0,0,0}', id) FROM items) AS same_order_with_ties
FROM packs, ecml.search(l2, '{0,0,0,0,0,0,0,0}', 1000) WITH ORDINALITY s(id, distance, ord);
-- k above the pack size returns every row
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,1}', 2147483647);

-- filter_ids: only those ids (repeats and unknown ids ignored); NULL means no filter
SELECT s.* FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, '{5,6,7,7,8,9999}') s;
SELECT count(*) FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, NULL) s;
SELECT count(*) FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, '{}') s;
SELECT array_agg(s.id ORDER BY s.distance, s.id) =
       (SELECT array_agg(id) FROM (SELECT id FROM items WHERE id % 7 = 0
                                   ORDER BY e OPERATOR(ecml.<->) '{1,0,-1,2,0,1,-2,0}', id LIMIT 4) t) AS filtered_ok
FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 4, (SELECT array_agg(id) FROM items WHERE id % 7 = 0)) s;
-- exclude: never those ids (seen items); the rest of the ranking is unchanged
SELECT (SELECT array_agg(id ORDER BY ord) FROM packs,
               ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 5, NULL,
                           (SELECT array_agg(id) FROM (SELECT id FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3) WITH ORDINALITY t(id, d, o) WHERE o <> 2) e))
                 WITH ORDINALITY s(id, distance, ord))
     = (SELECT array_agg(id ORDER BY ord) FROM (SELECT id, ord FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 7) WITH ORDINALITY s(id, distance, ord)
                                                WHERE ord NOT IN (1, 3) ORDER BY ord LIMIT 5) t) AS same_as_dropping_them;
SELECT s.* FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, '{5,6,7,7,8,9999}', '{6,6,424242}') s;
SELECT count(*) AS null_exclude FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, NULL, NULL) s;
SELECT count(*) AS empty_exclude FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, NULL, '{}') s;
SELECT count(*) AS all_excluded FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 3, '{5,6}', '{5,6}') s;
SELECT count(*) AS rest FROM packs, ecml.search(l2, '{1,0,-1,2,0,1,-2,0}', 1000, filter_ids => NULL, exclude => (SELECT array_agg(id) FROM items WHERE id <= 10)) s;
-- STRICT forms: NULL in, no rows out
SELECT count(*) FROM ecml.search(NULL, '{1}', 3);
SELECT count(*) FROM packs, ecml.search(cos, NULL, 3, '{1}');

-- search_batch: one query per row, the same as search of each
SELECT b.* FROM packs, ecml.search_batch(l2, '{{1,0,-1,2,0,1,-2,0},{0,0,0,0,0,0,0,1}}', 3) b;
SELECT bool_and(b.id = s.id AND b.distance = s.distance) AND count(*) = 3 * 20 AS batch_equals_search
FROM packs, items q,
     LATERAL (SELECT * FROM ecml.search_batch(packs.ip, ARRAY[q.e], 3)) b,
     LATERAL (SELECT * FROM ecml.search(packs.ip, q.e, 3) WITH ORDINALITY s(id, distance, rank)) s
WHERE q.id <= 20 AND b.rank = s.rank;
SELECT count(*), count(DISTINCT query_index), max(rank)
FROM packs, ecml.search_batch(cos, (SELECT array_agg(e ORDER BY id) FROM items), 4);

-- rows with a NULL id or embedding are skipped and counted
SELECT ecml.model_info(ecml.pack_vectors(id, e))->'rows_skipped' AS skipped,
       ecml.model_info(ecml.pack_vectors(id, e))->'vectors' AS vectors
FROM (VALUES (1, '{1,2}'::real[]), (NULL, '{1,1}'), (2, NULL), (3, '{2,1}')) v(id, e);
-- the pack does not depend on row order: bytes equal but for the creation time
SELECT substr(a, 65) = substr(b, 65) AS order_independent
FROM (SELECT ecml.pack_vectors(id, e ORDER BY id) AS a, ecml.pack_vectors(id, e ORDER BY id DESC) AS b FROM items) s;

-- bad input
\set VERBOSITY terse
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{1,2}'::real[]), (2, '{1,2}'), (1, '{3,4}')) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{1,2}'::real[]), (2, '{1,2,3}')) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{1,NULL}'::real[])) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{1,NaN}'::real[])) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{1,-Infinity}'::real[])) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{}'::real[])) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{{1,2},{3,4}}'::real[])) v(id, e);
SELECT ecml.pack_vectors(id, e) FROM (VALUES (1, '{0,0}'::real[])) v(id, e);
SELECT (SELECT ecml.pack_vectors(id, e, '{"metric": "l2"}') FROM (VALUES (1, '{0,0}'::real[])) v(id, e)) IS NOT NULL AS zero_ok_for_l2;
SELECT ecml.pack_vectors(id, e) FROM items WHERE false;
SELECT ecml.pack_vectors(id, e) FROM (VALUES (NULL::bigint, '{1}'::real[])) v(id, e);
SELECT ecml.pack_vectors(id, e, '{"metric": "manhattan"}') FROM items;
SELECT ecml.pack_vectors(id, e, '{"metric": 2}') FROM items;
SELECT ecml.pack_vectors(id, e, '{"k": 2}') FROM items;
SELECT ecml.pack_vectors(id, e, '{"metric": "l2"}') FROM (VALUES (1, '{3e38,3e38}'::real[])) v(id, e);
SELECT count(*) FROM packs, ecml.search(cos, '{1,2,3}', 3);
SELECT count(*) FROM packs, ecml.search(cos, '{}', 3);
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,NULL}', 3);
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,NaN}', 3);
SELECT count(*) FROM packs, ecml.search(l2, '{1,1,1,1,1,1,1,Infinity}', 3);
SELECT count(*) FROM packs, ecml.search(cos, '{0,0,0,0,0,0,0,0}', 3);
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,1}', 0);
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,1}', -5);
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,1}', 3, '{1,NULL}');
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,1}', 3, NULL, '{1,NULL}');
SELECT count(*) FROM packs, ecml.search(cos, '{1,1,1,1,1,1,1,1}', 0, NULL, '{1}');
SELECT count(*) FROM packs, ecml.search(ip, '{3e38,3e38,3e38,3e38,3e38,3e38,3e38,3e38}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{1,1,1,1,1,1,1,1}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{{1,1,1},{1,1,1}}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{{1,1,1,1,1,1,1,1},{1,1,1,1,1,1,1,NULL}}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{{1,1,1,1,1,1,1,1},{1,1,1,1,1,1,1,NaN}}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{{1,1,1,1,1,1,1,1},{0,0,0,0,0,0,0,0}}', 3);
SELECT count(*) FROM packs, ecml.search_batch(cos, '{{1,1,1,1,1,1,1,1}}', 0);
SELECT count(*) FROM packs, ecml.search_batch(cos, array_fill(1::real, ARRAY[400000, 8]), 300);
-- the buffer is bounded by ecml.train_memory_limit
SET ecml.train_memory_limit = '1MB';
SELECT ecml.pack_vectors(i, array_fill(1::real, ARRAY[1000])) FROM generate_series(1, 400) i;
RESET ecml.train_memory_limit;
-- not a pack: another kind, corrupted, truncated, not a model at all
SELECT count(*) FROM ecml.search((SELECT ecml.logreg_train(ARRAY[i, i % 3]::real[], i % 2 = 0) FROM generate_series(1, 50) i), '{1,2}', 3);
SELECT count(*) FROM packs, ecml.search(overlay(cos placing '\xff' from 40), '{1,1,1,1,1,1,1,1}', 3);
SELECT count(*) FROM packs, ecml.search(substr(cos, 1, 1000), '{1,1,1,1,1,1,1,1}', 3);
SELECT count(*) FROM packs, ecml.search_batch(substr(cos, 1, 1000), '{{1,1,1,1,1,1,1,1}}', 3);
SELECT count(*) FROM ecml.search('\x0102', '{1,1,1,1,1,1,1,1}', 3);
-- a damaged payload, in a new session (a backend that has the intact pack
-- cached knows it by its header, which the damage leaves as it was)
\c
\set VERBOSITY terse
SELECT count(*) FROM packs, ecml.search(overlay(cos placing '\xffff' from length(cos) - 8), '{1,1,1,1,1,1,1,1}', 3);
SELECT count(*) FROM packs, ecml.search_batch(overlay(l2 placing '\x7f' from 300), '{{1,1,1,1,1,1,1,1}}', 3);
