-- Parallel equivalence, driven by the catalog so that a new function cannot
-- escape: every aggregate in schema ecml has combine/serialize/deserialize
-- functions and is PARALLEL SAFE, every other SQL-callable function except
-- ecml.save_model (it writes the registry) is PARALLEL SAFE; then, with
-- parallel aggregation forced,
--   * every aggregate (each overload) runs as a Partial Aggregate under a
--     Gather (EXPLAIN) and gives a result equal to the serial run's: the
--     same payload where the trainer is documented deterministic across
--     plans (mf_train, pack_vectors, lstm_train, word2vec_train,
--     text_classifier_train, the ranking metrics), the
--     same quality within a stated tolerance otherwise;
--   * every scoring function runs in parallel workers (EXPLAIN ANALYZE: a
--     Gather with Workers Launched > 0 whose subtree calls it; the leader
--     does not scan) and its results equal the serial run's exactly.
-- A case missing for a function in the catalog is a failed assertion.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;

CREATE FUNCTION pg_temp.plan_json(q text, do_analyze boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON' || CASE WHEN do_analyze THEN ', ANALYZE' ELSE '' END || ') ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- ---------------------------------------------------------------- data
SELECT setseed(0.31);
-- purchase-like rows: 8 features, a logistic truth; padded so the table
-- spans many pages and both workers get rows
CREATE TABLE par_lr AS
SELECT i, f, random() < 1 / (1 + exp(-(0.8 * f[1] - 1.2 * f[2] + 0.5 * f[3] * f[4] + 0.3 * f[5] - 0.2))) AS y,
       repeat('x', 200) AS pad
FROM (SELECT i, ARRAY[random() * 2 - 1, random() * 2 - 1, random(), random() * 3, random() * 2 - 1,
                      random(), random(), (i % 3)]::real[] AS f
      FROM generate_series(1, 12000) i) s;
-- payments: 10 features, fraud from planted rules
CREATE TABLE par_pay AS
SELECT i, f, random() < 1 / (1 + exp(-(-4 + 4 * (f[1] > 0.8 AND f[2] < 0.3)::int + 3 * (f[3] > 0.9)::int + 0.5 * f[4]))) AS y,
       repeat('x', 200) AS pad
FROM (SELECT i, ARRAY[random(), random(), random(), random() * 2, random(), random(), random(), random(),
                      CASE WHEN i % 7 = 0 THEN 'NaN' ELSE random() END, (i % 5)]::real[] AS f
      FROM generate_series(1, 12000) i) s;
-- points with 1% planted anomalies
CREATE TABLE par_pts AS
SELECT i, anomaly,
       CASE WHEN anomaly THEN ARRAY[random() * 8 - 4, random() * 8 - 4, random() * 8 - 4, random() * 8 - 4]
            ELSE ARRAY[a, b, a + 0.3 * b, random() + random() - 1] END::real[] AS f,
       repeat('x', 200) AS pad
FROM (SELECT i, random() < 0.01 AS anomaly, random() + random() - 1 AS a, random() + random() - 1 AS b
      FROM generate_series(1, 12000) i) s;
-- interactions: 1500 users in 10 taste groups, 300 items
CREATE TABLE par_mf AS
SELECT DISTINCT u, (CASE WHEN random() < 0.8 THEN floor(30 * random() ^ 2)::int * 10 + u % 10
                        ELSE floor(300 * random())::int END)::bigint AS i,
       (1 + floor(random() * 3))::real AS v, repeat('x', 100) AS pad
FROM generate_series(1, 1500) u, generate_series(1, 15);
-- embeddings: 4000 x 16
CREATE TABLE par_vec AS
SELECT id::bigint AS id, ARRAY(SELECT (random() * 2 - 1) + (id % 8 = j % 8)::int FROM generate_series(1, 16) j)::real[] AS e,
       repeat('x', 200) AS pad
FROM generate_series(1, 4000) id;
-- sequences: a cycle with noise, as bigint and text tokens
CREATE TABLE par_seq AS
SELECT s, seq, ARRAY(SELECT 'a' || t FROM unnest(seq) t) AS seqt, repeat('x', 400) AS pad
FROM (SELECT s, ARRAY(SELECT CASE WHEN random() < 0.8 THEN (s + t) % 10 ELSE floor(random() * 10) END::bigint
                      FROM generate_series(1, 8) t) AS seq
      FROM generate_series(1, 400) s) q;
-- scores and labels for the metric aggregates (ties across classes)
CREATE TABLE par_sl AS
SELECT i, round(x::numeric, 3)::float8 AS s, random() < x AS y, (x + random() * 0.3) / 1.3 AS p,
       repeat('x', 100) AS pad
FROM (SELECT i, random() AS x FROM generate_series(1, 20000) i) q;
-- documents of 12 words in 4 topics with a label, and pretrained vectors
CREATE TABLE par_txt AS
SELECT i, 'lab' || (i % 4) AS label,
       ARRAY(SELECT 'w' || ((i % 4) * 50 + floor(random() * 60)::int) FROM generate_series(1, 12)) AS tokens,
       repeat('x', 200) AS pad
FROM generate_series(1, 2000) i;
CREATE TABLE par_wv AS
SELECT 'v' || i AS word, ARRAY(SELECT random() * 2 - 1 FROM generate_series(1, 8))::real[] AS vector,
       repeat('x', 300) AS pad
FROM generate_series(1, 600) i;
-- word vectors for par_txt's words, for text_classifier_train to start from
CREATE TABLE par_txt_wv AS
SELECT ecml.word_vectors_load('w' || i, ARRAY(SELECT sin(i * j) FROM generate_series(1, 8) j)::real[]) AS m
FROM generate_series(0, 249) i;
-- a bin-edge sketch for ecml.gbdt_bin_edges
CREATE TABLE par_sketch AS SELECT ecml.gbdt_sketch(f, y, 1000, 16, 0) AS s FROM par_lr WHERE i <= 2000;
ANALYZE par_lr, par_pay, par_pts, par_mf, par_vec, par_seq, par_sl, par_txt, par_wv;

-- an ecml.lstm_pass checkpoint as ecml.train('lstm') builds it (one token,
-- V = 2, E = H = L = 1, max_length 2, batch_size 1, a shuffle buffer of 1; token type 0 bigint,
-- 1 text); folded to a constant when planned, so the workers never call it
CREATE FUNCTION pg_temp.lstm_checkpoint(tt int) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT decode('5054534c' || lpad(to_hex(tt), 2, '0') || '000000'
                  || '02000000' || '01000000' || '01000000' || '01000000' || '02000000' || '01000000'
                  || '01000000' || '00000000' || '01000000' || '00000000' || '01000000' || '00000000'
                  || '00000000' || '00000000' || '00000000' || '01000000' || '01000000' || '01000000'
                  || '00000000' || '00000000' || '00000000' || '00000000' || '00000000' || repeat('00', 16)
                  || '7b14ae47e17a843f' || '0000000000001440' || repeat('00', 24) || '2a00000000000000'
                  || repeat('00', 128)
                  || repeat('cdcccc3d', 18) || repeat('00', 144) || '0000000000000000' || '0500000000000000' || repeat('00', 16)
                  || repeat('00', 16), 'hex')
$$;

-- an ecml.word2vec_pass checkpoint as ecml.train('word2vec') builds it (one
-- word, V = 1, dim 1, no n-grams; text_w2v_passes.c: W2vPassState)
CREATE FUNCTION pg_temp.w2v_checkpoint() RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT decode('50563257' || '00000000' || '01000000' || '00000000' || '00000000'
                  || '00000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '00000000'
                  || '0000000000000000' || '9a9999999999993f' || '03000000' || '00000000' || '01000000' || '00000000'
                  || 'fca9f1d24d62503f' || '2a00000000000000'
                  || '0100000000000000' || repeat('00', 80)
                  || '0100000000000000' || 'cdcccc3d00000000' || repeat('00', 32), 'hex')
$$;

-- ------------------------------------------------------ aggregate cases
-- train: the aggregate call over a table, result column m; quality: a query
-- of that result (%1$s; a format() string, so mod() instead of %) returning text; tol NULL: the texts must be equal,
-- else a float8[] compared element by element within tol.
CREATE TABLE agg_cases (n serial, sig text, train text, quality text, tol float8, why text);
INSERT INTO agg_cases (sig, train, quality, tol, why) VALUES
('ecml.logreg_train(real[],boolean,jsonb)',
 $$SELECT ecml.logreg_train(f, y, '{"l2": 1e-3}') AS m FROM par_lr WHERE i % 5 <> 0$$,
 $$SELECT ARRAY[ecml.roc_auc(ecml.logreg_predict(%1$s, f), y), ecml.log_loss(ecml.logreg_predict(%1$s, f), y)]::text FROM par_lr WHERE mod(i, 5) = 0$$,
 1e-4, 'held-out ROC AUC and log loss within 1e-4 (the rows arrive in another order: float sums differ)'),
('ecml.logreg_train(real[],boolean)',
 $$SELECT ecml.logreg_train(f, y) AS m FROM par_lr WHERE i % 5 <> 0$$,
 $$SELECT ARRAY[ecml.roc_auc(ecml.logreg_predict(%1$s, f), y), ecml.log_loss(ecml.logreg_predict(%1$s, f), y)]::text FROM par_lr WHERE mod(i, 5) = 0$$,
 1e-4, 'held-out ROC AUC and log loss within 1e-4'),
('ecml.mf_train(bigint,bigint,real,jsonb)',
 $$SELECT ecml.mf_train(u, i, v, '{"factors": 8, "iterations": 5, "alpha": 2}') AS m FROM par_mf$$,
 $$SELECT md5((SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors(%1$s))::text
              || (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_user_factors(%1$s))::text)$$,
 NULL, 'identical user and item factors (ids sorted, duplicates summed before ALS)'),
('ecml.mf_train(bigint,bigint,real)',
 $$SELECT ecml.mf_train(u, i, v) AS m FROM par_mf$$,
 $$SELECT md5((SELECT array_agg(factors ORDER BY id) FROM ecml.mf_item_factors(%1$s))::text
              || (SELECT array_agg(factors ORDER BY id) FROM ecml.mf_user_factors(%1$s))::text)$$,
 NULL, 'identical user and item factors'),
('ecml.pack_vectors(bigint,real[],jsonb)',
 $$SELECT ecml.pack_vectors(id, e, '{"metric": "l2"}') AS m FROM par_vec$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload (rows sorted by id)'),
('ecml.pack_vectors(bigint,real[])',
 $$SELECT ecml.pack_vectors(id, e) AS m FROM par_vec$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload'),
('ecml.fraud_train(real[],boolean,jsonb)',
 $$SELECT ecml.fraud_train(f, y, '{"n_trees": 30, "subsample": 0.8, "colsample": 0.8, "validation_fraction": 0.1, "seed": 5}') AS m FROM par_pay WHERE i % 5 <> 0$$,
 $$SELECT (ARRAY[ecml.roc_auc(ecml.fraud_score(%1$s, f), y)] || array_agg(ecml.fraud_score(%1$s, f) ORDER BY i) FILTER (WHERE mod(i, 50) = 0))::text FROM par_pay WHERE mod(i, 5) = 0$$,
 1e-6, 'held-out ROC AUC and 240 held-out scores within 1e-6 (row selection hashes row contents)'),
('ecml.fraud_train(real[],boolean)',
 $$SELECT ecml.fraud_train(f, y) AS m FROM par_pay WHERE i % 5 <> 0$$,
 $$SELECT (ARRAY[ecml.roc_auc(ecml.fraud_score(%1$s, f), y)] || array_agg(ecml.fraud_score(%1$s, f) ORDER BY i) FILTER (WHERE mod(i, 50) = 0))::text FROM par_pay WHERE mod(i, 5) = 0$$,
 1e-6, 'held-out ROC AUC and 240 held-out scores within 1e-6'),
('ecml.anomaly_train(real[],jsonb)',
 $$SELECT ecml.anomaly_train(f, '{"n_trees": 200, "seed": 3}') AS m FROM par_pts$$,
 $$SELECT ARRAY[ecml.roc_auc(ecml.anomaly_score(%1$s, f), anomaly)]::text FROM par_pts$$,
 0.02, 'ROC AUC on planted anomalies within 0.02 (each process samples its own rows)'),
('ecml.anomaly_train(real[])',
 $$SELECT ecml.anomaly_train(f) AS m FROM par_pts$$,
 $$SELECT ARRAY[ecml.roc_auc(ecml.anomaly_score(%1$s, f), anomaly)]::text FROM par_pts$$,
 0.02, 'ROC AUC on planted anomalies within 0.02'),
('ecml.lstm_train(bigint[],jsonb)',
 $$SELECT ecml.lstm_train(seq, '{"epochs": 3, "hidden_size": 8, "embedding_dim": 4, "seed": 7}') AS m FROM par_seq$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload (sequences put in canonical order before the seeded shuffle)'),
('ecml.lstm_train(bigint[])',
 $$SELECT ecml.lstm_train(seq) AS m FROM par_seq$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload'),
('ecml.lstm_train(text[],jsonb)',
 $$SELECT ecml.lstm_train(seqt, '{"epochs": 3, "hidden_size": 8, "embedding_dim": 4, "seed": 7}') AS m FROM par_seq$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload'),
('ecml.lstm_train(text[])',
 $$SELECT ecml.lstm_train(seqt) AS m FROM par_seq$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload'),
('ecml.logreg_pass(real[],boolean,double precision[])',
 $$SELECT ecml.logreg_pass(f, y, '{0,-1,1,1,1}') AS m FROM par_lr$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a state of the same shape (test/pgtap/train.sql: ecml.train under a parallel plan trains the same model)'),
('ecml.lstm_vocab_pass(bigint[],double precision[])',
 $$SELECT ecml.lstm_vocab_pass(seq, '{10,100}') AS m FROM par_seq$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a state of the same shape (the same distinct tokens; test/pgtap/lstm_pass.sql: ecml.train(lstm) keeps lstm_train''s vocabulary)'),
('ecml.lstm_vocab_pass(text[],double precision[])',
 $$SELECT ecml.lstm_vocab_pass(seqt, '{10,100}') AS m FROM par_seq$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a state of the same shape'),
('ecml.lstm_pass(bigint[],bigint[],bytea)',
 $$SELECT ecml.lstm_pass(seq, '{1}'::bigint[], pg_temp.lstm_checkpoint(0)) AS m FROM par_seq$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a checkpoint of the same shape (the weights differ: the partitions'' weights are averaged; test/pgtap/lstm_pass.sql: the averaged model learns)'),
('ecml.lstm_pass(text[],text[],bytea)',
 $$SELECT ecml.lstm_pass(seqt, '{a1}'::text[], pg_temp.lstm_checkpoint(1)) AS m FROM par_seq$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a checkpoint of the same shape'),
('ecml.word2vec_pass(text[],text[],bytea)',
 $$SELECT ecml.word2vec_pass(tokens, '{w1}'::text[], pg_temp.w2v_checkpoint()) AS m FROM par_txt$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a checkpoint of the same shape (the weights differ: the partitions'' weights are averaged; test/pgtap/text_pass.sql: the averaged vectors still separate topics)'),
('ecml.iforest_pass(real[],double precision[])',
 $$SELECT ecml.iforest_pass(f, '{3,256,0}') AS m FROM par_pts$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a state of the same shape (test/pgtap/train.sql: with every row in every sample, ecml.train(iforest) under a parallel plan grows the same trees)'),
('ecml.mf_pass(bytea,bigint,real,double precision[])',
 $$SELECT ecml.mf_pass((SELECT ecml.mf_train(u, i, v, '{"factors": 4, "iterations": 2, "implicit": false}') FROM par_mf), i, v, '{0,0,0.1,3,1}') AS m FROM par_mf$$,
 $$SELECT (%1$s)::float8[]::text$$,
 1e-4, 'within 1e-4 (the normal equations summed in another order; test/pgtap/train.sql: ecml.train(mf) under a parallel plan)'),
('ecml.gbdt_sketch(real[],boolean,integer,integer,bigint)',
 $$SELECT ecml.gbdt_sketch(f, y, 1000, 16, 0) AS m FROM par_lr$$,
 $$SELECT (ecml.gbdt_bin_edges(%1$s, 1) || ecml.gbdt_bin_edges(%1$s, 4) || ecml.gbdt_bin_edges(%1$s, 8))::text$$,
 NULL, 'identical edges (the sample is the 1000 smallest row hashes, however the rows are split)'),
('ecml.gbdt_pass(real[],boolean,bytea)',
 $$SELECT ecml.gbdt_pass(f, y, '\x4c50424708000000000000001000000000000000000000000100000001000000000000000000000000000000000000000000f03f000000000000f03f000000000000f03f0000000000000000010000000100000001000000010000000100000001000000010000000100000000000000020000000400000006000000080000000a0000000c0000000e000000000000000000000000000000000000000000000000000000000000000000000000000000ffffffff0000000000000000000000000000000000000000000000000000000000000000'::bytea) AS m FROM par_lr$$,
 $$SELECT length(%1$s)::text$$,
 NULL, 'a state of the same shape (a plan of 8 features, the root open; test/pgtap/train.sql: ecml.train(gbdt) under a parallel plan trains the same model)'),
('ecml.roc_auc(double precision,boolean)',
 $$SELECT ecml.roc_auc(s, y) AS m FROM par_sl$$, $$SELECT (%1$s)::text$$, NULL, 'exact'),
('ecml.average_precision(double precision,boolean)',
 $$SELECT ecml.average_precision(s, y) AS m FROM par_sl$$, $$SELECT (%1$s)::text$$, NULL, 'exact'),
('ecml.score_summary(double precision,boolean)',
 $$SELECT ecml.score_summary(s, y) AS m FROM par_sl$$, $$SELECT (%1$s)::text$$, NULL, 'exact (the bins do not depend on how rows are split)'),
('ecml.pr_curve(double precision,boolean)',
 $$SELECT ecml.pr_curve(s, y) AS m FROM par_sl$$, $$SELECT md5((%1$s)::text)$$, NULL, 'exact'),
('ecml.pr_curve(double precision,boolean,integer)',
 $$SELECT ecml.pr_curve(s, y, 50) AS m FROM par_sl$$, $$SELECT (%1$s)::text$$, NULL, 'exact'),
('ecml.threshold_for_precision(double precision,boolean,double precision)',
 $$SELECT ecml.threshold_for_precision(s, y, 0.8) AS m FROM par_sl$$, $$SELECT (%1$s)::text$$, NULL, 'exact'),
('ecml.rmse(double precision,double precision)',
 $$SELECT ecml.rmse(p, s) AS m FROM par_sl$$, $$SELECT ARRAY[%1$s]::text$$, 1e-12, 'within 1e-12 (compensated sums combined in another order)'),
('ecml.log_loss(double precision,boolean)',
 $$SELECT ecml.log_loss(p, y) AS m FROM par_sl$$, $$SELECT ARRAY[%1$s]::text$$, 1e-12, 'within 1e-12'),
('ecml.word2vec_train(text[],jsonb)',
 $$SELECT ecml.word2vec_train(tokens, '{"dim": 16, "epochs": 2, "min_count": 1, "maxn": 4}') AS m FROM par_txt$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload (documents ordered by a seeded hash of their content)'),
('ecml.word2vec_train(text[])',
 $$SELECT ecml.word2vec_train(tokens) AS m FROM par_txt$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload'),
('ecml.word_vectors_load(text,real[],jsonb)',
 $$SELECT ecml.word_vectors_load(word, vector, '{"sif_a": 0.01}') AS m FROM par_wv$$,
 $$SELECT md5((SELECT array_agg(ecml.word_vector(%1$s, word) ORDER BY word) FROM par_wv)::text)$$,
 NULL, 'every word with its vector (the words are kept in arrival order)'),
('ecml.word_vectors_load(text,real[])',
 $$SELECT ecml.word_vectors_load(word, vector) AS m FROM par_wv$$,
 $$SELECT md5((SELECT array_agg(ecml.word_vector(%1$s, word) ORDER BY word) FROM par_wv)::text)$$,
 NULL, 'every word with its vector'),
('ecml.text_classifier_train(text[],text,jsonb)',
 $$SELECT ecml.text_classifier_train(tokens, label, '{"dim": 8, "epochs": 3, "word_ngrams": 2}') AS m FROM par_txt$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload (documents ordered by a seeded hash of their content)'),
('ecml.text_classifier_train(text[],text)',
 $$SELECT ecml.text_classifier_train(tokens, label) AS m FROM par_txt$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload'),
('ecml.text_classifier_train(text[],text,jsonb,bytea)',
 $$SELECT ecml.text_classifier_train(tokens, label, '{"epochs": 3, "word_ngrams": 2}', (SELECT m FROM par_txt_wv)) AS m FROM par_txt$$,
 $$SELECT md5(substr(%1$s, 65))$$,
 NULL, 'identical payload (the word vectors travel in every partial state)');

-- -------------------------------------------------------- scoring cases
-- q: a query with one output column r, calling the function on the rows of
-- a table (its arguments depend on the row, so nothing is folded into a
-- constant); models come from the registry with ecml.model().  The cases
-- run as (q OFFSET 0), which keeps the call below the Gather: a flattened
-- subquery would leave it to the leader's aggregate above it.
CREATE TABLE score_cases (n serial, sig text, q text);
INSERT INTO score_cases (sig, q) VALUES
('ecml.version()', $$SELECT ecml.version() || i AS r FROM par_lr$$),
('ecml.blas_info()', $$SELECT ecml.blas_info() || jsonb_build_object('i', i) AS r FROM par_lr WHERE i % 10 = 0$$),
('ecml.model(text)', $$SELECT md5(ecml.model('ptest_lr')) || i AS r FROM par_lr$$),
('ecml.model(text,integer)', $$SELECT md5(ecml.model('ptest_lr', 1)) || i AS r FROM par_lr$$),
('ecml.model_info(bytea)', $$SELECT (ecml.model_info(ecml.model(CASE WHEN i % 2 = 0 THEN 'ptest_lr' ELSE 'ptest_fraud' END)) - 'created_at') || jsonb_build_object('i', i) AS r FROM par_lr WHERE i % 10 = 0$$),
('ecml.logreg_predict(bytea,real[])', $$SELECT ecml.logreg_predict(ecml.model('ptest_lr'), f) AS r FROM par_lr$$),
('ecml.logreg_coefficients(bytea)', $$SELECT ROW(t.i, c.*) AS r FROM par_lr t, LATERAL ecml.logreg_coefficients(ecml.model('ptest_lr')) c WHERE t.i % 100 = 0$$),
('ecml.mf_recommend(bytea,bigint,integer,boolean)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.mf_recommend(ecml.model('ptest_mf'), t.i, 5, t.i % 2 = 0) x WHERE t.i <= 1500$$),
('ecml.mf_recommend_all(bytea,integer,boolean)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.mf_recommend_all(ecml.model('ptest_mf'), t.i::int, t.i = 2) x WHERE t.i <= 3$$),
('ecml.mf_similar_items(bytea,bigint,integer)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.mf_similar_items(ecml.model('ptest_mf'), t.i, 4) x WHERE t.i <= 300$$),
('ecml.mf_predict(bytea,bigint,bigint)', $$SELECT ROW(u, i, ecml.mf_predict(ecml.model('ptest_mf'), u, i + 1)) AS r FROM par_mf$$),
('ecml.mf_fold_in(bytea,bigint[],real[])', $$SELECT ROW(u, i, ecml.mf_fold_in(ecml.model('ptest_mf'), ARRAY[i, i + 10, u % 300], ARRAY[v, 1, 2]::real[])) AS r FROM par_mf WHERE u % 5 = 0$$),
('ecml.mf_recommend_vector(bytea,real[],integer,bigint[])', $$SELECT ROW(t.u, t.i, x.*) AS r FROM (SELECT u, i FROM par_mf WHERE u % 10 = 0) t, LATERAL ecml.mf_recommend_vector(ecml.model('ptest_mf'), ecml.mf_fold_in(ecml.model('ptest_mf'), ARRAY[t.i], '{1}'), 3, ARRAY[t.i]) x$$),
('ecml.mf_user_factors(bytea)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.mf_user_factors(ecml.model('ptest_mf')) x WHERE t.i <= 3$$),
('ecml.mf_item_factors(bytea)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.mf_item_factors(ecml.model('ptest_mf')) x WHERE t.i <= 3$$),
('ecml.precision_at_k(bigint[],bigint[],integer)', $$SELECT ecml.precision_at_k(ARRAY[i, i + 1, i + 2, i % 7], ARRAY[i + 1, 3]::bigint[], (i % 4)::int + 1) || ' ' || i AS r FROM par_sl$$),
('ecml.recall_at_k(bigint[],bigint[],integer)', $$SELECT ecml.recall_at_k(ARRAY[i, i + 1, i + 2, i % 7], ARRAY[i + 1, 3]::bigint[], (i % 4)::int + 1) || ' ' || i AS r FROM par_sl$$),
('ecml.ndcg_at_k(bigint[],bigint[],integer)', $$SELECT ecml.ndcg_at_k(ARRAY[i, i + 1, i + 2, i % 7], ARRAY[i + 1, 3]::bigint[], (i % 4)::int + 1) || ' ' || i AS r FROM par_sl$$),
('ecml.hit_rate_at_k(bigint[],bigint[],integer)', $$SELECT ecml.hit_rate_at_k(ARRAY[i, i + 1, i + 2, i % 7], ARRAY[i + 1, 3]::bigint[], (i % 4)::int + 1) || ' ' || i AS r FROM par_sl$$),
('ecml.hash_features(text[],integer)', $$SELECT ecml.hash_features(ARRAY['a' || i, 'b' || (i % 7), NULL], 16) AS r FROM par_sl$$),
('ecml.l2_distance(real[],real[])', $$SELECT ecml.l2_distance(e, ARRAY[1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, id % 3]::real[]) AS r FROM par_vec$$),
('ecml.inner_product(real[],real[])', $$SELECT ecml.inner_product(e, ARRAY[1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, id % 3]::real[]) AS r FROM par_vec$$),
('ecml.negative_inner_product(real[],real[])', $$SELECT ecml.negative_inner_product(e, ARRAY[1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, id % 3]::real[]) AS r FROM par_vec$$),
('ecml.cosine_distance(real[],real[])', $$SELECT ecml.cosine_distance(e, ARRAY[1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, id % 3]::real[]) AS r FROM par_vec$$),
('ecml.l2_normalize(real[])', $$SELECT ecml.l2_normalize(e) AS r FROM par_vec$$),
('ecml.search(bytea,real[],integer)', $$SELECT ROW(t.id, x.*) AS r FROM par_vec t, LATERAL ecml.search(ecml.model('ptest_vec'), t.e, 5) x WHERE t.id % 20 = 0$$),
('ecml.search(bytea,real[],integer,bigint[])', $$SELECT ROW(t.id, x.*) AS r FROM par_vec t, LATERAL ecml.search(ecml.model('ptest_vec'), t.e, 3, ARRAY[t.id, t.id + 1, t.id + 8, t.id + 16]) x WHERE t.id % 20 = 0$$),
('ecml.search(bytea,real[],integer,bigint[],bigint[])', $$SELECT ROW(t.id, x.*) AS r FROM par_vec t, LATERAL ecml.search(ecml.model('ptest_vec'), t.e, 3, CASE WHEN t.id % 40 = 0 THEN ARRAY[t.id, t.id + 1, t.id + 8, t.id + 16] END, ARRAY[t.id, t.id + 8]) x WHERE t.id % 20 = 0$$),
('ecml.search_batch(bytea,real[],integer)', $$SELECT ROW(t.id, x.*) AS r FROM par_vec t, LATERAL ecml.search_batch(ecml.model('ptest_vec'), ARRAY[t.e, ecml.l2_normalize(t.e)], 3) x WHERE t.id % 20 = 0$$),
('ecml.gbdt_bin_edges(bytea,integer)', $$SELECT ecml.gbdt_bin_edges((SELECT s FROM par_sketch), 1 + i % 8) || i::real AS r FROM par_lr$$),
('ecml.fraud_score(bytea,real[])', $$SELECT ecml.fraud_score(ecml.model('ptest_fraud'), f) AS r FROM par_pay$$),
('ecml.fraud_explain(bytea,real[])', $$SELECT ecml.fraud_explain(ecml.model('ptest_fraud'), f) || jsonb_build_object('i', i) AS r FROM par_pay WHERE i % 10 = 0$$),
('ecml.fraud_explain(bytea,real[],integer)', $$SELECT ecml.fraud_explain(ecml.model('ptest_fraud'), f, 3) || jsonb_build_object('i', i) AS r FROM par_pay WHERE i % 10 = 0$$),
('ecml.fraud_feature_importance(bytea)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.fraud_feature_importance(ecml.model('ptest_fraud')) x WHERE t.i <= 50$$),
('ecml.feature_importance(bytea)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.feature_importance(ecml.model('ptest_fraud')) x WHERE t.i <= 50$$),
('ecml.anomaly_score(bytea,real[])', $$SELECT ecml.anomaly_score(ecml.model('ptest_iforest'), f) AS r FROM par_pts$$),
('ecml.lstm_top(bytea,bigint[],integer,boolean)', $$SELECT ROW(t.s, x.*) AS r FROM par_seq t, LATERAL ecml.lstm_top(ecml.model('ptest_lstm'), t.seq[1:4], 3, t.s % 2 = 0) x$$),
('ecml.lstm_top(bytea,text[],integer,boolean)', $$SELECT ROW(t.s, x.*) AS r FROM par_seq t, LATERAL ecml.lstm_top(ecml.model('ptest_lstmt'), t.seqt[1:4], 3, t.s % 2 = 0) x$$),
('ecml.lstm_predict(bytea,bigint[],integer,boolean)', $$SELECT ROW(t.s, x.*) AS r FROM par_seq t, LATERAL ecml.lstm_predict(ecml.model('ptest_lstm'), t.seq[1:4], 3, t.s % 2 = 0) x$$),
('ecml.lstm_predict(bytea,text[],integer,boolean)', $$SELECT ROW(t.s, x.*) AS r FROM par_seq t, LATERAL ecml.lstm_predict(ecml.model('ptest_lstmt'), t.seqt[1:4], 3, t.s % 2 = 0) x$$),
('ecml.lstm_next(bytea,bigint[])', $$SELECT ROW(s, ecml.lstm_next(ecml.model('ptest_lstm'), seq)) AS r FROM par_seq$$),
('ecml.lstm_next(bytea,text[])', $$SELECT ROW(s, ecml.lstm_next(ecml.model('ptest_lstmt'), seqt)) AS r FROM par_seq$$),
('ecml.lstm_embed(bytea,bigint[])', $$SELECT ROW(s, ecml.lstm_embed(ecml.model('ptest_lstm'), seq)) AS r FROM par_seq$$),
('ecml.lstm_embed(bytea,text[])', $$SELECT ROW(s, ecml.lstm_embed(ecml.model('ptest_lstmt'), seqt)) AS r FROM par_seq$$),
('ecml.tokenize(text)', $$SELECT ecml.tokenize('The ' || i || ' waterproof Jackets') AS r FROM par_sl$$),
('ecml.tokenize(text,regconfig,integer)', $$SELECT ecml.tokenize('Red rain jackets ' || i, 'english', 1 + i % 2) AS r FROM par_sl$$),
('ecml.word_vector(bytea,text)', $$SELECT ROW(i, ecml.word_vector(ecml.model('ptest_wv'), tokens[1] || CASE WHEN i % 3 = 0 THEN 'x' ELSE '' END)) AS r FROM par_txt$$),
('ecml.similar_words(bytea,text,integer)', $$SELECT ROW(t.i, x.*) AS r FROM par_txt t, LATERAL ecml.similar_words(ecml.model('ptest_wv'), t.tokens[2], 3) x WHERE t.i % 5 = 0$$),
('ecml.similar_words(bytea,real[],integer)', $$SELECT ROW(t.i, x.*) AS r FROM par_sl t, LATERAL ecml.similar_words(ecml.model('ptest_wvl'), ecml.word_vector(ecml.model('ptest_wvl'), 'v' || (t.i % 600 + 1)), 3) x WHERE t.i <= 1000$$),
('ecml.embed_text(bytea,text[])', $$SELECT ROW(i, ecml.embed_text(ecml.model('ptest_wv'), tokens)) AS r FROM par_txt$$),
('ecml.embed_text(bytea,text)', $$SELECT ROW(i, ecml.embed_text(ecml.model('ptest_wv'), array_to_string(tokens, ' '))) AS r FROM par_txt$$),
('ecml.embed_text(bytea,text,regconfig)', $$SELECT ROW(i, ecml.embed_text(ecml.model('ptest_wv'), array_to_string(tokens, ' '), 'simple')) AS r FROM par_txt$$),
('ecml.text_classify(bytea,text[])', $$SELECT ROW(t.i, x.*) AS r FROM par_txt t, LATERAL ecml.text_classify(ecml.model('ptest_clf'), t.tokens) x$$),
('ecml.text_label(bytea,text[])', $$SELECT ROW(i, ecml.text_label(ecml.model('ptest_clf'), tokens)) AS r FROM par_txt$$),
('ecml.text_explain(bytea,text[],text)', $$SELECT ROW(t.i, x.*) AS r FROM par_txt t, LATERAL ecml.text_explain(ecml.model('ptest_clf'), t.tokens, CASE WHEN t.i % 2 = 0 THEN 'lab1' END) x WHERE t.i % 4 = 0$$);

-- what the catalog holds: aggregates, and SQL-callable functions (no
-- pseudo-type arguments or result) that are not aggregate support functions
CREATE TABLE cat_aggs AS
SELECT p.oid::regprocedure::text AS sig, a.*, p.proparallel
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.pronamespace = 'ecml'::regnamespace;
CREATE TABLE cat_funcs AS
SELECT p.oid::regprocedure::text AS sig, p.proparallel, p.prosecdef
FROM pg_proc p
WHERE p.pronamespace = 'ecml'::regnamespace AND p.prokind = 'f'
  AND p.oid NOT IN (SELECT unnest(ARRAY[aggtransfn, aggfinalfn, aggcombinefn, aggserialfn, aggdeserialfn])::oid FROM pg_aggregate)
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[] || p.prorettype) t JOIN pg_type ty ON ty.oid = t WHERE ty.typtype = 'p'
                  AND ty.typname NOT IN ('record', 'void'));

-- save_model writes the registry and train runs queries (and may save):
-- both are PARALLEL UNSAFE by design, and neither scores rows; so are the
-- lifecycle functions, which write the registry or run the caller's query
CREATE TABLE cat_unsafe (sig text);
INSERT INTO cat_unsafe VALUES ('ecml.save_model(text,bytea)'), ('ecml.train(text,text,jsonb)'),
    ('ecml.save_version(text,bytea,jsonb)'), ('ecml.promote(text,integer)'), ('ecml.rollback(text)'),
    ('ecml.evaluate(bytea,text)'), ('ecml.tune(text,text,jsonb,jsonb)'), ('ecml.query_columns(text)');

SELECT plan(4 + 2 * (SELECT count(*)::int FROM cat_aggs) + 2 * (SELECT count(*)::int FROM cat_funcs WHERE sig NOT IN (SELECT sig FROM cat_unsafe)));

SELECT is((SELECT array_agg(sig ORDER BY sig) FROM cat_aggs
           WHERE proparallel <> 's' OR aggcombinefn = 0
              OR (aggtranstype = 'internal'::regtype AND (aggserialfn = 0 OR aggdeserialfn = 0))),
          NULL, 'every ecml aggregate is PARALLEL SAFE with a combine function (and serialize/deserialize for an internal state)');
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM cat_funcs WHERE proparallel <> 's' AND sig NOT IN (SELECT sig FROM cat_unsafe)),
          NULL, 'every ecml function but save_model, train and the lifecycle functions is PARALLEL SAFE');
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM (SELECT sig FROM cat_aggs EXCEPT SELECT sig FROM agg_cases) s),
          NULL, 'every ecml aggregate has a parallel case here');
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM (SELECT sig FROM cat_funcs WHERE sig NOT IN (SELECT sig FROM cat_unsafe) EXCEPT SELECT sig FROM score_cases) s),
          NULL, 'every ecml scoring function has a parallel case here');

-- ------------------------------------------------ aggregates: serial runs
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT format('CREATE TABLE agg_ser_%s AS %s', n, train) FROM agg_cases ORDER BY n \gexec
-- the registry models the scoring cases read
SELECT ecml.save_model('ptest_lr', (SELECT m FROM agg_ser_1));
SELECT ecml.save_model('ptest_mf', (SELECT m FROM agg_ser_3));
SELECT ecml.save_model('ptest_vec', (SELECT m FROM agg_ser_6));
SELECT ecml.save_model('ptest_fraud', (SELECT m FROM agg_ser_7));
SELECT ecml.save_model('ptest_iforest', (SELECT m FROM agg_ser_9));
SELECT ecml.save_model('ptest_lstm', (SELECT m FROM agg_ser_11));
SELECT ecml.save_model('ptest_lstmt', (SELECT m FROM agg_ser_13));
SELECT format('SELECT ecml.save_model(%L, (SELECT m FROM agg_ser_%s))', name, n)
FROM agg_cases JOIN (VALUES ('ecml.word2vec_train(text[],jsonb)', 'ptest_wv'), ('ecml.word_vectors_load(text,real[])', 'ptest_wvl'),
                            ('ecml.text_classifier_train(text[],text,jsonb)', 'ptest_clf')) v(sig, name) USING (sig) \gexec

-- serial scoring
CREATE TABLE score_ser (n int, res text);
SELECT format($f$INSERT INTO score_ser SELECT %s, count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r::text)) FROM (%s OFFSET 0) s$f$, n, q)
FROM score_cases ORDER BY n \gexec

-- -------------------------------------------- parallel aggregation forced
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- only the workers scan, so every row passes through a worker's partial
-- state and its serialize/deserialize/combine
SET LOCAL parallel_leader_participation = off;

SELECT ok(EXISTS (SELECT 1 FROM jsonb_path_query(pg_temp.plan_json(train, false),
                                                 'strict $.** ? (@."Partial Mode" == "Partial")') pa)
          AND EXISTS (SELECT 1 FROM jsonb_path_query(pg_temp.plan_json(train, false),
                                                     'strict $.** ? (@."Workers Planned" >= 2)') g),
          sig || ': a Partial Aggregate under a Gather of 2 workers')
FROM agg_cases ORDER BY n;

SELECT format('CREATE TABLE agg_par_%s AS %s', n, train) FROM agg_cases ORDER BY n \gexec

SELECT CASE WHEN tol IS NULL
            THEN format($f$SELECT is((%s), (%s), %L)$f$,
                        format(quality, format('(SELECT m FROM agg_par_%s)', n)),
                        format(quality, format('(SELECT m FROM agg_ser_%s)', n)),
                        sig || ' in parallel: ' || why)
            ELSE format($f$SELECT cmp_ok((SELECT max(abs(a - b)) FROM unnest((%s)::float8[], (%s)::float8[]) u(a, b)), '<=', %s::float8, %L)$f$,
                        format(quality, format('(SELECT m FROM agg_par_%s)', n)),
                        format(quality, format('(SELECT m FROM agg_ser_%s)', n)),
                        tol, sig || ' in parallel: ' || why)
       END
FROM agg_cases ORDER BY n \gexec

-- ------------------------------------------------ scoring in the workers
CREATE TEMP TABLE score_plan AS
SELECT n, sig, pg_temp.plan_json(format($f$SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r::text)) FROM (%s OFFSET 0) s$f$, q), true) AS p
FROM score_cases;
SELECT ok(EXISTS (SELECT 1 FROM jsonb_path_query(p, 'strict $.** ? (@."Node Type" starts with "Gather" && @."Workers Launched" > 0)') g
                  WHERE (g -> 'Plans')::text LIKE '%' || split_part(sig, '(', 1) || '(%'),
          sig || ' runs in parallel workers')
FROM score_plan ORDER BY n;

SELECT format($f$CREATE TABLE score_par_%s AS SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r::text)) AS res FROM (%s OFFSET 0) s$f$, n, q)
FROM score_cases ORDER BY n \gexec
SELECT format($f$SELECT is((SELECT res FROM score_par_%s), (SELECT res FROM score_ser WHERE n = %s), %L)$f$,
              n, n, sig || ': parallel results equal the serial ones')
FROM score_cases ORDER BY n \gexec

SELECT * FROM finish();
ROLLBACK;
