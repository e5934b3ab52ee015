-- Text: word vectors that learn planted synonyms (skip-gram and CBOW),
-- subwords for misspelt words, determinism, parallel training equal to
-- serial training, text embeddings that retrieve documents of the query's
-- topic through ecml.search and ecml_hnsw, and pretrained vectors whose
-- neighbours match a brute-force cosine ranking.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(19);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- eight topics of "<adjective> <noun> with <feature>" phrases; in each
-- topic two nouns (the planted synonyms) fill the noun slot at random
CREATE TABLE topics(t int, heads text[], adj text[], feat text[]);
INSERT INTO topics VALUES
  (0, '{jacket,coat}', '{waterproof,warm,hooded,padded}', '{zip,pockets,lining,hood}'),
  (1, '{sneaker,trainer}', '{running,light,cushioned,sporty}', '{laces,sole,grip,insole}'),
  (2, '{dress,gown}', '{silk,elegant,floral,evening}', '{sleeves,belt,slit,train}'),
  (3, '{mug,cup}', '{ceramic,large,enamel,glazed}', '{handle,lid,saucer,spoon}'),
  (4, '{laptop,notebook}', '{fast,slim,gaming,portable}', '{keyboard,battery,screen,touchpad}'),
  (5, '{sofa,couch}', '{leather,comfy,corner,velvet}', '{cushions,armrest,legs,cover}'),
  (6, '{lamp,light}', '{bright,dimmable,desk,bedside}', '{bulb,shade,switch,cord}'),
  (7, '{backpack,rucksack}', '{hiking,school,roomy,rugged}', '{straps,compartment,buckle,frame}');
CREATE TABLE corpus AS
SELECT d AS id, t AS topic,
       (SELECT array_agg(CASE j % 4 WHEN 0 THEN adj[1 + abs(hashint4(d * 17 + j)) % 4]
                                    WHEN 1 THEN heads[1 + abs(hashint4(d * 31 + j)) % 2]
                                    WHEN 2 THEN 'with'
                                    ELSE feat[1 + abs(hashint4(d * 13 + j)) % 4] END ORDER BY j)
          FROM generate_series(0, 15) j) AS tokens
FROM generate_series(1, 2400) d JOIN topics ON t = d % 8;
ANALYZE corpus;

CREATE TABLE sg AS
SELECT ecml.word2vec_train(tokens, '{"dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "maxn": 0}') AS m
FROM corpus;
CREATE TABLE cb AS
SELECT ecml.word2vec_train(tokens, '{"method": "cbow", "dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "maxn": 0}') AS m
FROM corpus;

-- the planted synonym is each noun's nearest word
SELECT is((SELECT count(*) FROM sg, topics, unnest(heads) h
           WHERE (SELECT word FROM ecml.similar_words(m, h, 1)) = ANY (heads)), 16::bigint,
          'skip-gram: every noun''s nearest word is its synonym');
SELECT is((SELECT count(*) FROM cb, topics, unnest(heads) h
           WHERE (SELECT word FROM ecml.similar_words(m, h, 1)) = ANY (heads)), 16::bigint,
          'CBOW: every noun''s nearest word is its synonym');
SELECT cmp_ok((SELECT min(s.similarity) FROM sg, topics, unnest(heads[1:1]) h,
                      ecml.similar_words(m, h, 1) s), '>', 0.8::real,
              'synonyms have cosine similarity above 0.8');
SELECT ok((SELECT (i->'loss'->>0)::float8 > (i->'loss'->>-1)::float8 FROM sg, ecml.model_info(m) mi,
                  LATERAL (SELECT mi->'metrics' AS i) x),
          'the loss decreases over the epochs');

-- determinism: the same seed gives the same bytes (after the header's
-- creation time), another seed other vectors
SELECT is((SELECT substr(ecml.word2vec_train(tokens, '{"dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "maxn": 0}'), 65) FROM corpus),
          (SELECT substr(m, 65) FROM sg), 'the same seed trains the same model byte for byte');
SELECT isnt((SELECT substr(ecml.word2vec_train(tokens, '{"dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "maxn": 0, "seed": 7}'), 65) FROM corpus),
            (SELECT substr(m, 65) FROM sg), 'another seed trains another model');
-- the row order does not matter either
SELECT is((SELECT substr(ecml.word2vec_train(tokens, '{"dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "maxn": 0}'), 65)
           FROM (SELECT tokens FROM corpus ORDER BY id DESC) c),
          (SELECT substr(m, 65) FROM sg), 'rows in another order train the same model');

-- parallel aggregation: a partial aggregate in the plan, the same model bytes
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Partial Mode"') AS mode
                                 FROM pg_temp.plan_json('SELECT ecml.word2vec_train(tokens, ''{"epochs": 1}'') FROM corpus') p) s
                  WHERE mode = '"Partial"'),
          'the plan aggregates in parallel workers');
SELECT is((SELECT substr(ecml.word2vec_train(tokens, '{"dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "maxn": 0}'), 65) FROM corpus),
          (SELECT substr(m, 65) FROM sg), 'parallel training gives the serial model byte for byte');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- subwords: misspelt and inflected words land next to the word they spell
CREATE TABLE sw AS
SELECT ecml.word2vec_train(tokens, '{"dim": 32, "window": 2, "sample": 0, "epochs": 10, "min_count": 1, "minn": 3, "maxn": 5, "buckets": 200000}') AS m
FROM corpus;
SELECT is((SELECT count(*) FROM sw, (VALUES ('waterprof', 'waterproof'), ('keybord', 'keyboard'),
                                            ('backpacks', 'backpack'), ('cushionned', 'cushioned')) v(typo, word)
           WHERE word IN (SELECT s.word FROM ecml.similar_words(m, typo, 3) s)), 4::bigint,
          'each misspelt word has the word it misspells among its 3 nearest');
SELECT is((SELECT count(*) FROM sw, corpus c WHERE ecml.word_vector(m, c.tokens[1]) IS NULL), 0::bigint,
          'every training word has a vector');

-- text embeddings: a query retrieves documents of its topic, through
-- ecml.search over packed vectors and through an ecml_hnsw index
-- in id order: the parallel costs set above would otherwise let workers
-- write the rows in any order, and the index below is built in row order
CREATE TABLE emb AS SELECT id, topic, ecml.embed_text(m, tokens) AS e FROM sg, corpus ORDER BY id;
CREATE TABLE packed AS SELECT ecml.pack_vectors(id, e) AS p FROM emb;
CREATE TABLE queries(topic int, q text[]);
INSERT INTO queries VALUES (0, '{warm, coat}'), (1, '{trainer, grip}'), (2, '{evening, gown}'),
    (3, '{cup, saucer}'), (4, '{gaming, notebook}'), (5, '{leather, couch}'), (6, '{desk, light}'),
    (7, '{hiking, rucksack}');
SELECT is((SELECT count(*) FROM sg, packed, queries q,
                  ecml.search(p, ecml.embed_text(m, q.q), 10) r JOIN emb USING (id)
           WHERE emb.topic = q.topic), 80::bigint,
          'ecml.search on embed_text: precision@10 = 1 for every topic query');
SELECT cmp_ok((SELECT avg((SELECT 1 - ecml.cosine_distance(a.e, b.e)))
               FROM emb a JOIN emb b ON a.topic = b.topic AND a.id < b.id WHERE a.id <= 200 AND b.id <= 200)::float8,
              '>',
              (SELECT avg((SELECT 1 - ecml.cosine_distance(a.e, b.e)))
               FROM emb a JOIN emb b ON a.topic <> b.topic AND a.id < b.id WHERE a.id <= 200 AND b.id <= 200)::float8 + 0.3,
              'documents of one topic are far more similar than documents of two');
CREATE INDEX emb_hnsw ON emb USING ecml_hnsw (e ecml.real_cosine_ops);
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM sg, queries q,
                  LATERAL (SELECT topic FROM emb ORDER BY e OPERATOR(ecml.<=>) ecml.embed_text(m, q.q) LIMIT 10) r
           WHERE r.topic = q.topic), 80::bigint,
          'ecml_hnsw on embed_text: precision@10 = 1 for every topic query');
RESET enable_seqscan;
SELECT is((SELECT count(*) FROM sg, corpus WHERE ecml.embed_text(m, array_to_string(tokens, ' '), 'simple')
                                                 = ecml.embed_text(m, tokens)), 2400::bigint,
          'embed_text of a document equals embed_text of its tokens');

-- pretrained vectors: similar_words ranks as a brute-force cosine does
CREATE TABLE pre AS
SELECT 'w' || g AS word, ARRAY(SELECT sin(g * 0.37 * j + j) FROM generate_series(1, 16) j)::real[] AS vector
FROM generate_series(1, 3000) g;
CREATE TABLE pv AS SELECT ecml.word_vectors_load(word, vector) AS m FROM pre;
SELECT is((SELECT array_agg(word ORDER BY similarity DESC, word) FROM pv, ecml.similar_words(m, 'w42', 10)),
          (SELECT array_agg(word ORDER BY d, word) FROM (
               SELECT b.word, ecml.cosine_distance(a.vector, b.vector) AS d
               FROM pre a, pre b WHERE a.word = 'w42' AND b.word <> 'w42'
               ORDER BY d, b.word LIMIT 10) s),
          'similar_words on loaded vectors matches a brute-force cosine ranking');
SELECT is((SELECT count(*) FROM pv, pre WHERE ecml.word_vector(m, word) = vector), 3000::bigint,
          'word_vector returns each loaded vector unchanged');
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL :force_parallel = on;
SELECT is((SELECT count(*) FROM (SELECT ecml.word_vectors_load(word, vector) AS m FROM pre) p, pre
           WHERE ecml.word_vector(m, word) = vector), 3000::bigint,
          'a parallel load keeps every word with its vector');
RESET :force_parallel;

-- scoring a table in parallel: the functions are parallel safe
SELECT is((SELECT count(*) FROM sg, corpus WHERE ecml.embed_text(m, tokens) IS NOT NULL), 2400::bigint,
          'embed_text over a table');

SELECT * FROM finish();
ROLLBACK;
