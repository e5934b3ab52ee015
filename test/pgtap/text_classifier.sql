-- The text classifier: sentiment with negations (word pairs needed),
-- stars (5 graded labels) and topics (20 labels) on generated reviews with
-- a known answer, explanations that add up to the score, determinism, and
-- parallel training equal to serial training.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(11);

-- sentiment: a positive review praises, a negative one praises with "not"
-- or complains; "not" alone says nothing, "not great" does
CREATE TABLE rev AS
WITH w AS (SELECT ARRAY['great','lovely','perfect','comfortable','soft','beautiful','flattering','warm'] AS good,
                  ARRAY['itchy','faded','torn','flimsy'] AS bad,
                  ARRAY['the','jacket','fit','colour','size','fabric','arrived','it','is','was','and','i','this','dress','not'] AS filler)
SELECT r AS id, abs(hashint4(r)) % 2 = 0 AS positive,
       ARRAY(SELECT CASE WHEN j = 2 THEN
                      CASE WHEN abs(hashint4(r)) % 2 = 0 THEN good[1 + abs(hashint4(r * 7 + j)) % 8]
                           WHEN abs(hashint4(r * 5)) % 3 = 0 THEN bad[1 + abs(hashint4(r * 7 + j)) % 4]
                           ELSE 'not ' || good[1 + abs(hashint4(r * 7 + j)) % 8] END
                    ELSE filler[1 + abs(hashint4(r * 13 + j)) % 15] END
             FROM generate_series(0, 6 + abs(hashint4(r * 3)) % 6) j) AS phrase
FROM generate_series(1, 5000) r, w;
CREATE TABLE reviews AS
SELECT id, positive, CASE WHEN positive THEN 'positive' ELSE 'negative' END AS sentiment,
       ecml.tokenize(array_to_string(phrase, ' '), 'simple') AS tokens
FROM rev;
ANALYZE reviews;

CREATE TABLE uni AS
SELECT ecml.text_classifier_train(tokens, sentiment, '{"dim": 20, "epochs": 10}') AS m FROM reviews WHERE id % 5 <> 0;
CREATE TABLE bi AS
SELECT ecml.text_classifier_train(tokens, sentiment, '{"dim": 20, "epochs": 10, "word_ngrams": 2}') AS m FROM reviews WHERE id % 5 <> 0;
CREATE TABLE acc AS
SELECT avg((ecml.text_label(u.m, tokens) = sentiment)::int)::float8 AS uni,
       avg((ecml.text_label(b.m, tokens) = sentiment)::int)::float8 AS bi
FROM uni u, bi b, reviews WHERE id % 5 = 0;
SELECT cmp_ok((SELECT bi FROM acc), '>=', 0.97::float8, 'sentiment with word pairs: test accuracy at least 0.97');
SELECT cmp_ok((SELECT bi - uni FROM acc), '>', 0.05::float8, 'word pairs read negations that single words cannot');
SELECT is((SELECT token FROM bi, ecml.text_explain(m, '{the, dress, is, not, great}', 'negative') LIMIT 1),
          'not great', 'the explanation of a negated review names the pair');
-- for two labels the contributions add up to half the log-odds
SELECT ok((SELECT abs((SELECT sum(contribution) FROM ecml.text_explain(m, '{this, jacket, is, warm, and, soft}'))
                   - 0.5 * (SELECT ln(max(probability) / min(probability)) FROM ecml.text_classify(m, '{this, jacket, is, warm, and, soft}'))) < 1e-3
           FROM bi),
          'contributions add up to the label''s score above the average label''s');

-- stars: the adjective's strength sets 1 to 5 stars
CREATE TABLE stars AS
WITH w AS (SELECT ARRAY[ARRAY['awful','terrible','useless'], ARRAY['poor','disappointing','mediocre'],
                        ARRAY['okay','average','decent'], ARRAY['good','nice','pleasant'],
                        ARRAY['perfect','excellent','stunning']] AS adj,
                  ARRAY['the','shoes','fit','colour','size','quality','it','is','and','i','these'] AS filler)
SELECT r AS id, (1 + abs(hashint4(r)) % 5)::text AS stars,
       ARRAY(SELECT CASE WHEN j % 4 = 2 THEN adj[1 + abs(hashint4(r)) % 5][1 + abs(hashint4(r * 7 + j)) % 3]
                         ELSE filler[1 + abs(hashint4(r * 13 + j)) % 11] END
             FROM generate_series(0, 5 + abs(hashint4(r * 3)) % 8) j) AS tokens
FROM generate_series(1, 4000) r, w;
SELECT cmp_ok((SELECT avg((ecml.text_label(m, tokens) = stars)::int)::float8
               FROM (SELECT ecml.text_classifier_train(tokens, stars, '{"dim": 16, "epochs": 10}') AS m FROM stars WHERE id % 5 <> 0) s,
                    stars WHERE id % 5 = 0), '>=', 0.97::float8,
              'stars (5 labels): test accuracy at least 0.97');

-- topics: 20 classes, each with its own 6 words among shared ones
CREATE TABLE topics AS
SELECT r AS id, 'class' || (abs(hashint4(r)) % 20) AS topic,
       ARRAY(SELECT CASE WHEN j % 3 = 0 THEN 'w' || (abs(hashint4(r)) % 20) || '_' || abs(hashint4(r * 7 + j)) % 6
                         ELSE 'shared' || abs(hashint4(r * 13 + j)) % 30 END
             FROM generate_series(0, 8) j) AS tokens
FROM generate_series(1, 6000) r;
CREATE TABLE tm AS SELECT ecml.text_classifier_train(tokens, topic, '{"dim": 16, "epochs": 10}') AS m FROM topics WHERE id % 5 <> 0;
SELECT cmp_ok((SELECT avg((ecml.text_label(m, tokens) = topic)::int)::float8 FROM tm, topics WHERE id % 5 = 0),
              '>=', 0.97::float8, 'topics (20 labels): test accuracy at least 0.97');
SELECT is((SELECT count(*) FROM tm, ecml.text_classify(m, '{shared1}')), 20::bigint, 'text_classify returns every label');
SELECT ok((SELECT bool_and(p >= lead) FROM (SELECT probability AS p, lead(probability, 1, 0::real) OVER () AS lead
                                             FROM tm, ecml.text_classify(m, '{w3_1, shared2}')) s),
          'labels come most probable first');

-- determinism, row order, parallel plans
SELECT is((SELECT substr(ecml.text_classifier_train(tokens, topic, '{"dim": 16, "epochs": 10}'), 65) FROM topics WHERE id % 5 <> 0),
          (SELECT substr(m, 65) FROM tm), 'the same seed trains the same model byte for byte');
SELECT is((SELECT substr(ecml.text_classifier_train(tokens, topic, '{"dim": 16, "epochs": 10}'), 65)
           FROM (SELECT * FROM topics WHERE id % 5 <> 0 ORDER BY id DESC) t),
          (SELECT substr(m, 65) FROM tm), 'rows in another order train the same model');
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
ANALYZE topics;
SELECT is((SELECT substr(ecml.text_classifier_train(tokens, topic, '{"dim": 16, "epochs": 10}'), 65) FROM topics WHERE id % 5 <> 0),
          (SELECT substr(m, 65) FROM tm), 'parallel training gives the serial model byte for byte');

SELECT * FROM finish();
ROLLBACK;
