-- The text classifier started from word vectors (the four-argument
-- text_classifier_train): on generated documents whose classes pretrained
-- vectors separate, one short epoch from them beats one from a random
-- start; the dimension follows the vectors; the same inputs give the same
-- model whatever the row order or plan; a model of another kind and a dim
-- mismatch are errors.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(16);

-- 300 words of each class (p0..p299, n0..n299); a document is 4 words of
-- its class, so the answer is known; 200 documents train, 800 test
CREATE TABLE wi_docs AS
SELECT d, CASE WHEN d % 2 = 0 THEN 'pos' ELSE 'neg' END AS label,
       ARRAY(SELECT CASE WHEN d % 2 = 0 THEN 'p' ELSE 'n' END || ((d * 7919 + k * 104729) % 300)
             FROM generate_series(1, 4) k) AS tokens
FROM generate_series(1, 1000) d;
ANALYZE wi_docs;
-- vectors that separate the classes: +1 or -1 on the first axis, the
-- same noise for both classes on the others
CREATE TABLE wi_wv AS
SELECT ecml.word_vectors_load(w, ARRAY[s, sin(i * 1.7), cos(i * 2.3), sin(i * 0.9)]::real[]) AS m
FROM (SELECT c || i AS w, CASE c WHEN 'p' THEN 1 ELSE -1 END AS s, i
      FROM generate_series(0, 299) i, unnest('{p,n}'::text[]) c) s;
-- the same words with vectors that carry no class (noise only)
CREATE TABLE wi_noise AS
SELECT ecml.word_vectors_load(w, ARRAY[sin(i * 3.1 + c), cos(i * 1.3 - c), sin(i * 0.7 + 2 * c), cos(i * 2.9)]::real[]) AS m
FROM (SELECT cs || i AS w, CASE cs WHEN 'p' THEN 1 ELSE 2 END AS c, i
      FROM generate_series(0, 299) i, unnest('{p,n}'::text[]) cs) s;

CREATE TABLE wi_models AS
SELECT ecml.text_classifier_train(tokens, label, '{"dim": 4, "epochs": 1, "learning_rate": 0.05}') AS rnd,
       ecml.text_classifier_train(tokens, label, '{"epochs": 1, "learning_rate": 0.05}', (SELECT m FROM wi_wv)) AS pre,
       ecml.text_classifier_train(tokens, label, '{"epochs": 1, "learning_rate": 0.05}', (SELECT m FROM wi_noise)) AS noise,
       ecml.text_classifier_train(tokens, label, '{"dim": 4, "epochs": 1, "learning_rate": 0.05}', NULL) AS nul
FROM wi_docs WHERE d <= 200;
CREATE TABLE wi_acc AS
SELECT avg((ecml.text_label(rnd, tokens) = label)::int)::float8 AS rnd,
       avg((ecml.text_label(pre, tokens) = label)::int)::float8 AS pre,
       avg((ecml.text_label(noise, tokens) = label)::int)::float8 AS noise
FROM wi_docs, wi_models WHERE d > 200;
SELECT diag(format('held-out accuracy after one epoch: random start %s, separating vectors %s, noise vectors %s',
                   round(rnd::numeric, 3), round(pre::numeric, 3), round(noise::numeric, 3))) FROM wi_acc;

SELECT cmp_ok((SELECT pre FROM wi_acc), '>=', 0.95::float8, 'from separating word vectors, one epoch classifies the held-out documents');
SELECT cmp_ok((SELECT pre - rnd FROM wi_acc), '>=', 0.2::float8, 'and beats the random start by 0.2 or more');
SELECT cmp_ok((SELECT pre - noise FROM wi_acc), '>=', 0.2::float8, 'and beats vectors that carry no class: the vectors, not the call, help');
SELECT is((SELECT (ecml.model_info(pre) ->> 'words_from_word_vectors')::int FROM wi_models),
          (SELECT count(DISTINCT t)::int FROM wi_docs, unnest(tokens) t WHERE d <= 200),
          'every training word starts from its vector (model_info counts them)');
SELECT is((SELECT (ecml.model_info(pre) -> 'hyperparameters' ->> 'dim')::int FROM wi_models), 4,
          'dim follows the word vectors when not given');
SELECT ok((SELECT NOT (ecml.model_info(rnd) ? 'words_from_word_vectors') FROM wi_models),
          'a random start says nothing about word vectors');
SELECT is((SELECT substr(nul, 65) FROM wi_models), (SELECT substr(rnd, 65) FROM wi_models),
          'NULL word vectors: the random start, byte for byte');

-- the classifier scores alone: its input rows are its own copy
SELECT is((SELECT ecml.text_label(pre, '{p17, p230}') FROM wi_models), 'pos', 'the model scores without the word vectors');

-- determinism: byte for byte again, in another row order, and in parallel
SELECT is((SELECT substr(ecml.text_classifier_train(tokens, label, '{"epochs": 1, "learning_rate": 0.05}', (SELECT m FROM wi_wv)), 65)
           FROM wi_docs WHERE d <= 200),
          (SELECT substr(pre, 65) FROM wi_models), 'the same inputs train the same model byte for byte');
SELECT is((SELECT substr(ecml.text_classifier_train(tokens, label, '{"epochs": 1, "learning_rate": 0.05}', (SELECT m FROM wi_wv)), 65)
           FROM (SELECT * FROM wi_docs WHERE d <= 200 ORDER BY d DESC) t),
          (SELECT substr(pre, 65) FROM wi_models), 'rows in another order train the same model');
SAVEPOINT par;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
SELECT is((SELECT substr(ecml.text_classifier_train(tokens, label, '{"epochs": 1, "learning_rate": 0.05}', (SELECT m FROM wi_wv)), 65)
           FROM wi_docs WHERE d <= 200),
          (SELECT substr(pre, 65) FROM wi_models), 'parallel workers (the vectors in their partial states) train the serial model');
ROLLBACK TO par;

-- bad input
SELECT throws_ok($$SELECT ecml.text_classifier_train(tokens, label, '{"dim": 8}', (SELECT m FROM wi_wv)) FROM wi_docs$$,
                 '22023', 'text_classifier_train: option dim is 8, the word vectors have 4 dimensions',
                 'a dim other than the word vectors'' is an error naming both');
SELECT throws_ok($$SELECT ecml.text_classifier_train(tokens, label, NULL, (SELECT rnd FROM wi_models)) FROM wi_docs$$,
                 'XX001', 'wrong kind of ecml model: got text_classifier, expected word_vectors',
                 'a model of another kind is refused');
SELECT throws_ok($$SELECT ecml.text_classifier_train(tokens, label, NULL, CASE WHEN d = 7 THEN (SELECT m FROM wi_noise) ELSE (SELECT m FROM wi_wv) END) FROM wi_docs$$,
                 '22023', 'text_classifier_train: word_vectors differ between rows',
                 'another model on a later row is an error');
SELECT throws_ok($$SELECT ecml.text_classifier_train(tokens, label, NULL, CASE WHEN d = 7 THEN (SELECT rnd FROM wi_models) ELSE (SELECT m FROM wi_wv) END) FROM wi_docs$$,
                 'XX001', 'wrong kind of ecml model: got text_classifier, expected word_vectors',
                 'a model of another kind on a later row is refused as such');
SELECT throws_ok($$SELECT ecml.text_classifier_train(tokens, label, NULL, substr((SELECT m FROM wi_wv), 1, 100)) FROM wi_docs$$,
                 'XX001', NULL, 'a truncated model is refused');

SELECT * FROM finish();
ROLLBACK;
