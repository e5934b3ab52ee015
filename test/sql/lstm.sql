-- Next-action prediction: an LSTM over token sequences.
CREATE EXTENSION IF NOT EXISTS ecml;
SET client_min_messages = warning;

-- bigint sequences that count up modulo 10 from a varying start, with
-- varying lengths (2 to 12): the next token is the last one plus 1
CREATE TABLE ls AS
SELECT s, ARRAY(SELECT ((s * 7 + t) % 10)::bigint FROM generate_series(0, 1 + s % 11) t) AS seq
FROM generate_series(1, 300) s;
-- plus rows training skips: NULL, empty, one token
INSERT INTO ls VALUES (1001, NULL), (1002, '{}'), (1003, '{5}');

CREATE TABLE lm AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 6,
                              "batch_size": 16, "learning_rate": 0.02,
                              "validation_fraction": 0.1, "seed": 7}') AS m
FROM ls;

SELECT i->>'kind' AS kind, i->>'token_type' AS token_type, i->'vocabulary' AS vocabulary,
       i->'embedding_dim' AS e, i->'hidden_size' AS h, i->'layers' AS layers,
       i->'parameters' AS parameters, i->>'softmax' AS softmax,
       i->'rows' AS rows, i->'rows_skipped' AS skipped,
       i->'metrics'->'sequences_too_short' AS too_short,
       i->'metrics'->'null_sequences' AS nulls,
       i->'metrics'->'train_sequences' AS train_seqs,
       i->'metrics'->'validation_sequences' AS val_seqs,
       i->'metrics'->'epochs_run' AS epochs,
       jsonb_array_length(i->'metrics'->'history') AS history_len,
       (i->'metrics'->>'validation_loss')::float8 < 0.5 AS val_loss_low,
       (i->'metrics'->'history'->0->>'loss')::float8 >
           (i->'metrics'->'history'->-1->>'loss')::float8 AS loss_decreased,
       i->'hyperparameters'->'seed' AS seed
FROM lm, ecml.model_info(m) AS i;

-- the learned rule: the next token is the last plus one (mod 10)
SELECT count(*) FILTER (WHERE ecml.lstm_next(m, ARRAY[d, (d + 1) % 10]::bigint[]) = (d + 2) % 10) AS correct
FROM lm, generate_series(0, 9) d;
SELECT token, probability > 0.5 AS likely
FROM lm, ecml.lstm_top(m, '{3, 4, 5}'::bigint[], 3) LIMIT 1;
-- probabilities best first, in [0, 1], summing to at most 1 (0: a seen
-- token in explore mode that is neither repeated nor a successor)
SELECT count(*) AS n, bool_and(probability >= 0 AND probability <= 1) AS in_range,
       sum(probability) <= 1.0001 AS sum_ok
FROM lm, ecml.lstm_top(m, '{3, 4, 5}'::bigint[], 10);
SELECT bool_and(p1 >= p2) AS best_first
FROM (SELECT probability AS p1, lead(probability) OVER (ORDER BY ordinality) AS p2
      FROM lm, ecml.lstm_top(m, '{3, 4, 5}'::bigint[], 10) WITH ORDINALITY) s
WHERE p2 IS NOT NULL;
-- exclude_seen leaves out the sequence's tokens
SELECT count(*) AS n, bool_or(token IN (3, 4, 5)) AS has_seen
FROM lm, ecml.lstm_top(m, '{3, 4, 5}'::bigint[], 10, true);
-- 0.1.0's set-returning lstm_predict is a deprecated alias of lstm_top: the same rows
SELECT (SELECT array_agg(x ORDER BY ordinality) FROM ecml.lstm_predict(m, '{3, 4, 5}'::bigint[], 5) WITH ORDINALITY x)
     = (SELECT array_agg(x ORDER BY ordinality) FROM ecml.lstm_top(m, '{3, 4, 5}'::bigint[], 5) WITH ORDINALITY x) AS same_rows,
       (SELECT array_agg(x ORDER BY ordinality) FROM ecml.lstm_predict(m, '{3, 4, 5}'::bigint[], 5, true) WITH ORDINALITY x)
     = (SELECT array_agg(x ORDER BY ordinality) FROM ecml.lstm_top(m, '{3, 4, 5}'::bigint[], 5, exclude_seen => true) WITH ORDINALITY x) AS same_rows_excluding_seen,
       obj_description('ecml.lstm_predict(bytea, bigint[], integer, boolean)'::regprocedure, 'pg_proc') AS deprecated_comment
FROM lm;
-- huge k: every known token once (the unknown token is never returned)
SELECT count(*) AS n, count(DISTINCT token) AS distinct_tokens
FROM lm, ecml.lstm_top(m, '{1}'::bigint[], 1000000);
-- an unknown token and an empty sequence still score
SELECT count(*) AS n FROM lm, ecml.lstm_top(m, '{424242}'::bigint[], 3);
SELECT count(*) AS n FROM lm, ecml.lstm_top(m, '{}'::bigint[], 3);
SELECT ecml.lstm_next(m, '{}'::bigint[]) BETWEEN 0 AND 9 AS known FROM lm;
-- embeddings: hidden_size values, zeros for the empty sequence, bounded by 1
SELECT array_length(ecml.lstm_embed(m, '{1, 2, 3}'::bigint[]), 1) AS len,
       ecml.lstm_embed(m, '{}'::bigint[]) = array_fill(0::real, ARRAY[16]) AS empty_zero,
       (SELECT bool_and(abs(x) < 1) FROM unnest(ecml.lstm_embed(m, '{1, 2, 3}'::bigint[])) x) AS bounded
FROM lm;
-- scoring uses the last max_length tokens, like training
SELECT ecml.lstm_embed(m, ARRAY(SELECT (t % 10)::bigint FROM generate_series(1, 500) t)) =
       ecml.lstm_embed(m, ARRAY(SELECT (t % 10)::bigint FROM generate_series(301, 500) t)) AS truncated
FROM lm;

-- determinism: the same seed gives the same bytes except the header's
-- creation time (bytes 49-56) and header checksum (61-64); the payload
-- (from byte 65) carries no timing
CREATE TABLE lm2 AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 6,
                              "batch_size": 16, "learning_rate": 0.02,
                              "validation_fraction": 0.1, "seed": 7}') AS m
FROM (SELECT * FROM ls ORDER BY s DESC) r;
SELECT substr(a.m, 1, 48) = substr(b.m, 1, 48) AS header_same,
       substr(a.m, 65) = substr(b.m, 65) AS payload_same,
       length(a.m) = length(b.m) AS same_length
FROM lm a, lm2 b;
-- another seed gives another model
SELECT substr(m, 65) <> (SELECT substr(m, 65) FROM lm) AS differs
FROM (SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 16, "epochs": 1, "seed": 8}') AS m FROM ls) s;

-- text sequences: actions of a shop session
CREATE TABLE ts AS
SELECT s, CASE s % 3
            WHEN 0 THEN ARRAY['view', 'view', 'cart', 'purchase']
            WHEN 1 THEN ARRAY['view', 'cart', 'purchase']
            ELSE ARRAY['search', 'view', 'view', 'cart', 'purchase', 'rare' || s]
          END AS seq
FROM generate_series(1, 150) s;
CREATE TABLE tm AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 8, "epochs": 8,
                              "batch_size": 8, "learning_rate": 0.05, "min_count": 2,
                              "layers": 2}') AS m
FROM ts;
SELECT i->>'token_type' AS token_type, i->'vocabulary' AS vocabulary, i->'layers' AS layers,
       i->'metrics'->'unknown_tokens' AS unknown_tokens,
       i->'metrics'->'validation_sequences' AS val_seqs,
       i->'metrics'->'validation_loss' AS val_loss
FROM tm, ecml.model_info(m) AS i;
SELECT ecml.lstm_next(m, ARRAY['view', 'cart']) AS after_cart,
       ecml.lstm_next(m, ARRAY['search']) AS after_search
FROM tm;
SELECT pg_typeof(token) AS type, count(*) AS n,
       bool_or(token LIKE 'rare%') AS returns_rare
FROM tm, ecml.lstm_top(m, ARRAY['view'], 100) GROUP BY 1;
SELECT (SELECT array_agg(x ORDER BY ordinality) FROM ecml.lstm_predict(m, ARRAY['view', 'cart'], 3, true) WITH ORDINALITY x)
     = (SELECT array_agg(x ORDER BY ordinality) FROM ecml.lstm_top(m, ARRAY['view', 'cart'], 3, true) WITH ORDINALITY x) AS text_same_rows,
       obj_description('ecml.lstm_predict(bytea, text[], integer, boolean)'::regprocedure, 'pg_proc') AS deprecated_comment
FROM tm;
-- a rare (unknown) token is read as the unknown token
SELECT ecml.lstm_embed(m, ARRAY['rare1']) = ecml.lstm_embed(m, ARRAY['never seen']) AS same_unknown
FROM tm;
-- a model in the registry
SELECT ecml.save_model('next_action', m) FROM tm;
SELECT kind, rows FROM ecml.models WHERE name = 'next_action';
SELECT ecml.lstm_next(ecml.model('next_action'), ARRAY['view', 'view', 'cart']);

-- parallel-safe everywhere
SELECT p.proname, p.proparallel, p.provolatile, p.proisstrict
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ecml' AND p.proname LIKE 'lstm%'
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- NULL options mean the defaults
SELECT i->'hyperparameters'->'epochs' AS epochs, i->'hyperparameters'->'learning_rate' AS lr,
       i->'hidden_size' AS h, i->'embedding_dim' AS e, i->'metrics'->'epochs_run' AS run
FROM (SELECT ecml.model_info(ecml.lstm_train(seq, NULL)) AS i FROM ls WHERE s <= 10) s;

-- bad input: training
SELECT ecml.lstm_train(seq) FROM ls WHERE false;
SELECT ecml.lstm_train(seq) FROM ls WHERE s > 1000;
SELECT ecml.lstm_train(ARRAY[1, NULL, 3]::bigint[]);
SELECT ecml.lstm_train(ARRAY['a', NULL]::text[]);
SELECT ecml.lstm_train(ARRAY[[1, 2], [3, 4]]::bigint[]);
SELECT ecml.lstm_train(ARRAY[['a', 'b'], ['c', 'd']]);
SELECT ecml.lstm_train(seq, '{"hidden_size": 0}') FROM ls;
SELECT ecml.lstm_train(seq, '{"learning_rate": -0.1}') FROM ls;
SELECT ecml.lstm_train(seq, '{"learning_rate": 0}') FROM ls;
SELECT ecml.lstm_train(seq, '{"epochs": 0}') FROM ls;
SELECT ecml.lstm_train(seq, '{"max_length": 1}') FROM ls;
SELECT ecml.lstm_train(seq, '{"layers": 9}') FROM ls;
SELECT ecml.lstm_train(seq, '{"validation_fraction": 0.9}') FROM ls;
SELECT ecml.lstm_train(seq, '{"softmax": "hierarchical"}') FROM ls;
SELECT ecml.lstm_train(seq, '{"hidden": 8}') FROM ls;
SELECT ecml.lstm_train(seq, '{"batch_size": "big"}') FROM ls;
SELECT ecml.lstm_train(seq, '{"min_count": 100000}') FROM ls;
-- memory cap: the network's buffers, and the sequence buffer (sizes in DETAIL)
\set VERBOSITY terse
SELECT ecml.lstm_train(seq, '{"hidden_size": 4096, "embedding_dim": 4096}') FROM ls;
SET ecml.train_memory_limit = '1MB';
SELECT ecml.lstm_train(ARRAY(SELECT generate_series(1, 100)::bigint)) FROM generate_series(1, 2000);
RESET ecml.train_memory_limit;
\set VERBOSITY default

-- bad input: scoring
SELECT * FROM lm, ecml.lstm_top(m, '{1, 2}'::bigint[], 0);
SELECT * FROM lm, ecml.lstm_top(m, '{1, 2}'::bigint[], -5);
SELECT * FROM lm, ecml.lstm_predict(m, '{1, 2}'::bigint[], 0);
SELECT * FROM tm, ecml.lstm_top(m, ARRAY['view'], 0);
SELECT count(*) FROM lm, ecml.lstm_top(m, NULL::bigint[], 3);
SELECT count(*) FROM ecml.lstm_top(NULL, '{1}'::bigint[], 3);
SELECT ecml.lstm_next(m, NULL::bigint[]) IS NULL AS null_in_null_out FROM lm;
SELECT * FROM lm, ecml.lstm_top(m, '{1, NULL}'::bigint[], 3);
SELECT ecml.lstm_next(m, '{{1, 2}, {3, 4}}'::bigint[]) FROM lm;
SELECT ecml.lstm_next(m, ARRAY['view', NULL]) FROM tm;
-- a text model scored with bigint tokens, and the reverse
SELECT * FROM tm, ecml.lstm_top(m, '{1, 2}'::bigint[], 3);
SELECT ecml.lstm_next(m, '{1, 2}'::bigint[]) FROM tm;
SELECT ecml.lstm_embed(m, ARRAY['view']) FROM lm;
-- a model of another kind, corrupted and truncated models
SELECT ecml.lstm_next(ecml.logreg_train(ARRAY[i]::real[], i % 2 = 0), '{1}'::bigint[])
FROM generate_series(1, 10) i;
SELECT ecml.lstm_next(overlay(m placing '\xff'::bytea from 40), '{1}'::bigint[]) FROM lm;
SELECT ecml.lstm_next(overlay(m placing '\xff'::bytea from 200), '{1}'::bigint[]) FROM lm;
\set VERBOSITY terse
SELECT ecml.lstm_next(substr(m, 1, 100), '{1}'::bigint[]) FROM lm;
\set VERBOSITY default
SELECT ecml.lstm_embed('\x0102'::bytea, '{1}'::bigint[]);

-- the repeat mechanism: sessions a, b, c, a over a catalogue of about 3000
-- items, so the only way to the last item is to point back at the first;
-- a third of the targets are repeats and they are the oldest event
CREATE TABLE rs AS
SELECT s, ARRAY[(s * 7919) % 997 + 1, (s * 104729 + 13) % 991 + 1001,
                (s * 31 + 5) % 983 + 2001, (s * 7919) % 997 + 1]::bigint[] AS seq
FROM generate_series(1, 400) s;
CREATE TABLE rm AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "seed": 3}') AS rep,
       ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "seed": 3,
                              "repeat": "off"}') AS off
FROM rs;
SELECT round((i->'metrics'->>'repeat_weight')::numeric, 3) AS weight,
       i->'metrics'->'repeat_decay' AS decay, i->'metrics'->>'repeat_mode' AS mode,
       i->'hyperparameters'->>'repeat' AS repeat, i->'hyperparameters'->'dropout' AS dropout,
       i->'metrics'->'validation_sequences' AS val_seqs
FROM rm, ecml.model_info(rep) AS i;
SELECT i->'metrics' ? 'repeat_weight' AS has_weight, i->'hyperparameters'->>'repeat' AS repeat
FROM rm, ecml.model_info(off) AS i;
-- the items of the session come first, holding at least the repeat weight
SELECT count(*) AS n, bool_and(token = ANY (seq[1:3])) AS the_session,
       sum(probability) >= 0.33 AS mass
FROM rm, rs, ecml.lstm_top(rep, seq[1:3], 3) WHERE s = 1;
SELECT count(*) AS n, bool_or(token = ANY (seq[1:3])) AS has_seen,
       sum(probability) <= 1.0001 AS sum_ok
FROM rm, rs, ecml.lstm_top(rep, seq[1:3], 10, true) WHERE s = 1;
-- unknown items in the session: their repeat mass goes to no item
SELECT count(*) AS n, bool_and(probability >= 0) AS nonneg
FROM rm, ecml.lstm_top(rep, '{424242, 424243}'::bigint[], 5);
-- one-event sessions score; a session of 100,000 events is read from its
-- last max_length events when training and when scoring
SELECT count(*) AS n FROM rm, ecml.lstm_top(rep, '{5}'::bigint[], 3);
SELECT count(*) AS n
FROM rm, ecml.lstm_top(rep, ARRAY(SELECT (g % 3000)::bigint FROM generate_series(1, 100000) g), 3);
SELECT i->'metrics'->'train_sequences' AS train, i->'metrics'->'tokens' AS tokens,
       i->'metrics'->'sequences_too_short' AS too_short
FROM (SELECT ecml.model_info(ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1,
                                                   "max_length": 50}')) AS i
      FROM (SELECT ARRAY(SELECT (g % 3000)::bigint FROM generate_series(1, 100000) g) AS seq
            UNION ALL SELECT seq FROM rs UNION ALL SELECT '{7}'::bigint[]) x) s;
-- dropout and weight decay are seeded like the rest: same options, same model
SELECT substr(a, 65) = substr(b, 65) AS same
FROM (SELECT ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 1, "dropout": 0.5,
                                    "weight_decay": 0.1}') AS a,
             ecml.lstm_train(seq, '{"embedding_dim": 8, "hidden_size": 8, "epochs": 1, "dropout": 0.5,
                                    "weight_decay": 0.1}') AS b FROM rs) s;
-- bad input: the session options
SELECT ecml.lstm_train(seq, '{"repeat": "always"}') FROM rs;
SELECT ecml.lstm_train(seq, '{"dropout": 0.95}') FROM rs;
SELECT ecml.lstm_train(seq, '{"dropout": -0.1}') FROM rs;
SELECT ecml.lstm_train(seq, '{"weight_decay": 2}') FROM rs;

-- the successor table: sessions x, x+1, x+2 over 500 items; its weight and
-- size, the successor first after a session ending in x, and the options
CREATE TABLE ss AS
SELECT s, ARRAY[(s * 3) % 500 + 1, (s * 3 + 1) % 500 + 1, (s * 3 + 2) % 500 + 1]::bigint[] AS seq
FROM generate_series(1, 1000) s;
CREATE TABLE sm AS
SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1}') AS succ,
       ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "max_successors": 1,
                              "repeat": "off"}') AS one
FROM ss;
SELECT (i->'metrics'->>'successor_weight')::float8 > 0.5 AS high_weight,
       i->'metrics'->'successor_pairs' AS pairs, i->'hyperparameters'->>'successors' AS successors,
       i->'hyperparameters'->'max_successors' AS max_successors
FROM sm, ecml.model_info(succ) AS i;
SELECT i->'metrics'->'successor_pairs' AS pairs, i->'metrics' ? 'repeat_weight' AS has_repeat
FROM sm, ecml.model_info(one) AS i;
SELECT ecml.lstm_next(succ, '{7}'::bigint[]) AS after_7, ecml.lstm_next(one, '{7}'::bigint[]) AS one_after_7,
       ecml.lstm_next(succ, '{6, 7}'::bigint[]) AS after_6_7
FROM sm;
-- a session ending in an unknown item: no successors, the network alone
SELECT count(*) AS n, bool_and(probability >= 0) AS nonneg
FROM sm, ecml.lstm_top(succ, '{7, 424242}'::bigint[], 5);
SELECT ecml.lstm_train(seq, '{"successors": "always"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"successors": true}') FROM ss;
SELECT ecml.lstm_train(seq, '{"max_successors": 0}') FROM ss;
SELECT ecml.lstm_train(seq, '{"max_successors": 201}') FROM ss;
-- the neighbour sessions' options
SELECT ecml.lstm_train(seq, '{"neighbours": "always"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"neighbours": true}') FROM ss;
SELECT ecml.lstm_train(seq, '{"neighbour_sessions": 0}') FROM ss;
SELECT ecml.lstm_train(seq, '{"neighbour_sessions": 100000001}') FROM ss;
SELECT ecml.lstm_train(seq, '{"neighbour_sessions": 1.5}') FROM ss;
-- sequential rules' window: x -> x+1 and x -> x+2 (at half weight) for
-- every x, so twice the pairs, the direct successor still first
SELECT i->'metrics'->'successor_pairs' AS pairs, i->'hyperparameters'->'successor_window' AS window,
       ecml.lstm_next(w, '{7}'::bigint[]) AS after_7
FROM (SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1,
                                    "successor_window": 2}') AS w FROM ss) m,
     ecml.model_info(w) AS i;
SELECT ecml.lstm_train(seq, '{"successor_window": 0}') FROM ss;
SELECT ecml.lstm_train(seq, '{"successor_window": 11}') FROM ss;
SELECT ecml.lstm_train(seq, '{"successor_window": 2.5}') FROM ss;
SELECT ecml.model_info(ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1}'))
         ->'hyperparameters'->>'output_bias' AS output_bias,
       ecml.model_info(ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1,
                                              "output_bias": "prior"}'))->'hyperparameters'->>'output_bias' AS prior
FROM ss;
SELECT ecml.lstm_train(seq, '{"output_bias": "zero"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"output_bias": 0}') FROM ss;
SELECT ecml.train('lstm', 'SELECT seq FROM ss', '{"successors": "auto"}');
-- ranking losses (GRU4Rec's BPR-max and TOP1-max over sampled negatives):
-- bad values, a full softmax is contradictory, ecml.train does not have them
SELECT ecml.lstm_train(seq, '{"loss": "bpr"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"loss": 1}') FROM ss;
SELECT ecml.lstm_train(seq, '{"loss": "bpr_max", "softmax": "full"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"loss": "top1_max", "softmax": "full"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"bpr_reg": -0.5}') FROM ss;
SELECT ecml.lstm_train(seq, '{"bpr_reg": 101}') FROM ss;
SELECT ecml.train('lstm', 'SELECT seq FROM ss', '{"loss": "bpr_max"}');
-- a ranking loss samples at any vocabulary size; the model says which loss
SELECT i->'hyperparameters'->>'loss' AS loss, i->'hyperparameters'->'bpr_reg' AS bpr_reg,
       i->>'softmax' AS output_layer
FROM (SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1,
                                    "loss": "top1_max", "num_sampled": 5}') AS m FROM ss) t,
     ecml.model_info(m) AS i;
-- "loss": "auto" (the default): the cross-entropy with the full softmax,
-- BPR-max when the output layer samples; ecml.train trains the cross-entropy
SELECT (SELECT ecml.model_info(ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1}'))
                 ->'hyperparameters'->>'loss' FROM ss) AS full_softmax,
       (SELECT ecml.model_info(ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1,
                                                  "softmax": "sampled", "num_sampled": 5}'))
                 ->'hyperparameters'->>'loss' FROM ss) AS sampled,
       ecml.model_info(ecml.train('lstm', 'SELECT seq FROM ss', '{"embedding_dim": 4, "hidden_size": 4,
                                                               "epochs": 1, "softmax": "sampled",
                                                               "num_sampled": 5}'))
         ->'hyperparameters'->>'loss' AS passes;
-- recurrent cells: "lstm" (the default) or "gru"; bad values; a GRU model
-- is smaller (3H columns per layer, not 4H) and scores like any other
SELECT ecml.lstm_train(seq, '{"cell": "rnn"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"cell": true}') FROM ss;
SELECT ecml.train('lstm', 'SELECT seq FROM ss', '{"cell": "GRU"}');
SELECT i->>'cell' AS cell, i->'hyperparameters'->>'cell' AS option, (i->>'parameters')::int AS parameters,
       (SELECT count(*) FROM ecml.lstm_top(m, '{1, 2}'::bigint[], 3)) AS top3,
       (SELECT sum(probability) <= 1.0001 FROM ecml.lstm_top(m, '{1, 2}'::bigint[], 100)) AS at_most_one,
       array_length(ecml.lstm_embed(m, '{1, 2}'::bigint[]), 1) AS embedding
FROM (SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "cell": "gru"}') AS m
      FROM ss) t,
     ecml.model_info(m) AS i;
-- tied embeddings need embedding_dim = hidden_size; a boolean
SELECT ecml.lstm_train(seq, '{"tied": true, "embedding_dim": 64}') FROM ss;
SELECT ecml.lstm_train(seq, '{"tied": true, "embedding_dim": 8, "hidden_size": 4}') FROM ss;
SELECT ecml.lstm_train(seq, '{"tied": "yes"}') FROM ss;
SELECT ecml.train('lstm', 'SELECT seq FROM ss', '{"tied": true, "embedding_dim": 16, "hidden_size": 8}');
SELECT i->'hyperparameters'->'tied' AS tied, (i->>'parameters')::int AS parameters
FROM (SELECT ecml.lstm_train(seq, '{"embedding_dim": 4, "hidden_size": 4, "epochs": 1, "tied": true}') AS m
      FROM ss) t,
     ecml.model_info(m) AS i;
-- by default embedding_dim is hidden_size, and the embedding is tied when
-- the two are equal: set apart, or "tied": false, they are two matrices
SELECT o AS options, i->'embedding_dim' AS e, i->'hidden_size' AS h, i->'hyperparameters'->'tied' AS tied
FROM (VALUES ('{"epochs": 1}'), ('{"epochs": 1, "hidden_size": 8}'), ('{"epochs": 1, "embedding_dim": 4}'),
             ('{"epochs": 1, "tied": false}'), ('{"epochs": 1, "embedding_dim": 8, "hidden_size": 8}')) v(o),
     LATERAL (SELECT ecml.model_info(ecml.lstm_train(seq, o::jsonb)) AS i FROM ss) t
ORDER BY o;
-- session-parallel mini-batches: bad values; "session_steps" belongs to
-- them; ecml.train's passes batch whole sequences only
SELECT ecml.lstm_train(seq, '{"batching": "lanes"}') FROM ss;
SELECT ecml.lstm_train(seq, '{"batching": 1}') FROM ss;
SELECT ecml.lstm_train(seq, '{"batching": "session_parallel", "session_steps": 0}') FROM ss;
SELECT ecml.lstm_train(seq, '{"batching": "session_parallel", "session_steps": 10001}') FROM ss;
SELECT ecml.lstm_train(seq, '{"batching": "session_parallel", "session_steps": 1.5}') FROM ss;
SELECT ecml.lstm_train(seq, '{"session_steps": 4}') FROM ss;
SELECT ecml.lstm_train(seq, '{"batching": "sequences", "session_steps": 4}') FROM ss;
SELECT ecml.train('lstm', 'SELECT seq FROM ss', '{"batching": "session_parallel"}');
-- sessions of one click (no target), sessions longer than max_length and
-- windows longer than max_length: every target trained once per epoch
-- (1000 x 2, and 11 of the long session, or max_length - 1)
SELECT o AS options, i->'hyperparameters'->>'batching' AS batching,
       i->'hyperparameters'->'session_steps' AS steps, (i->'metrics'->'history'->0->>'target_tokens')::int AS targets,
       (SELECT count(*) FROM ecml.lstm_top(m, '{1, 2}'::bigint[], 3)) AS top3
FROM (VALUES ('{"epochs": 1, "batching": "session_parallel"}'),
             ('{"epochs": 1, "batching": "session_parallel", "session_steps": 50, "max_length": 4}'),
             ('{"epochs": 1, "batching": "session_parallel", "session_steps": 3, "max_length": 5}'),
             ('{"epochs": 1}')) v(o),
     LATERAL (SELECT ecml.lstm_train(seq, (o::jsonb || '{"embedding_dim": 4, "hidden_size": 4,
                                                         "validation_fraction": 0}')) AS m
              FROM (SELECT seq FROM ss UNION ALL SELECT '{7}'::bigint[]
                    UNION ALL SELECT ARRAY(SELECT (i % 9 + 1)::bigint FROM generate_series(1, 12) i)) t) t,
     ecml.model_info(m) AS i
ORDER BY o;
