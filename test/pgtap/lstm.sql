-- LSTM next-token model: what it learns (a second-order rule no first-order
-- Markov chain can follow), sampled softmax, early stopping, parallel
-- training equal to serial training, determinism and options; the repeat
-- mechanism and the successor table of session recommendation.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ecml;
BEGIN;
SELECT plan(66);

CREATE FUNCTION pg_temp.plan_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO r;
    RETURN r::jsonb;
END $$;

-- x_t = (x_{t-1} + x_{t-2}) mod 7 from varied starts, 10 to 15 tokens; the
-- last token of each sequence is held out
CREATE TABLE so AS
WITH RECURSIVE g(s, t, a, b) AS (
    SELECT s, 1, (s * 3) % 7, (s * 5 + s / 7) % 7 FROM generate_series(1, 600) s
    UNION ALL
    SELECT s, t + 1, b, (a + b) % 7 FROM g WHERE t < 10 + s % 6)
SELECT s, array_agg(a::bigint ORDER BY t) AS seq FROM g GROUP BY s;
CREATE TABLE so_split AS
SELECT s, seq[1:array_length(seq, 1) - 1] AS prefix, seq[array_length(seq, 1)] AS target FROM so;
ANALYZE so_split;

CREATE TABLE m2 AS
-- (no dropout: the training loss below is measured on the full network)
SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15,
                                 "batch_size": 16, "learning_rate": 0.02, "dropout": 0}') AS m
FROM so_split;

SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, prefix) = target)::int)::float8 FROM so_split, m2),
              '>', 0.9::float8, 'LSTM predicts the held-out token of a second-order rule (top-1 > 0.9)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(m, prefix, 3) p WHERE p.token = target))::float8
               FROM so_split, m2),
              '>', 0.95::float8, 'hit rate at 3 above 0.95');
-- the same data defeat a first-order Markov chain (most frequent successor)
SELECT cmp_ok((WITH pairs AS (SELECT prefix[i] a, prefix[i + 1] b
                              FROM so_split, generate_series(1, array_length(prefix, 1) - 1) i),
                    best AS (SELECT DISTINCT ON (a) a, b FROM (SELECT a, b, count(*) c FROM pairs GROUP BY 1, 2) x
                             ORDER BY a, c DESC, b)
               SELECT avg((best.b = target)::int)::float8
               FROM so_split JOIN best ON best.a = prefix[array_length(prefix, 1)]),
              '<', 0.4::float8, 'a first-order Markov chain cannot (top-1 < 0.4)');
SELECT cmp_ok((SELECT (ecml.model_info(m)->'metrics'->>'train_loss')::float8 FROM m2),
              '<', 0.5::float8, 'training loss well below log(7)');

-- two layers learn it too; truncated BPTT trains and changes the gradient
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, prefix) = target)::int)::float8
               FROM so_split, (SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15,
                     "batch_size": 16, "learning_rate": 0.02, "layers": 2}') AS m FROM so_split) s),
              '>', 0.8::float8, 'a two-layer LSTM learns the rule');
CREATE TABLE mb AS
SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 2, "bptt": 2}') AS m FROM so_split;
SELECT ok((SELECT substr(m, 65) <> (SELECT substr(ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 2}'), 65)
                                    FROM so_split) FROM mb),
          'bptt = 2 gives another model than full backpropagation');
SELECT is((SELECT (ecml.model_info(m)->'hyperparameters'->>'bptt')::int FROM mb), 2, 'bptt recorded');

-- sampled softmax with the log-Q correction on a 500-token vocabulary
CREATE TABLE big AS
SELECT s, ARRAY(SELECT ((s * 37 + t) % 500)::bigint FROM generate_series(0, 5 + s % 5) t) AS seq
FROM generate_series(1, 3000) s;
CREATE TABLE ms AS
SELECT ecml.lstm_train(seq[1:array_length(seq, 1) - 1],
                       '{"embedding_dim": 16, "hidden_size": 16, "epochs": 5, "batch_size": 32,
                         "learning_rate": 0.02, "softmax": "sampled", "num_sampled": 32}') AS m
FROM big;
SELECT is((SELECT ecml.model_info(m)->>'softmax' FROM ms), 'sampled', 'sampled softmax used');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, seq[1:array_length(seq, 1) - 1]) = seq[array_length(seq, 1)])::int)::float8
               FROM big, ms),
              '>', 0.9::float8, 'sampled softmax learns a 500-token successor rule');
SELECT is((SELECT ecml.model_info(ecml.lstm_train(seq, '{"epochs": 1, "hidden_size": 8, "embedding_dim": 4,
                                                        "softmax_threshold": 100}'))->>'softmax' FROM big),
          'sampled', 'auto picks sampled softmax above softmax_threshold');
SELECT is((SELECT ecml.model_info(ecml.lstm_train(seq, '{"epochs": 1, "hidden_size": 8, "embedding_dim": 4}'))->>'softmax' FROM big),
          'full', 'auto picks the full softmax below it');

-- vocabulary limits: max_vocab keeps the most frequent tokens, the rest are unknown
SELECT is((SELECT (ecml.model_info(ecml.lstm_train(seq, '{"epochs": 1, "hidden_size": 8, "embedding_dim": 4,
                                                         "max_vocab": 50}'))->>'vocabulary')::int FROM big),
          50, 'max_vocab caps the vocabulary (unknown token included)');

-- early stopping on noise: the kept epoch is the best validation epoch
CREATE TABLE noise AS
SELECT s, ARRAY(SELECT (hashint4(s * 100 + t) & 15)::bigint FROM generate_series(1, 8) t) AS seq
FROM generate_series(1, 300) s;
CREATE TABLE mn AS
SELECT ecml.model_info(ecml.lstm_train(seq, '{"embedding_dim": 16, "hidden_size": 32, "epochs": 40, "batch_size": 8,
                                             "learning_rate": 0.03, "validation_fraction": 0.3, "patience": 2}'))->'metrics' AS i
FROM noise;
SELECT ok((SELECT (i->>'stopped_early')::boolean FROM mn), 'training on noise stops early');
SELECT is((SELECT (i->>'epochs_run')::int - (i->>'best_epoch')::int FROM mn), 2, 'it stops patience epochs after the best');
SELECT is((SELECT (i->>'validation_loss')::float8 FROM mn),
          (SELECT min((h->>'validation_loss')::float8) FROM mn, jsonb_array_elements(i->'history') h),
          'the model reports the best validation loss of its history');
SELECT is((SELECT jsonb_array_length(i->'history') FROM mn), (SELECT (i->>'epochs_run')::int FROM mn),
          'one history entry per epoch run');

-- parallel aggregation: a partial aggregate in the plan, the same model bytes
CREATE TABLE serial_model AS
SELECT ecml.lstm_train(seq, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 4}') AS m FROM big;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET LOCAL :force_parallel = on;
SELECT ok(EXISTS (SELECT 1 FROM (SELECT jsonb_path_query(p, 'strict $.**."Partial Mode"') AS mode
                                 FROM pg_temp.plan_json('SELECT ecml.lstm_train(seq, ''{"epochs": 2}'') FROM big') p) s
                  WHERE mode = '"Partial"'),
          'the plan aggregates in parallel workers');
CREATE TABLE parallel_model AS
SELECT ecml.lstm_train(seq, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 4}') AS m FROM big;
SELECT is((SELECT substr(m, 65) FROM parallel_model), (SELECT substr(m, 65) FROM serial_model),
          'parallel training gives the serial model''s payload byte for byte');
SELECT is((SELECT (ecml.model_info(m)->>'rows')::int FROM parallel_model), 3000, 'every sequence counted once');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- scoring a table: parallel-safe functions, one parse per query
SELECT is((SELECT count(*) FROM big, ms WHERE ecml.lstm_next(m, seq) IS NOT NULL), 3000::bigint,
          'lstm_next over a table');
SELECT is((SELECT count(DISTINCT array_length(ecml.lstm_embed(m, seq), 1)) FROM big, ms), 1::bigint,
          'lstm_embed gives hidden_size values for every row');
-- session embeddings: sessions that end alike are closer than sessions that do not
SELECT ok((SELECT sqrt((SELECT sum((a - b) ^ 2) FROM unnest(ecml.lstm_embed(m, '{1, 2, 3}'::bigint[]), ecml.lstm_embed(m, '{5, 2, 3}'::bigint[])) u(a, b)))
                < sqrt((SELECT sum((a - b) ^ 2) FROM unnest(ecml.lstm_embed(m, '{1, 2, 3}'::bigint[]), ecml.lstm_embed(m, '{1, 2, 400}'::bigint[])) u(a, b)))
           FROM ms),
          'embeddings of sessions with the same recent tokens are closer');

-- the repeat mechanism (issue 18): sessions x, y, z, w, x over a catalogue
-- of 4000 items where every x is in one session only, so the held-out last
-- item can only be reached by pointing back at the session's first one;
-- the plain model cannot learn that (hit rate at 4 near 0; without the
-- successor table, which would remember each w -> x of these training
-- sequences), the repeat
-- mechanism ranks the four session items first (hit rate at 4 is 1 unless
-- the network puts more than the repeat share on one unseen item)
CREATE TABLE rp AS
SELECT s, ARRAY[s, (s * 104729 + 13) % 997 + 1001, (s * 31 + 5) % 983 + 2001,
                (s * 7 + 3) % 991 + 3001, s]::bigint[] AS seq
FROM generate_series(1, 600) s;
CREATE TABLE rp_m AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 3}') AS rep,
       ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 3, "repeat": "off",
                              "successors": "off", "neighbours": "off"}') AS off
FROM rp;
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(rep, seq[1:4], 4) p WHERE p.token = seq[5]))::float8
               FROM rp, rp_m),
              '>', 0.95::float8, 'the repeat mechanism finds the returning item (hit rate at 4 > 0.95)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(off, seq[1:4], 4) p WHERE p.token = seq[5]))::float8
               FROM rp, rp_m),
              '<', 0.3::float8, 'the plain model does not (hit rate at 4 < 0.3)');
SELECT cmp_ok((SELECT (ecml.model_info(rep)->'metrics'->>'repeat_weight')::float8 FROM rp_m),
              '>', 0.1::float8, 'the fitted repeat weight reflects the returns (a quarter of the targets)');

-- the successor table (issue 18): sessions x, x+1, x+2, x+3 (mod 1000)
-- over a catalogue of 1000 items, so every item has one successor, seen
-- in about 6 sessions; a network of 8 units trained 2 epochs cannot learn
-- 1000 transitions (top-1 near 0 with "successors": "off"), the successor
-- table ranks x+1 first after a session ending in x
CREATE TABLE sc AS
SELECT s, ARRAY[(s * 7) % 1000 + 1, (s * 7 + 1) % 1000 + 1, (s * 7 + 2) % 1000 + 1,
                (s * 7 + 3) % 1000 + 1]::bigint[] AS seq
FROM generate_series(1, 1500) s;
CREATE TABLE sc_m AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2}') AS succ,
       ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "successors": "off",
                              "neighbours": "off"}') AS off
FROM sc;
SELECT cmp_ok((SELECT avg((ecml.lstm_next(succ, ARRAY[x]) = x % 1000 + 1)::int)::float8
               FROM generate_series(1, 1000) x, sc_m),
              '>', 0.95::float8, 'the successor table ranks the item that always follows first (top-1 > 0.95)');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(off, ARRAY[x]) = x % 1000 + 1)::int)::float8
               FROM generate_series(1, 1000) x, sc_m),
              '<', 0.3::float8, 'the network alone does not (top-1 < 0.3)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(succ, seq[1:3], 1) p WHERE p.token = seq[4]))::float8
               FROM sc, sc_m),
              '>', 0.95::float8, 'after longer sessions too (top-1 of the fourth item > 0.95)');
SELECT ok((SELECT (i->'metrics'->>'successor_weight')::float8 > 0.5
                  AND (i->'metrics'->>'successor_pairs')::int = 1000
                  AND i->'hyperparameters'->>'successors' = 'auto'
           FROM sc_m, ecml.model_info(succ) i),
          'the fitted successor weight is high, one successor per item is kept');
SELECT ok((SELECT NOT (i->'metrics' ? 'successor_weight') FROM sc_m, ecml.model_info(off) i),
          'with "successors": "off" the model has no successor table');
-- successors that are items of the session: sessions x, p(x), x, x+1,
-- with p(x) = x + 500 (mod 1000), a shopper going back to the item before.
-- After x, p(x) the next click is x: seen, so the explore mode gives it
-- repeat mass only, less than p(x)'s (the latest), but it is p(x)'s most
-- frequent successor.  The fit keeps the seen successors, and x comes first.
CREATE TABLE sb AS
SELECT s, ARRAY[x, (x + 499) % 1000 + 1, x, x % 1000 + 1]::bigint[] AS seq
FROM generate_series(1, 1500) s, LATERAL (SELECT (s * 7) % 1000 + 1 AS x) q;
CREATE TABLE sb_m AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2}') AS m FROM sb;
SELECT ok((SELECT i->'metrics'->>'repeat_mode' = 'explore' AND (i->'metrics'->>'successor_seen')::bool
           FROM sb_m, ecml.model_info(m) i),
          'going back to the item before: the successors may be seen items (explore mode)');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(m, ARRAY[x, (x + 499) % 1000 + 1]) = x)::int)::float8
               FROM generate_series(1, 1000) x, sb_m),
              '>', 0.9::float8, 'after x, p(x) the item gone back to comes first (top-1 > 0.9)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(m, ARRAY[x, (x + 499) % 1000 + 1, x], 2) p
                           WHERE p.token = x % 1000 + 1))::float8
               FROM generate_series(1, 1000) x, sb_m),
              '>', 0.9::float8, 'and then the item that followed x is in the top 2 (> 0.9)');
SELECT ok((SELECT NOT (i->'metrics'->>'successor_seen')::bool FROM sc_m, ecml.model_info(succ) i),
          'sessions that never go back keep the successors to unseen items');
-- a window of 3 clicks (sequential rules' 1/gap weights): x+1, x+2 and x+3
-- follow x at weights 1, 1/2 and 1/3, so three successors per item, ranked
-- in that order after a session ending in x
CREATE TABLE sw_m AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2,
                              "successor_window": 3}') AS w
FROM sc;
SELECT is((SELECT (ecml.model_info(w)->'metrics'->>'successor_pairs')::int FROM sw_m), 3000,
          'a window of 3 keeps the three items after each item');
SELECT cmp_ok((SELECT avg(((SELECT array_agg(p.token ORDER BY p.probability DESC)
                            FROM ecml.lstm_top(w, ARRAY[x], 3) p)
                           = ARRAY[x % 1000 + 1, (x + 1) % 1000 + 1, (x + 2) % 1000 + 1]::bigint[])::int)::float8
               FROM generate_series(1, 1000) x, sw_m),
              '>', 0.9::float8, 'the items 1, 2 and 3 clicks later are ranked in that order (> 0.9)');

-- the neighbour sessions (issue 18, session kNN): sessions a, r1, r2, f(a)
-- with a one of 200 items, f(a) = a + 1000 and r1, r2 drawn from 1000
-- others.  After a, r1', r2' with fresh r1', r2' the last item says nothing
-- (its successors are other sessions' f), and a network of 8 units trained
-- 2 epochs barely learns 200 rules three steps back; the sessions that
-- hold a all hold f(a), so the neighbours rank it first among the items
-- not in the session
CREATE TABLE kn AS
SELECT s, ARRAY[(s * 7) % 200 + 1, 2000 + ((s::bigint * 2654435761) % 1000003) % 1000,
                2000 + ((s::bigint * 40503 + 12345) % 999983) % 1000, (s * 7) % 200 + 1001]::bigint[] AS seq
FROM generate_series(1, 3000) s;
CREATE TABLE kn_m AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2}') AS m,
       ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "neighbours": "off"}') AS off,
       ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "neighbour_sessions": 500}') AS few,
       ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "validation_fraction": 0}') AS noval
FROM kn;
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(m, ARRAY[a, 2000 + (a * 13) % 1000, 2000 + (a * 59 + 3) % 1000], 1, true) p
                           WHERE p.token = a + 1000))::float8
               FROM generate_series(1, 200) a, kn_m),
              '>', 0.9::float8, 'the neighbour sessions rank the item that came with the first one first (top-1 > 0.9)');
SELECT cmp_ok((SELECT avg((SELECT count(*) FROM ecml.lstm_top(off, ARRAY[a, 2000 + (a * 13) % 1000, 2000 + (a * 59 + 3) % 1000], 1, true) p
                           WHERE p.token = a + 1000))::float8
               FROM generate_series(1, 200) a, kn_m),
              '<', 0.3::float8, 'without them the model does not (top-1 < 0.3)');
SELECT ok((SELECT (i->'metrics'->>'neighbour_weight')::float8 > 0.2
                  AND (i->'metrics'->>'neighbour_sessions')::int = 3000
                  AND i->'hyperparameters'->>'neighbours' = 'auto'
                  AND NOT (o->'metrics' ? 'neighbour_weight')
           FROM kn_m, ecml.model_info(m) i, ecml.model_info(off) o),
          'the fitted neighbour weight is high, every session is kept; "off" keeps none');
SELECT is((SELECT (ecml.model_info(few)->'metrics'->>'neighbour_sessions')::int FROM kn_m), 500,
          '"neighbour_sessions" caps the sessions kept');
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL :force_parallel = on;
SELECT is((SELECT substr(ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2}'), 65) FROM kn),
          (SELECT substr(m, 65) FROM kn_m),
          'trained in parallel workers, the model with neighbour sessions is the serial one byte for byte');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;
SELECT ok((SELECT (i->'metrics'->>'neighbour_weight')::float8 = 0 AND (i->'metrics'->>'neighbour_sessions')::int = 0
           FROM kn_m, ecml.model_info(noval) i),
          'without held-out sequences to fit its weight the model keeps no neighbour sessions');

-- "output_bias": "prior" starts the output bias at the log of each item's
-- share: 200 items drawn at random, item 1 about 17% of the clicks, item 2
-- about 4%; a network that has barely trained (learning rate 1e-7) ranks
-- them first whatever the session, one started from the default uniform
-- bias (random, as PyTorch) does not
CREATE TABLE pr AS
SELECT s, array_agg(1 + floor(200 * power(((s * 31 + j * 17) % 997) / 997.0, 3))::bigint ORDER BY j) AS seq
FROM generate_series(1, 400) s, generate_series(1, 6) j
GROUP BY s;
CREATE TABLE pr_m AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "learning_rate": 1e-7,
                              "repeat": "off", "successors": "off", "neighbours": "off",
                              "output_bias": "prior"}') AS prior,
       ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "learning_rate": 1e-7,
                              "repeat": "off", "successors": "off", "neighbours": "off"}') AS uni
FROM pr;
SELECT cmp_ok((SELECT avg(((SELECT array_agg(p.token ORDER BY p.probability DESC)
                            FROM ecml.lstm_top(prior, seq, 2) p) = '{1,2}'::bigint[])::int)::float8
               FROM pr, pr_m),
              '>', 0.95::float8, 'with the prior bias an untrained network ranks the two most popular items first');
SELECT cmp_ok((SELECT avg(((SELECT array_agg(p.token ORDER BY p.probability DESC)
                            FROM ecml.lstm_top(uni, seq, 2) p) = '{1,2}'::bigint[])::int)::float8
               FROM pr, pr_m),
              '<', 0.5::float8, 'with a uniform bias it does not');
-- the default "output_bias": "auto" starts from the prior with the sampled
-- softmax (the full one above starts uniform)
SELECT cmp_ok((SELECT avg(((SELECT array_agg(p.token ORDER BY p.probability DESC)
                            FROM ecml.lstm_top(m, seq, 2) p) = '{1,2}'::bigint[])::int)::float8
               FROM pr,
                    (SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1,
                                                   "learning_rate": 1e-7, "repeat": "off", "successors": "off",
                                                   "neighbours": "off", "softmax": "sampled",
                                                   "num_sampled": 8}') AS m FROM pr) t),
              '>', 0.95::float8, 'by default a sampled-softmax network starts from the prior bias');

-- the ranking losses (BPR-max, TOP1-max over sampled negatives) learn the
-- second-order rule too, the network alone; the same seed gives the same model
CREATE TABLE rk_m AS
SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "num_sampled": 6, "loss": "bpr_max",
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS bpr,
       ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "num_sampled": 6, "loss": "top1_max",
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS top1
FROM so_split;
SELECT cmp_ok((SELECT avg((ecml.lstm_next(bpr, prefix) = target)::int)::float8 FROM so_split, rk_m),
              '>', 0.9::float8, 'BPR-max: top-1 of the held-out token of the second-order rule > 0.9');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(top1, prefix) = target)::int)::float8 FROM so_split, rk_m),
              '>', 0.9::float8, 'TOP1-max: top-1 > 0.9');
SELECT is((SELECT ecml.model_info(bpr)->'hyperparameters'->>'loss' || ' ' || (ecml.model_info(bpr)->>'softmax')
           FROM rk_m), 'bpr_max sampled', 'the model records its loss, and that it sampled');
SELECT is((SELECT substr(ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15,
                                                   "batch_size": 16, "learning_rate": 0.02, "dropout": 0,
                                                   "num_sampled": 6, "loss": "bpr_max", "repeat": "off",
                                                   "successors": "off", "neighbours": "off"}'), 65)
           FROM so_split),
          (SELECT substr(bpr, 65) FROM rk_m), 'BPR-max training is deterministic for a seed');

-- GRU cells ("cell": "gru") learn the second-order rule, the network alone,
-- in one layer and in two; their layers hold 3H columns where the LSTM's
-- hold 4H: 8 tokens (7 and the unknown), E 8, H 16 give 8 x 8 + (8 + 16) x
-- 48 + 48 + 8 x 16 + 8 = 1400 parameters (the LSTM: 1800)
CREATE TABLE gru_m AS
SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "cell": "gru",
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS one,
       ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "cell": "gru", "layers": 2,
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS two
FROM so_split;
SELECT cmp_ok((SELECT avg((ecml.lstm_next(one, prefix) = target)::int)::float8 FROM so_split, gru_m),
              '>', 0.9::float8, 'GRU: top-1 of the held-out token of the second-order rule > 0.9');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(two, prefix) = target)::int)::float8 FROM so_split, gru_m),
              '>', 0.9::float8, 'two GRU layers: top-1 > 0.9');
SELECT is((SELECT (i->>'cell') || ' ' || (i->>'parameters') || ' ' || (i->'hyperparameters'->>'cell')
           FROM gru_m, ecml.model_info(one) i), 'gru 1400 gru',
          'the model records its cell, and a GRU layer has 3H columns');
SELECT is((SELECT (i->>'cell') || ' ' || (i->>'parameters') FROM m2, ecml.model_info(m) i), 'lstm 1800',
          'the default cell is the LSTM, 4H columns');
SELECT is((SELECT substr(ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15,
                                                   "batch_size": 16, "learning_rate": 0.02, "dropout": 0,
                                                   "cell": "gru", "repeat": "off", "successors": "off",
                                                   "neighbours": "off"}'), 65)
           FROM so_split),
          (SELECT substr(one, 65) FROM gru_m), 'GRU training is deterministic for a seed');
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE gru_serial AS
SELECT ecml.lstm_train(seq, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 4, "cell": "gru"}') AS m FROM big;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL :force_parallel = on;
SELECT is((SELECT substr(ecml.lstm_train(seq, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 4, "cell": "gru"}'), 65)
           FROM big),
          (SELECT substr(m, 65) FROM gru_serial),
          'GRU: trained in parallel workers, the serial model byte for byte');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

-- tied embeddings ("tied": true, E = H): one matrix is the embedding and the
-- output layer, with the full softmax and with the sampled one (whose steps
-- update only the rows they touch); the model stores both copies, so its
-- weight section (after the 16-byte section header) starts with the
-- embedding (8 tokens x 16 floats = 512 bytes) and holds the same bytes at
-- W_o, after the layer's (16 + 16) x G + G floats
CREATE FUNCTION pg_temp.tied(m bytea, wo int) RETURNS boolean LANGUAGE sql AS $$
    SELECT substring(m FROM position('\x57474854'::bytea IN m) + 16 FOR 512)
           = substring(m FROM position('\x57474854'::bytea IN m) + 16 + 4 * wo FOR 512)
$$;
CREATE TABLE tied_m AS
SELECT ecml.lstm_train(prefix, '{"embedding_dim": 16, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "tied": true,
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS dense,
       ecml.lstm_train(prefix, '{"embedding_dim": 16, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "tied": true, "cell": "gru",
                                 "softmax": "sampled", "num_sampled": 4,
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS sampled,
       ecml.lstm_train(prefix, '{"embedding_dim": 16, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "tied": false,
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS untied
FROM so_split;
SELECT cmp_ok((SELECT avg((ecml.lstm_next(dense, prefix) = target)::int)::float8 FROM so_split, tied_m),
              '>', 0.9::float8, 'tied embeddings: top-1 of the second-order rule > 0.9');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(sampled, prefix) = target)::int)::float8 FROM so_split, tied_m),
              '>', 0.9::float8, 'tied embeddings, GRU cells, sampled softmax: top-1 > 0.9');
SELECT is((SELECT ARRAY[pg_temp.tied(dense, 2240), pg_temp.tied(sampled, 1712), pg_temp.tied(untied, 2240)]
           FROM tied_m), ARRAY[true, true, false],
          'the tied models'' output layer is their embedding, bit for bit (and an untied one''s is not)');
SELECT ok((SELECT pg_temp.tied(ecml.train('lstm', 'SELECT prefix FROM so_split',
                                          '{"embedding_dim": 16, "hidden_size": 16, "epochs": 2, "tied": true,
                                            "softmax": "sampled", "num_sampled": 4}'), 2240)),
          'ecml.train(lstm) keeps them tied across its averaged passes');

-- session-parallel mini-batches: with one click per lane and mini-batch the
-- second-order rule is learnt only if each lane's state carries over from
-- its last mini-batch (reset at zero, the network would see one token, a
-- first-order chain, top-1 < 0.4 above); windows of 3 clicks, GRU cells
-- with the sampled softmax and tied embeddings learn it too
CREATE TABLE sp_m AS
SELECT ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "batching": "session_parallel",
                                 "session_steps": 1, "repeat": "off", "successors": "off",
                                 "neighbours": "off"}') AS one,
       ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "batching": "session_parallel",
                                 "session_steps": 3}') AS three,
       ecml.lstm_train(prefix, '{"embedding_dim": 16, "hidden_size": 16, "epochs": 15, "batch_size": 16,
                                 "learning_rate": 0.02, "dropout": 0, "batching": "session_parallel",
                                 "cell": "gru", "softmax": "sampled", "num_sampled": 4,
                                 "repeat": "off", "successors": "off", "neighbours": "off"}') AS sampled
FROM so_split;
SELECT cmp_ok((SELECT avg((ecml.lstm_next(one, prefix) = target)::int)::float8 FROM so_split, sp_m),
              '>', 0.9::float8, 'session-parallel, one click per mini-batch: the state carries over (top-1 > 0.9)');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(three, prefix) = target)::int)::float8 FROM so_split, sp_m),
              '>', 0.9::float8, 'session-parallel, three clicks per mini-batch: top-1 > 0.9');
SELECT cmp_ok((SELECT avg((ecml.lstm_next(sampled, prefix) = target)::int)::float8 FROM so_split, sp_m),
              '>', 0.9::float8, 'session-parallel, GRU, sampled softmax, tied: top-1 > 0.9');
SELECT is((SELECT (i->'hyperparameters'->>'batching') || ' ' || (i->'hyperparameters'->>'session_steps')
           FROM sp_m, ecml.model_info(three) i), 'session_parallel 3', 'the model records its batching');
SELECT ok((SELECT pg_temp.tied(sampled, 1712) FROM sp_m), 'session-parallel steps keep tied matrices equal');
SELECT is((SELECT substr(ecml.lstm_train(prefix, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 15,
                                                   "batch_size": 16, "learning_rate": 0.02, "dropout": 0,
                                                   "batching": "session_parallel", "session_steps": 1,
                                                   "repeat": "off", "successors": "off",
                                                   "neighbours": "off"}'), 65)
           FROM so_split),
          (SELECT substr(one, 65) FROM sp_m), 'session-parallel training is deterministic for a seed');
-- the lanes' order comes from the seeded shuffle, not from the scan
CREATE TABLE sp_serial AS
SELECT ecml.lstm_train(seq, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 4,
                              "batching": "session_parallel", "session_steps": 2}') AS m FROM big;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL :force_parallel = on;
SELECT is((SELECT substr(ecml.lstm_train(seq, '{"epochs": 2, "hidden_size": 8, "embedding_dim": 4,
                                               "batching": "session_parallel", "session_steps": 2}'), 65)
           FROM big),
          (SELECT substr(m, 65) FROM sp_serial),
          'session-parallel: parallel aggregation gives the serial model byte for byte');
RESET :force_parallel;
RESET max_parallel_workers_per_gather;

SELECT * FROM finish();
ROLLBACK;
