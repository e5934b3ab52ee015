-- Text: tokens, word vectors (trained and loaded), text embeddings.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- tokens in document order through a text search configuration
SELECT ecml.tokenize('The waterproof jackets are running out! Don''t miss them.', 'english');
SELECT ecml.tokenize('The waterproof jackets are running out!', 'simple');
SELECT ecml.tokenize('red rain jacket', 'simple', 2);
SELECT ecml.tokenize('red rain jacket', 'simple', 3);
-- repeats are kept (to_tsvector would merge them)
SELECT ecml.tokenize('jacket, jacket and JACKET', 'english');
-- without a configuration: default_text_search_config
SET default_text_search_config = 'simple';
SELECT ecml.tokenize('The Jackets');
RESET default_text_search_config;
-- empty documents and stop words only: an empty array; NULL: NULL
SELECT ecml.tokenize('', 'english'), ecml.tokenize('the of and a', 'english'),
       ecml.tokenize(NULL, 'english') IS NULL AS null_doc;
-- a 10 MB document
SELECT array_length(ecml.tokenize(repeat('waterproof jacket ', 600000), 'english'), 1) AS tokens;
-- bad arguments
SELECT ecml.tokenize('x', 'no_such_config');
SELECT ecml.tokenize('x', 99999::oid::regconfig);
SELECT ecml.tokenize('x', 'simple', 0);
SELECT ecml.tokenize('x', 'simple', 6);

-- a corpus of five topics; in each, two synonyms fill the same slot
-- ("<adjective> <noun> with <feature>") and so share every context
CREATE TABLE docs AS
WITH topics(t, heads, adj, feat) AS (VALUES
  (0, ARRAY['jacket','coat'], ARRAY['waterproof','warm','hooded'], ARRAY['zip','pockets','lining']),
  (1, ARRAY['sneaker','trainer'], ARRAY['running','light','cushioned'], ARRAY['laces','sole','grip']),
  (2, ARRAY['dress','gown'], ARRAY['silk','elegant','floral'], ARRAY['sleeves','belt','slit']),
  (3, ARRAY['mug','cup'], ARRAY['ceramic','large','enamel'], ARRAY['handle','lid','saucer']),
  (4, ARRAY['laptop','notebook'], ARRAY['fast','slim','gaming'], ARRAY['keyboard','battery','screen']))
SELECT d AS id, t AS topic,
       (SELECT array_agg(CASE j % 4 WHEN 0 THEN adj[1 + abs(hashint4(d * 17 + j)) % 3]
                                    WHEN 1 THEN heads[1 + abs(hashint4(d * 31 + j)) % 2]
                                    WHEN 2 THEN 'with'
                                    ELSE feat[1 + abs(hashint4(d * 13 + j)) % 3] END ORDER BY j)
          FROM generate_series(0, 11) j) AS tokens
FROM generate_series(1, 1000) d
JOIN topics ON t = d % 5;
-- rows training skips: NULL, no tokens, an empty token
INSERT INTO docs VALUES (1001, NULL, NULL), (1002, NULL, '{}'), (1003, NULL, '{""}');

CREATE TABLE wv AS
SELECT ecml.word2vec_train(tokens, '{"dim": 24, "min_count": 1, "epochs": 10, "window": 2,
                               "sample": 0, "maxn": 0, "seed": 3}') AS m
FROM docs;
SELECT i->>'kind' AS kind, i->'words' AS words, i->'dim' AS dim, i->'subwords' AS subwords,
       i->'rows' AS rows, i->'rows_skipped' AS skipped,
       i->'metrics'->'documents' AS documents, i->'metrics'->'null_documents' AS nulls,
       i->'metrics'->'empty_documents' AS empty, i->'metrics'->'tokens' AS tokens,
       jsonb_array_length(i->'metrics'->'loss') AS epochs,
       (i->'metrics'->'loss'->>0)::float8 > (i->'metrics'->'loss'->>-1)::float8 AS loss_decreased,
       i->'hyperparameters'->>'method' AS method
FROM wv, ecml.model_info(m) AS i;

-- the planted synonym is the nearest word
SELECT w, (SELECT s.word FROM ecml.similar_words(m, w, 1) s) AS nearest
FROM wv, unnest('{jacket, trainer, gown, mug, notebook}'::text[]) w;
-- by vector: the word itself first, similarity 1
SELECT s.word, round(s.similarity::numeric, 4) AS sim
FROM wv, ecml.similar_words(m, ecml.word_vector(m, 'laptop'), 1) s;
-- word_vector: the model's dimension; NULL for a word it does not know
SELECT array_length(ecml.word_vector(m, 'coat'), 1) AS dim,
       ecml.word_vector(m, 'zeppelin') IS NULL AS unknown_is_null
FROM wv;
SELECT count(*) AS unknown_rows FROM wv, ecml.similar_words(m, 'zeppelin', 5);

-- embed_text: unit length; NULL when no token has a vector
SELECT round(sqrt((SELECT sum(x * x) FROM unnest(ecml.embed_text(m, tokens)) x))::numeric, 4) AS norm
FROM wv, docs WHERE id = 1;
SELECT ecml.embed_text(m, '{}'::text[]) IS NULL AS empty,
       ecml.embed_text(m, '{zeppelin, blimp}'::text[]) IS NULL AS unknown,
       ecml.embed_text(m, 'the of and', 'english') IS NULL AS stop_words,
       ecml.embed_text(m, 'A waterproof coat with a zip', 'english') IS NOT NULL AS known
FROM wv;
-- documents of a topic are nearer each other than to other topics
SELECT bool_and(same < other) AS topics_separate FROM (
    SELECT a.topic,
           avg(ecml.cosine_distance(ecml.embed_text(m, a.tokens), ecml.embed_text(m, b.tokens)))
               FILTER (WHERE a.topic = b.topic) AS same,
           avg(ecml.cosine_distance(ecml.embed_text(m, a.tokens), ecml.embed_text(m, b.tokens)))
               FILTER (WHERE a.topic <> b.topic) AS other
    FROM wv, docs a, docs b WHERE a.id <= 50 AND b.id <= 50 AND a.id <> b.id
    GROUP BY a.topic) s;

-- subwords: a misspelt word gets a vector from its character n-grams
CREATE TABLE wvs AS
SELECT ecml.word2vec_train(tokens, '{"dim": 24, "min_count": 1, "epochs": 10, "sample": 0, "minn": 3, "maxn": 5, "buckets": 100000}') AS m
FROM docs;
SELECT i->'subwords' AS subwords, i->'minn' AS minn, i->'maxn' AS maxn, (i->>'ngrams_stored')::int > 0 AS ngrams
FROM wvs, ecml.model_info(m) AS i;
SELECT ecml.word_vector(m, 'waterprof') IS NOT NULL AS misspelt,
       ecml.word_vector(m, 'qqqq') IS NULL AS no_ngram_known
FROM wvs;
SELECT s.word FROM wvs, ecml.similar_words(m, 'keyboards', 1) s;

-- CBOW
SELECT (ecml.model_info(ecml.word2vec_train(tokens, '{"method": "cbow", "dim": 8, "min_count": 1, "epochs": 1, "maxn": 0}'))->'hyperparameters'->>'method') AS method
FROM docs;

-- min_count and the vocabulary cap keep the most frequent words
SELECT i->'words' AS words, i->'metrics'->'words_dropped' AS dropped
FROM (SELECT ecml.model_info(ecml.word2vec_train(tokens, '{"dim": 4, "max_vocab": 10, "min_count": 1, "epochs": 1}')) AS i FROM docs) s;
SELECT i->'words' AS words FROM (SELECT ecml.model_info(ecml.word2vec_train(tokens,
    '{"dim": 4, "min_count": 200, "epochs": 1}')) AS i FROM docs) s;

-- errors
SELECT ecml.word2vec_train(tokens, '{"min_count": 100000}') FROM docs;
SELECT ecml.word2vec_train(tokens) FROM docs WHERE false;
SELECT ecml.word2vec_train(tokens, '{"method": "glove"}') FROM docs;
SELECT ecml.word2vec_train(tokens, '{"dim": 0}') FROM docs;
SELECT ecml.word2vec_train(tokens, '{"minn": 5, "maxn": 3}') FROM docs;
SELECT ecml.word2vec_train(tokens, '{"windows": 3}') FROM docs;
SELECT ecml.word2vec_train(ARRAY['a', NULL]) ;
SELECT ecml.word2vec_train(ARRAY[['a'], ['b']]);
SET ecml.train_memory_limit = '1MB';
SELECT ecml.word2vec_train(ARRAY(SELECT 'w' || (g * 7 + j) % 5000 FROM generate_series(1, 200) j))
FROM generate_series(1, 2000) g;
RESET ecml.train_memory_limit;
SELECT ecml.similar_words(m, 'jacket', 0) FROM wv;
SELECT ecml.similar_words(m, ARRAY[1, 2]::real[], 3) FROM wv;
SELECT ecml.embed_text(m, 'x', 'no_such_config') FROM wv;
SELECT ecml.embed_text(m, ARRAY['a', NULL]) FROM wv;
-- a model of another kind, a damaged model
SELECT ecml.word_vector(ecml.anomaly_train(ARRAY[g, g % 3]::real[]), 'x') FROM generate_series(1, 20) g;
SELECT ecml.word_vector(overlay(m placing '\xffff'::bytea from 200), 'jacket') FROM wv;

-- pretrained vectors loaded from rows
CREATE TABLE glove(word text, vector real[]);
INSERT INTO glove VALUES
  ('king', '{0.9, 0.8, 0.1}'), ('queen', '{0.88, 0.82, 0.15}'), ('man', '{0.5, 0.1, 0.0}'),
  ('woman', '{0.48, 0.14, 0.05}'), ('apple', '{-0.5, 0.2, 0.9}'), (NULL, '{1, 1, 1}'), ('', '{1, 1, 1}');
CREATE TABLE gv AS SELECT ecml.word_vectors_load(word, vector) AS m FROM glove;
SELECT i->>'kind' AS kind, i->'words' AS words, i->'dim' AS dim, i->'counts' AS counts,
       i->'rows' AS rows, i->'rows_skipped' AS skipped
FROM gv, ecml.model_info(m) AS i;
SELECT ecml.word_vector(m, 'queen') AS queen, ecml.word_vector(m, 'pear') IS NULL AS pear FROM gv;
SELECT s.word, round(s.similarity::numeric, 4) AS sim FROM gv, ecml.similar_words(m, 'king', 4) s;
SELECT array_length(ecml.embed_text(m, '{king, man}'::text[]), 1) AS dim FROM gv;
SELECT ecml.word_vectors_load(word, vector) FROM (VALUES ('a', '{1,2}'::real[]), ('b', '{1,2,3}')) v(word, vector);
SELECT ecml.word_vectors_load(word, vector) FROM (VALUES ('a', '{1,2}'::real[]), ('a', '{1,3}')) v(word, vector);
SELECT ecml.word_vectors_load(word, vector) FROM (VALUES ('a', '{1,NaN}'::real[])) v(word, vector);
SELECT ecml.word_vectors_load(word, vector) FROM (VALUES ('a', '{}'::real[])) v(word, vector);
SELECT ecml.word_vectors_load(word, vector, '{"sif_a": 0}') FROM glove;
SELECT ecml.word_vectors_load(word, vector) FROM glove WHERE false;

-- the text classifier: reviews whose adjectives set the sentiment
CREATE TABLE reviews AS
WITH w AS (SELECT ARRAY['great','love','perfect','comfortable','soft','beautiful'] AS pos,
                  ARRAY['poor','broken','cheap','itchy','faded','awful'] AS neg,
                  ARRAY['the','jacket','fit','colour','size','fabric','arrived','it','is','was','and','i','this','dress'] AS filler)
SELECT r AS id, CASE WHEN abs(hashint4(r)) % 2 = 0 THEN 'positive' ELSE 'negative' END AS sentiment,
       ARRAY(SELECT CASE WHEN j % 3 = 1 THEN
                      CASE WHEN abs(hashint4(r)) % 2 = 0 THEN pos[1 + abs(hashint4(r * 7 + j)) % 6]
                           ELSE neg[1 + abs(hashint4(r * 7 + j)) % 6] END
                    ELSE filler[1 + abs(hashint4(r * 13 + j)) % 14] END
             FROM generate_series(0, 5 + abs(hashint4(r * 3)) % 10) j) AS tokens
FROM generate_series(1, 1000) r, w;
-- rows training skips: NULL document, NULL label, no tokens
INSERT INTO reviews VALUES (2001, 'positive', NULL), (2002, NULL, '{great}'), (2003, 'negative', '{}');
CREATE TABLE clf AS
SELECT ecml.text_classifier_train(tokens, sentiment, '{"dim": 16, "epochs": 5}') AS m FROM reviews;
SELECT i->>'kind' AS kind, i->'words' AS words, i->'labels' AS labels, i->'dim' AS dim,
       i->'rows' AS rows, i->'rows_skipped' AS skipped, i->'metrics'->'skipped_null' AS nulls,
       i->'metrics'->'skipped_empty' AS empty, i->'metrics'->'label_counts' AS label_counts,
       (i->'metrics'->'loss'->>0)::float8 > (i->'metrics'->'loss'->>-1)::float8 AS loss_decreased
FROM clf, ecml.model_info(m) AS i;
SELECT label, probability > 0.9 AS sure FROM clf, ecml.text_classify(m, '{this, dress, is, beautiful}');
SELECT ecml.text_label(m, '{the, fabric, is, itchy}') AS itchy,
       ecml.text_label(m, '{the, fabric, is, soft}') AS soft FROM clf;
-- probabilities add up to 1
SELECT round(sum(probability)::numeric, 4) AS total FROM clf, ecml.text_classify(m, '{soft, but, faded}');
-- explanations: the sentiment words first, and for the other label reversed
SELECT token FROM clf, ecml.text_explain(m, '{the, soft, jacket, arrived, broken}') LIMIT 1;
SELECT token FROM clf, ecml.text_explain(m, '{the, soft, jacket, arrived, broken}', 'positive') LIMIT 1;
-- unknown words only: every label equally likely, no explanation
SELECT label, probability FROM clf, ecml.text_classify(m, '{zeppelin}');
SELECT count(*) AS reasons FROM clf, ecml.text_explain(m, '{zeppelin}');
SELECT count(*) AS reasons FROM clf, ecml.text_explain(m, NULL);
-- word n-grams: pairs are tokens of their own in the explanation
SELECT i->'word_ngrams' AS word_ngrams, (i->>'ngram_buckets_stored')::int > 0 AS buckets
FROM (SELECT ecml.model_info(ecml.text_classifier_train(tokens, sentiment, '{"dim": 8, "epochs": 2, "word_ngrams": 2}')) AS i FROM reviews) s;
SELECT count(*) FILTER (WHERE token LIKE '% %') AS pairs, count(*) AS reasons
FROM (SELECT ecml.text_classifier_train(tokens, sentiment, '{"dim": 8, "epochs": 2, "word_ngrams": 2}') AS m FROM reviews) s,
     ecml.text_explain(m, '{the, jacket, is, great}');
-- a label seen once is a label like any other
SELECT i->'labels' AS labels, i->'metrics'->'label_counts'->'rare' AS rare
FROM (SELECT ecml.model_info(ecml.text_classifier_train(tokens, l, '{"dim": 4, "epochs": 1}')) AS i
      FROM (SELECT tokens, sentiment AS l FROM reviews UNION ALL SELECT '{odd}', 'rare') r) s;
-- errors
SELECT ecml.text_classifier_train(tokens, 'positive') FROM reviews;
SELECT ecml.text_classifier_train(tokens, sentiment) FROM reviews WHERE false;
SELECT ecml.text_classifier_train(tokens, '') FROM reviews;
SELECT ecml.text_classifier_train(tokens, sentiment, '{"word_ngrams": 9}') FROM reviews;
SELECT ecml.text_classifier_train(tokens, sentiment, '{"min_count": 100000}') FROM reviews;
SELECT ecml.text_classifier_train(tokens, 'l' || (id * 11 + g)) FROM reviews, generate_series(1, 11) g;
SELECT ecml.text_explain(m, '{great}', 'neutral') FROM clf;
SELECT ecml.text_classify(m, ARRAY['a', NULL]) FROM clf;
SELECT ecml.text_label(m, '{great}') FROM wv;
SELECT ecml.embed_text(m, '{great}'::text[]) FROM clf;
