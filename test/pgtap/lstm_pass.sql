-- ecml.train('lstm'): the LSTM trained in passes by model averaging.  It
-- learns a rule the one-statement trainer learns, keeps that trainer's
-- vocabulary, runs its epochs as parallel partial aggregates whose averaged
-- weights still learn the rule, and rejects bad sources and options.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(42);
SET client_min_messages = warning;

-- x_t = (x_{t-1} + x_{t-2}) mod 7 from varied starts, 10 to 15 tokens; the
-- last token of each sequence is held out
CREATE TABLE lp_so AS
WITH RECURSIVE g(s, t, a, b) AS (
    SELECT s, 1, (s * 3) % 7, (s * 5 + s / 7) % 7 FROM generate_series(1, 600) s
    UNION ALL
    SELECT s, t + 1, b, (a + b) % 7 FROM g WHERE t < 10 + s % 6)
SELECT s, array_agg(a::bigint ORDER BY t) AS seq FROM g GROUP BY s;
CREATE TABLE lp_split AS
SELECT s, seq[1:array_length(seq, 1) - 1] AS prefix, seq[array_length(seq, 1)] AS target FROM lp_so;
ANALYZE lp_split;

CREATE TABLE lp_models AS
SELECT 'passes' AS how, ecml.train('lstm', 'SELECT prefix FROM lp_split',
       '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16, "learning_rate": 0.02, "dropout": 0}') AS m
UNION ALL
SELECT 'aggregate', ecml.lstm_train(prefix,
       '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16, "learning_rate": 0.02, "dropout": 0}')
FROM lp_split;

SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, prefix) = target)::int)::float8
               FROM lp_split, lp_models WHERE how = 'passes'),
              '>', 0.9::float8, 'ecml.train(lstm) predicts the held-out token of a second-order rule (top-1 > 0.9)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(m, prefix, 3) p WHERE p.token = target))::float8
               FROM lp_split, lp_models WHERE how = 'passes'),
              '>', 0.95::float8, 'its hit rate at 3 is above 0.95');
SELECT is((SELECT ecml.model_info(m)->>'kind' FROM lp_models WHERE how = 'passes'), 'lstm',
          'the model is an lstm model that every LSTM scoring function reads');
SELECT is((SELECT ecml.model_info(m)->'info' FROM lp_models WHERE how = 'passes'),
          (SELECT ecml.model_info(m)->'info' FROM lp_models WHERE how = 'aggregate'),
          'the same shape as ecml.lstm_train''s model: vocabulary, sizes, softmax');
-- GRU cells train in passes too
CREATE TABLE lp_gru AS
SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split',
       '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16, "learning_rate": 0.02, "dropout": 0,
         "cell": "gru"}') AS m;
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, prefix) = target)::int)::float8 FROM lp_split, lp_gru),
              '>', 0.9::float8, 'ecml.train(lstm) with GRU cells: top-1 > 0.9 on the second-order rule');
SELECT is((SELECT ecml.model_info(m)->>'cell' FROM lp_gru), 'gru', 'and its model has GRU cells');
SELECT is((SELECT (ecml.model_info(m)->'metrics'->>'passes')::int FROM lp_models WHERE how = 'passes'),
          1 + 2 * 15 + 1, 'a vocabulary pass, per epoch a training pass and a validation pass, then the repeat pass');
SELECT is((SELECT ecml.model_info(m)->'metrics'->>'vocabulary_exact' FROM lp_models WHERE how = 'passes'),
          'true', 'the vocabulary counts are exact: the distinct tokens fit');
SELECT cmp_ok((SELECT (ecml.model_info(m)->'metrics'->>'validation_sequences')::int FROM lp_models WHERE how = 'passes'),
              '>', 0, 'sequences are held out for validation by default');

-- passes_per_epoch: each epoch trains in passes over hash slices of the
-- rows (the partitions average after each); a serial plan is deterministic
CREATE TABLE lp_sliced AS
SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split',
       '{"embedding_dim": 8, "hidden_size": 16, "epochs": 12, "batch_size": 16, "learning_rate": 0.02, "dropout": 0, "passes_per_epoch": 3}') AS m,
       ecml.train('lstm', 'SELECT prefix FROM lp_split',
       '{"embedding_dim": 8, "hidden_size": 16, "epochs": 12, "batch_size": 16, "learning_rate": 0.02, "dropout": 0, "passes_per_epoch": 3}') AS m2;
SELECT is((SELECT (ecml.model_info(m)->'metrics'->>'passes')::int FROM lp_sliced),
          1 + (3 + 1) * 12 + 1, 'passes_per_epoch 3: three training passes and a validation pass per epoch');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, prefix) = target)::int)::float8 FROM lp_split, lp_sliced),
              '>', 0.9::float8, 'and the model still learns the rule (top-1 > 0.9)');
SELECT is((SELECT ecml.model_info(m)->'metrics'->'history' FROM lp_sliced),
          (SELECT ecml.model_info(m2)->'metrics'->'history' FROM lp_sliced),
          'a serial plan trains the same epochs twice (the shuffle is seeded)');

-- the repeat mechanism is fitted in a pass, as ecml.lstm_train fits it:
-- each sequence cycles through 4 random tokens of 300, which only copying
-- the prefix predicts
CREATE TABLE lp_rep AS
SELECT s, seq[1:11] AS prefix, seq[12] AS target
FROM (SELECT s, ARRAY(SELECT 1 + (hashint4(s * 4 + (t % 4)) & 2147483647) % 300
                      FROM generate_series(0, 11) t)::bigint[] AS seq
      FROM generate_series(1, 400) s) q;
CREATE TABLE lp_rep_models AS
SELECT ecml.train('lstm', 'SELECT prefix FROM lp_rep', '{"embedding_dim": 8, "hidden_size": 16, "epochs": 2}') AS auto,
       ecml.train('lstm', 'SELECT prefix FROM lp_rep', '{"embedding_dim": 8, "hidden_size": 16, "epochs": 2, "repeat": "off"}') AS off,
       (SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 2}') FROM lp_rep) AS agg;
SELECT cmp_ok((SELECT (ecml.model_info(auto)->'metrics'->>'repeat_weight')::float8 FROM lp_rep_models),
              '>', 0.5::float8, 'the repeat weight is fitted: above 0.5 where only the prefix predicts');
SELECT is((SELECT ecml.model_info(auto)->'metrics'->>'repeat_mode' FROM lp_rep_models),
          (SELECT ecml.model_info(agg)->'metrics'->>'repeat_mode' FROM lp_rep_models),
          'the same repeat mode as ecml.lstm_train picks');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(auto, prefix, 4) p WHERE p.token = target))::float8
               FROM lp_rep, lp_rep_models),
              '>', 0.9::float8, 'with it the target is in the top 4 (hit rate above 0.9)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(off, prefix, 4) p WHERE p.token = target))::float8
               FROM lp_rep, lp_rep_models),
              '<', 0.5::float8, 'without it ("repeat": "off") the softmax alone misses most');
SELECT is((SELECT (ecml.model_info(off)->'metrics'->>'passes')::int FROM lp_rep_models),
          1 + 2 * 2, '"repeat": "off" skips the repeat pass');

-- max_vocab keeps the most frequent tokens, as ecml.lstm_train keeps them
CREATE TABLE lp_small AS
SELECT 'passes' AS how, ecml.train('lstm', 'SELECT prefix FROM lp_split',
       '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "max_vocab": 4}') AS m
UNION ALL
SELECT 'aggregate', ecml.lstm_train(prefix, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "max_vocab": 4}')
FROM lp_split;
SELECT is((SELECT array_agg(token ORDER BY token) FROM lp_small, ecml.lstm_top(m, '{1,2}'::bigint[], 10) WHERE how = 'passes'),
          (SELECT array_agg(token ORDER BY token) FROM lp_small, ecml.lstm_top(m, '{1,2}'::bigint[], 10) WHERE how = 'aggregate'),
          'with max_vocab the same tokens as ecml.lstm_train''s vocabulary');
SELECT is((SELECT (ecml.model_info(m)->'metrics'->>'unknown_tokens')::bigint FROM lp_small WHERE how = 'passes'),
          (SELECT (ecml.model_info(m)->'metrics'->>'unknown_tokens')::bigint FROM lp_small WHERE how = 'aggregate'),
          'and the same count of tokens out of the vocabulary');

-- text tokens: the rule spelt as words
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, tp) = tt)::int)::float8
               FROM (SELECT ecml.train('lstm', 'SELECT ARRAY(SELECT ''w'' || x FROM unnest(prefix) x) FROM lp_split',
                            '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16, "learning_rate": 0.02, "dropout": 0}') AS m) t,
                    (SELECT ARRAY(SELECT 'w' || x FROM unnest(prefix) x) AS tp, 'w' || target AS tt FROM lp_split) d),
              '>', 0.9::float8, 'text[] sequences learn the rule too');

-- the vocabulary pass's state is bounded: at most capacity counters
SELECT cmp_ok((SELECT length(ecml.lstm_vocab_pass(ARRAY[i, i + 1, i % 7]::bigint[], '{10,4}')) FROM generate_series(1, 5000) i),
              '<', (SELECT length(ecml.lstm_vocab_pass(ARRAY[i, i + 1, i % 7]::bigint[], '{10,10000}')) FROM generate_series(1, 5000) i) / 10,
              'a vocabulary pass with 4 counters over 5000 distinct tokens stays small (Misra-Gries)');

-- parallel: each worker trains on its rows, the leader averages the weights
CREATE TABLE lp_big AS
WITH RECURSIVE g(s, t, a, b) AS (
    SELECT s, 1, (s * 3) % 7, (s * 5 + s / 7) % 7 FROM generate_series(1, 8000) s
    UNION ALL
    SELECT s, t + 1, b, (a + b) % 7 FROM g WHERE t < 10 + s % 6)
SELECT s, array_agg(a::bigint ORDER BY t) AS seq FROM g GROUP BY s;
ANALYZE lp_big;
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
SELECT matches(pg_temp.plan_text($$SELECT ecml.lstm_pass(seq, '{1}'::bigint[], NULL::bytea) FROM lp_big$$),
               'Partial Aggregate', 'the epoch pass runs as a parallel partial aggregate');
SELECT matches(pg_temp.plan_text($$SELECT ecml.lstm_vocab_pass(seq, '{10,100}') FROM lp_big$$),
               'Partial Aggregate', 'so does the vocabulary pass');
CREATE TABLE lp_par AS
SELECT ecml.train('lstm', 'SELECT seq FROM lp_big',
       '{"embedding_dim": 8, "hidden_size": 16, "epochs": 3, "batch_size": 16, "learning_rate": 0.02, "dropout": 0}') AS m;
-- how many workers get rows depends on the machine's timing (a worker
-- that starts late finds the table read), so this counts epochs that
-- recorded their partitions; the averaging is tested directly below
SELECT is((SELECT count(*) FILTER (WHERE (h->>'partitions')::int >= 1) FROM lp_par, jsonb_array_elements(ecml.model_info(m)->'metrics'->'history') h),
          3::bigint, 'every epoch records the partitions it averaged');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, seq[1:8]) = seq[9])::int)::float8 FROM lp_big, lp_par),
              '>', 0.9::float8, 'the averaged model learns the rule (top-1 > 0.9)');
-- sampled softmax in parallel passes: each partition's sparse Adam steps
-- leave rows behind, which catch up before the states are averaged
CREATE TABLE lp_sbig AS
SELECT s, ARRAY(SELECT ((s * 37 + t) % 500)::bigint FROM generate_series(0, 5 + s % 5) t) AS seq
FROM generate_series(1, 3000) s;
ANALYZE lp_sbig;
CREATE TABLE lp_spar AS
SELECT ecml.train('lstm', 'SELECT seq[1:array_length(seq, 1) - 1] FROM lp_sbig',
       '{"embedding_dim": 16, "hidden_size": 16, "epochs": 5, "batch_size": 32, "learning_rate": 0.02,
         "softmax": "sampled", "num_sampled": 32, "dropout": 0}') AS m;
SELECT is((SELECT ecml.model_info(m)->>'softmax' FROM lp_spar), 'sampled', 'passes train a sampled softmax');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, seq[1:array_length(seq, 1) - 1]) = seq[array_length(seq, 1)])::int)::float8
               FROM lp_sbig, lp_spar),
              '>', 0.9::float8, 'which learns a 500-token successor rule in parallel passes');

-- the combine function on two partial states, as a leader averages its
-- workers': a checkpoint unlike either part, which the next pass accepts
-- (a one-token checkpoint as ecml.train builds it; test/pgtap/parallel.sql)
CREATE FUNCTION pg_temp.lstm_checkpoint(tt int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
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
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE lp_halves AS
SELECT (SELECT ecml.lstm_pass(ARRAY[1, 1, 1]::bigint[], '{1}'::bigint[], pg_temp.lstm_checkpoint(0)) FROM generate_series(1, 30)) AS a,
       (SELECT ecml.lstm_pass(ARRAY[1, 1, 1, 1, 1]::bigint[], '{1}'::bigint[], pg_temp.lstm_checkpoint(0)) FROM generate_series(1, 70)) AS b;
SELECT ok((SELECT c <> a AND c <> b AND length(c) = length(a)
           FROM (SELECT a, b, ecml.lstm_pass_combinefn(a, b) AS c FROM lp_halves) x),
          'combining two partitions gives a checkpoint of the same shape unlike either');
SELECT is((SELECT length(ecml.lstm_pass(ARRAY[1, 1]::bigint[], '{1}'::bigint[], (SELECT ecml.lstm_pass_combinefn(a, b) FROM lp_halves)))
           FROM generate_series(1, 5)), (SELECT length(a) FROM lp_halves),
          '... which the next epoch''s pass accepts');
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;

-- bad sources and options: SQLSTATE-coded errors
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix, s FROM lp_split')$$, '42804', NULL,
                 'a source of two columns is a datatype mismatch');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT s FROM lp_split')$$, '42804', NULL,
                 'a source of integers, not sequences, is a datatype mismatch');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split', '{"successors": "auto"}')$$, '0A000', NULL,
                 'ecml.train(lstm) refuses the successor table (ecml.lstm_train builds it)');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split', '{"neighbours": "auto"}')$$, '0A000', NULL,
                 'ecml.train(lstm) refuses the neighbour sessions (ecml.lstm_train keeps them)');
SELECT ok((SELECT NOT (ecml.model_info(m)->'metrics' ? 'neighbour_weight')
                  AND ecml.model_info(m)->'hyperparameters'->>'neighbours' = 'off'
           FROM lp_models WHERE how = 'passes'),
          'by default a model of passes has no neighbour sessions');
SELECT ok((SELECT NOT (ecml.model_info(m)->'metrics' ? 'successor_weight')
                  AND ecml.model_info(m)->'hyperparameters'->>'successors' = 'off'
           FROM lp_models WHERE how = 'passes'),
          'ecml.train(lstm) trains without the successor table by default, and says so');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split', '{"l2": 0.1}')$$, '22023', NULL,
                 'an option of another kind is an invalid parameter');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split', '{"passes_per_epoch": 0}')$$, '22023', NULL,
                 'passes_per_epoch below 1 is an invalid parameter');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split', '{"passes_per_epoch": "two"}')$$, '22023', NULL,
                 'so is a passes_per_epoch that is not a number');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split WHERE false')$$, '22000', NULL,
                 'an empty source: no training sequences');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix[1:1] FROM lp_split')$$, '22000', NULL,
                 'sequences of one token only: no training sequences');
SELECT throws_ok($$SELECT ecml.train('lstm', 'SELECT prefix FROM lp_split WHERE random() < 0.5', '{"epochs": 1, "hidden_size": 4, "embedding_dim": 4}')$$,
                 '55000', NULL, 'a source that returns other rows in another pass');

-- "output_bias": "prior" from the vocabulary pass's counts: item 1 about
-- 17% of the clicks, item 2 about 4%; barely trained, the model ranks
-- them first whatever the session
CREATE TABLE lp_pr AS
SELECT s, array_agg(1 + floor(200 * power(((s * 31 + j * 17) % 997) / 997.0, 3))::bigint ORDER BY j) AS seq
FROM generate_series(1, 400) s, generate_series(1, 6) j
GROUP BY s;
SELECT cmp_ok((SELECT avg(((SELECT array_agg(p.token ORDER BY p.probability DESC)
                            FROM ecml.lstm_top(m, seq, 2) p) = '{1,2}'::bigint[])::int)::float8
               FROM lp_pr, (SELECT ecml.train('lstm', 'SELECT seq FROM lp_pr',
                                              '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "learning_rate": 1e-7,
                                                "repeat": "off", "output_bias": "prior"}') AS m) t),
              '>', 0.95::float8, 'ecml.train(lstm) starts the output bias from the token counts with "output_bias": "prior"');

SELECT * FROM finish();
ROLLBACK;
