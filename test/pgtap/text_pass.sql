-- ecml.train('word2vec'): word vectors trained in passes over a streamed
-- corpus by model averaging.  On two topics whose words never share a
-- document, each topic's words end up nearer each other than any word of
-- the other topic, serially and with parallel workers; the model is the
-- word2vec_train kind every text function reads; a seed makes it
-- repeatable; bad sources, options and checkpoints get coded errors.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(24);
SET client_min_messages = warning;

-- documents of 8 to 15 words, each from one topic, plus shared filler
CREATE TABLE tp_docs AS
SELECT d, CASE WHEN d % 2 = 0 THEN 'fruit' ELSE 'car' END AS topic,
       ARRAY(SELECT CASE WHEN (hashint8(d * 1000 + j) & 7) = 0
                         THEN (ARRAY['the', 'and', 'with'])[1 + (hashint8(d * 1000 + j + 500) & 2147483647) % 3]
                         ELSE (CASE WHEN d % 2 = 0 THEN ARRAY['apple', 'banana', 'cherry', 'grape', 'lemon', 'mango']
                                    ELSE ARRAY['engine', 'wheel', 'brake', 'clutch', 'piston', 'gear'] END)
                              [1 + (hashint8(d * 1000 + j) & 2147483647) % 6] END
             FROM generate_series(1, 8 + d % 8) j) AS tokens
FROM generate_series(1, 12000) d;
ANALYZE tp_docs;
CREATE TABLE tp_words (w text, topic text);
INSERT INTO tp_words
SELECT w, 'fruit' FROM unnest('{apple,banana,cherry,grape,lemon,mango}'::text[]) w
UNION ALL SELECT w, 'car' FROM unnest('{engine,wheel,brake,clutch,piston,gear}'::text[]) w;

-- within: the least similar pair of one topic; across: the most similar
-- pair of two topics
CREATE FUNCTION pg_temp.separation(m bytea) RETURNS TABLE (within float8, across float8)
LANGUAGE sql AS $$
    SELECT min(1 - ecml.cosine_distance(ecml.word_vector(m, a.w), ecml.word_vector(m, b.w))) FILTER (WHERE a.topic = b.topic),
           max(1 - ecml.cosine_distance(ecml.word_vector(m, a.w), ecml.word_vector(m, b.w))) FILTER (WHERE a.topic <> b.topic)
    FROM tp_words a JOIN tp_words b ON a.w < b.w
$$;

CREATE TABLE tp_models AS
SELECT 'passes' AS how, ecml.train('word2vec', 'SELECT tokens FROM tp_docs',
       '{"dim": 16, "epochs": 3, "min_count": 2, "seed": 11}') AS m
UNION ALL
SELECT 'again', ecml.train('word2vec', 'SELECT tokens FROM tp_docs',
       '{"dim": 16, "epochs": 3, "min_count": 2, "seed": 11}')
UNION ALL
SELECT 'aggregate', ecml.word2vec_train(tokens, '{"dim": 16, "epochs": 3, "min_count": 2, "seed": 11}')
FROM tp_docs;

SELECT ok((SELECT within > across FROM tp_models, pg_temp.separation(m) WHERE how = 'passes'),
          'each topic''s words are nearer each other than any word of the other topic');
SELECT ok((SELECT within > across FROM tp_models, pg_temp.separation(m) WHERE how = 'aggregate'),
          '... as with ecml.word2vec_train on the same documents');
SELECT is((SELECT ecml.model_info(m)->>'kind' FROM tp_models WHERE how = 'passes'), 'word_vectors',
          'the model is a word_vectors model');
SELECT is((SELECT ecml.model_info(m)->'metrics'->'passes' FROM tp_models WHERE how = 'passes'), '5'::jsonb,
          'a vocabulary pass, one pass per epoch, one for the common component');
SELECT is((SELECT (ecml.model_info(m)->>'words')::int FROM tp_models WHERE how = 'passes'),
          (SELECT (ecml.model_info(m)->>'words')::int FROM tp_models WHERE how = 'aggregate'),
          'the same vocabulary size as ecml.word2vec_train');
SELECT is((SELECT (ecml.model_info(m)->'metrics') - '{loss,partitions,passes}'::text[] FROM tp_models WHERE how = 'passes'),
          (SELECT (ecml.model_info(m)->'metrics') - 'loss'::text FROM tp_models WHERE how = 'aggregate'),
          'the same document, token and dropped-word counts');
SELECT is((SELECT array_agg(ecml.word_vector(p.m, w) = ecml.word_vector(a.m, w)) FILTER (WHERE ecml.word_vector(p.m, w) <> ecml.word_vector(a.m, w))
           FROM tp_models p, tp_models a, tp_words WHERE p.how = 'passes' AND a.how = 'again'),
          NULL, 'serially, the same seed gives the same vectors');

-- every text function reads it
SELECT is((SELECT array_agg(t.topic ORDER BY s.similarity DESC)
           FROM tp_models, ecml.similar_words(m, 'apple', 5) s JOIN tp_words t ON t.w = s.word WHERE how = 'passes'),
          ARRAY['fruit', 'fruit', 'fruit', 'fruit', 'fruit'], 'similar_words(apple) are the other fruits');
SELECT cmp_ok((SELECT 1 - ecml.cosine_distance(ecml.embed_text(m, '{apple,banana,grape}'::text[]),
                                               ecml.embed_text(m, '{mango,cherry}'::text[]))
                      - (1 - ecml.cosine_distance(ecml.embed_text(m, '{apple,banana,grape}'::text[]),
                                                  ecml.embed_text(m, '{engine,brake}'::text[])))
               FROM tp_models WHERE how = 'passes'), '>', 0::float8,
              'embed_text: a fruit document is nearer another fruit document than a car document');
SELECT ok((SELECT array_length(ecml.word_vector(m, 'applle'), 1) = 16 FROM tp_models WHERE how = 'passes'),
          'a misspelt word gets a vector from its character n-grams');
CREATE TABLE tp_clf AS
SELECT ecml.text_classifier_train(tokens, topic, '{"epochs": 5, "seed": 3}', (SELECT m FROM tp_models WHERE how = 'passes')) AS c
FROM tp_docs;
SELECT is((SELECT label FROM tp_clf, ecml.text_classify(c, '{lemon,grape}'::text[]) LIMIT 1), 'fruit',
          'a text classifier initialised from it classifies');

-- the vocabulary keeps the max_vocab most frequent words
SELECT is((SELECT (ecml.model_info(ecml.train('word2vec', 'SELECT tokens FROM tp_docs',
                   '{"dim": 4, "epochs": 1, "max_vocab": 3, "maxn": 0}'))->>'words')::int), 3,
          'max_vocab caps the vocabulary');
SELECT is((SELECT array_agg(s.word ORDER BY s.word) FROM ecml.similar_words(ecml.train('word2vec', 'SELECT tokens FROM tp_docs',
                   '{"dim": 4, "epochs": 1, "max_vocab": 3, "maxn": 0}'), 'the', 5) s),
          (SELECT array_agg(s.word ORDER BY s.word) FROM ecml.similar_words((SELECT ecml.word2vec_train(tokens,
                   '{"dim": 4, "epochs": 1, "max_vocab": 3, "maxn": 0}') FROM tp_docs), 'the', 5) s),
          '... the same words as ecml.word2vec_train keeps');

-- parallel: each worker trains on its documents, the leader averages
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
CREATE FUNCTION pg_temp.plan_text(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
    t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        t := t || r || E'\n';
    END LOOP;
    RETURN t;
END $$;
SELECT matches(pg_temp.plan_text($$SELECT ecml.word2vec_pass(tokens, '{apple}', NULL::bytea) FROM tp_docs$$),
               'Partial Aggregate', 'the epoch pass runs as a parallel partial aggregate');
CREATE TABLE tp_par AS
SELECT ecml.train('word2vec', 'SELECT tokens FROM tp_docs', '{"dim": 16, "epochs": 3, "min_count": 2, "seed": 11}') AS m;
-- how many workers get rows depends on the machine's timing (a worker
-- that starts late finds the table read), so this counts partitions, not
-- their number; the averaging itself is tested directly below
SELECT is((SELECT count(*) FILTER (WHERE p::int >= 1) FROM tp_par, jsonb_array_elements_text(ecml.model_info(m)->'metrics'->'partitions') p),
          3::bigint, 'every epoch records the partitions it averaged');
SELECT ok((SELECT within > across FROM tp_par, pg_temp.separation(m)),
          'the averaged vectors still separate the topics');
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;

-- the combine function on two partial states, as a leader averages its
-- workers': a checkpoint unlike either part, which the next pass accepts
CREATE FUNCTION pg_temp.w2v_checkpoint() RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode('50563257' || '00000000' || '01000000' || '00000000' || '00000000'
                  || '00000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '00000000'
                  || '0000000000000000' || '9a9999999999993f' || '03000000' || '00000000' || '01000000' || '00000000'
                  || 'fca9f1d24d62503f' || '2a00000000000000'
                  || '0100000000000000' || repeat('00', 80)
                  || '0100000000000000' || 'cdcccc3d00000000' || repeat('00', 32), 'hex')
$$;
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE tp_halves AS
SELECT (SELECT ecml.word2vec_pass(ARRAY['w1', 'w1', 'w1'], '{w1}', pg_temp.w2v_checkpoint()) FROM generate_series(1, 30)) AS a,
       (SELECT ecml.word2vec_pass(ARRAY['w1', 'w1', 'w1', 'w1'], '{w1}', pg_temp.w2v_checkpoint()) FROM generate_series(1, 70)) AS b;
SELECT ok((SELECT c <> a AND c <> b AND length(c) = length(a)
           FROM (SELECT a, b, ecml.word2vec_pass_combinefn(a, b) AS c FROM tp_halves) x),
          'combining two partitions gives a checkpoint of the same shape unlike either');
SELECT is((SELECT length(ecml.word2vec_pass(ARRAY['w1', 'w1'], '{w1}', (SELECT ecml.word2vec_pass_combinefn(a, b) FROM tp_halves)))
           FROM generate_series(1, 5)), (SELECT length(a) FROM tp_halves),
          '... which the next epoch''s pass accepts');
RESET max_parallel_workers_per_gather;

-- bad sources, options and checkpoints: SQLSTATE-coded errors
SELECT throws_ok($$SELECT ecml.train('word2vec', 'SELECT d FROM tp_docs')$$, '42804', NULL,
                 'a source of integers, not tokens, is a datatype mismatch');
SELECT throws_ok($$SELECT ecml.train('word2vec', 'SELECT tokens FROM tp_docs', '{"hidden_size": 4}')$$, '22023', NULL,
                 'an option of another kind is an invalid parameter');
SELECT throws_ok($$SELECT ecml.train('word2vec', 'SELECT tokens FROM tp_docs WHERE false')$$, '22000', NULL,
                 'an empty source: no word occurs min_count times');
SELECT throws_ok($$SELECT ecml.train('word2vec', 'SELECT ARRAY[''the'', NULL] FROM tp_docs', '{"min_count": 1}')$$, '22004', NULL,
                 'a NULL token is an error, as for ecml.word2vec_train');
SELECT throws_ok($$SELECT ecml.word2vec_pass(tokens, '{apple}', '\x00112233'::bytea) FROM tp_docs$$, '22023', NULL,
                 'a checkpoint not made by ecml.train is refused');
SELECT throws_ok($$SELECT ecml.train('word2vec', 'SELECT tokens FROM tp_docs WHERE random() < 0.5', '{"dim": 4, "epochs": 2, "min_count": 1}')$$,
                 '55000', NULL, 'a source that returns other rows in another pass');

SELECT * FROM finish();
ROLLBACK;
