#!/usr/bin/env bash
# Cancellation and memory limits of every aggregate in schema ecml, taken
# from the catalog so that a new aggregate cannot escape: the script fails
# when an aggregate has no recipe below (or a recipe names no aggregate).
#
# Every aggregate overload is cancelled four ways: by statement_timeout =
# 1s and by pg_cancel_backend() from another session, each under a serial
# plan and under a forced parallel plan (workers fill partial states that
# the leader deserializes and combines).  Each time the script checks
# behaviour, not speed:
#   - the statement ends with SQLSTATE 57014 (query_canceled) and the
#     message of its cause;
#   - the same connection answers SELECT 1 afterwards, with no parallel
#     worker of it left in pg_stat_activity;
#   - its memory (sum of total_bytes in pg_backend_memory_contexts) is back
#     within MEM_TOLERANCE of what it was before the statement;
#   - under the parallel settings, the plan is a Partial Aggregate.
# The one time bound is STOP_BOUND_MS (60 s) from the cancel to the end of
# the statement.  It only catches a loop that ignores cancel (the sources
# below take minutes or more): it is meant to hold on a loaded 2-core
# machine with room to spare, so that no amount of load fails the test.
# How long the cancels actually took is printed (and goes to
# test/RELIABILITY.md, section rel:load); it is never asserted.
#
# Then, with ecml.train_memory_limit = 1MB over data that needs more: the
# documented error (SQLSTATE 54000, a message naming
# ecml.train_memory_limit, the hint "Train on a sample (TABLESAMPLE) or
# raise ecml.train_memory_limit."), and the connection answers SELECT 1.
# Aggregates whose state is not `internal` (a fixed-size float8[]: rmse,
# log_loss) hold no buffer and have no limit to breach; the script checks
# that from the catalog.  It connects as the superuser (PGUSER of the test
# cluster), who may set ecml.train_memory_limit.
#
# With ecml.progress = on, each line also says whether the cancel came
# during training (progress notices before the error) or before it.
# Runs in about three minutes.
set -euo pipefail

DB=${ECML_CANCEL_DB:-ecml_test}
# ECML_CANCEL_ONLY=pattern (SQL LIKE on the signature) runs the cancel cases
# of some overloads only, when working on them
ONLY=${ECML_CANCEL_ONLY:-%}
# Warm-up runs each query once on no rows first, so that catalog caches and
# the library are loaded before "before" is measured; what is left is what
# the cancelled statement kept.  The trainers' buffers cancelled here are
# tens to hundreds of MB, so 256 kB would still catch any buffer or a chunk
# of one.
MEM_TOLERANCE=${MEM_TOLERANCE:-262144}
# Generous on purpose (see above): stopping takes 0.01-2.5 s here.
STOP_BOUND_MS=60000
# A psql that outlives this is killed, so that a statement ignoring cancel
# fails the test instead of hanging it.
PSQL_CAP=300
APP=ecml_cancel_all
HINT='Train on a sample (TABLESAMPLE) or raise ecml.train_memory_limit.'
# logistic regression also trains in passes, in memory that does not grow with the rows
HINT_LOGREG="Train with ecml.train('logreg', source), whose memory does not grow with the rows, train on a sample (TABLESAMPLE), or raise ecml.train_memory_limit."
HINT_MF="Train with ecml.train('mf', source), whose memory grows with the users and items, not the interactions, or raise ecml.train_memory_limit."
# the isolation forest holds its samples, not the rows
HINT_GBDT="Train with ecml.train('gbdt', source), whose memory grows with the bins and tree nodes, not the rows, train on a sample (TABLESAMPLE), or raise ecml.train_memory_limit."
HINT_GBDT_PASS="The sketch holds sample_size rows and each tree level the histograms of its open nodes: lower sample_size, max_bins or max_depth, or raise ecml.train_memory_limit."
HINT_IFOREST="The samples hold n_trees x sample_size rows: lower n_trees or sample_size, or raise ecml.train_memory_limit."
US=$'\x1f'
# No JIT: compiling the plans of the 10^8-row parallel sources took the
# leader and each worker about 1 s here, and a cancel then lands in LLVM
# (which does not look at it) rather than in the aggregate under test.
SERIAL_SET="SET jit = off;
SET max_parallel_workers_per_gather = 0;"
PARALLEL_SET="SET jit = off;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;"

psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log=$(mktemp /tmp/cancel_all.XXXXXX)
cleanup() {
    rm -f "$log"
    # a statement that ignored its cancel would otherwise keep running
    psql -X -q -d "$DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$APP'" >/dev/null 2>&1 || true
    psql -X -q -d "$DB" -c "DROP TABLE IF EXISTS cancel_recipes, cancel_lr, cancel_pay, cancel_pts, cancel_seq, cancel_seqt, cancel_ids, cancel_docs, cancel_wv, cancel_clf_wv; DROP FUNCTION IF EXISTS cancel_lstm_checkpoint(int); DROP FUNCTION IF EXISTS cancel_w2v_checkpoint()" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql_q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;
DROP TABLE IF EXISTS cancel_recipes, cancel_lr, cancel_pay, cancel_pts, cancel_seq, cancel_seqt, cancel_ids, cancel_docs, cancel_wv, cancel_clf_wv;
-- an ecml.word2vec_pass checkpoint as ecml.train('word2vec') builds it (one
-- word, V = 1, dim 1, no n-grams; text_w2v_passes.c: W2vPassState)
CREATE OR REPLACE FUNCTION cancel_w2v_checkpoint() RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $CK$
    SELECT decode('50563257' || '00000000' || '01000000' || '00000000' || '00000000'
                  || '00000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '01000000' || '00000000'
                  || '0000000000000000' || '9a9999999999993f' || '03000000' || '00000000' || '01000000' || '00000000'
                  || 'fca9f1d24d62503f' || '2a00000000000000'
                  || '0100000000000000' || repeat('00', 80)
                  || '0100000000000000' || 'cdcccc3d00000000' || repeat('00', 32), 'hex')
$CK$;
-- an ecml.lstm_pass checkpoint as ecml.train('lstm') builds it (one token,
-- V = 2, E = H = L = 1, max_length 2, batch_size 1, a shuffle buffer of 1; token type 0 bigint, 1
-- text); folded to a constant when planned
CREATE OR REPLACE FUNCTION cancel_lstm_checkpoint(tt int) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $CK$
    SELECT decode('5054534c' || lpad(to_hex(tt), 2, '0') || '000000'
                  || '02000000' || '01000000' || '01000000' || '01000000' || '02000000' || '01000000'
                  || '01000000' || '00000000' || '01000000' || '00000000' || '01000000' || '00000000'
                  || '00000000' || '00000000' || '00000000' || '01000000' || '01000000' || '01000000'
                  || '00000000' || '00000000' || '00000000' || '00000000' || '00000000' || repeat('00', 16)
                  || '7b14ae47e17a843f' || '0000000000001440' || repeat('00', 24) || '2a00000000000000'
                  || repeat('00', 128)
                  || repeat('cdcccc3d', 18) || repeat('00', 144) || '0000000000000000' || '0500000000000000' || repeat('00', 16)
                  || repeat('00', 16), 'hex')
$CK$;
-- 1000 distinct rows of 400 features; repeated 200 times, 200k rows whose
-- Newton Hessian costs about 16 GFLOP per iteration
CREATE UNLOGGED TABLE cancel_lr AS
SELECT ARRAY(SELECT sin(k * j * 0.0137 + j) FROM generate_series(1, 400) j)::real[] AS f,
       sin(k * 0.37) + sin(k * 12.9898) > 0 AS y
FROM generate_series(1, 1000) k;
-- payments-like rows of 20 features
CREATE UNLOGGED TABLE cancel_pay AS
SELECT ARRAY(SELECT sin(k * j * 0.731 + j * 1.3) * j FROM generate_series(1, 20) j)::real[] AS f,
       sin(k * 0.61) + sin(k * 7.77) > 1.2 AS y
FROM generate_series(1, 1000) k;
-- 20000 points of 100 features
CREATE UNLOGGED TABLE cancel_pts AS
SELECT ARRAY(SELECT sin(k * j * 0.37 + j) FROM generate_series(1, 100) j)::real[] AS f
FROM generate_series(1, 20000) k;
-- 3000 sequences of 50 tokens over a vocabulary of 3000
CREATE UNLOGGED TABLE cancel_seq AS
SELECT ARRAY(SELECT ((s * 31 + t * 7) % 3000)::bigint FROM generate_series(1, 50) t) AS seq
FROM generate_series(1, 3000) s;
CREATE UNLOGGED TABLE cancel_seqt AS
SELECT ARRAY(SELECT 't' || ((s * 31 + t * 7) % 3000) FROM generate_series(1, 50) t) AS seq
FROM generate_series(1, 3000) s;
-- 20000 documents of 40 words over a vocabulary of 5000, and 20000
-- pretrained 50-dimensional word vectors
CREATE UNLOGGED TABLE cancel_docs AS
SELECT ARRAY(SELECT 'w' || ((s * 31 + t * 7) % 5000) FROM generate_series(1, 40) t) AS tokens,
       'label' || s % 5 AS label
FROM generate_series(1, 20000) s;
CREATE UNLOGGED TABLE cancel_wv AS
SELECT 'w' || g AS word, ARRAY(SELECT sin(g * j * 0.37) FROM generate_series(1, 50) j)::real[] AS vector
FROM generate_series(1, 20000) g;
-- 16-dimensional vectors of the documents' words, for the classifier to start from
CREATE UNLOGGED TABLE cancel_clf_wv AS
SELECT ecml.word_vectors_load(word, vector[1:16]) AS m FROM cancel_wv WHERE substr(word, 2)::int < 5000;
-- the outer side of the parallel sources: a parallel scan of it, each row
-- joined to a generate_series (materialized once, read again per row)
CREATE UNLOGGED TABLE cancel_ids AS SELECT k FROM generate_series(1, 100000) k;
ANALYZE cancel_lr, cancel_pay, cancel_pts, cancel_seq, cancel_seqt, cancel_ids, cancel_docs, cancel_wv, cancel_clf_wv;

-- One recipe per aggregate overload:
--   call     the aggregate call over the columns of the source queries;
--   slow     a source that takes far longer than the cancels (generate_series
--            in the select list streams; in FROM it would be materialized
--            first), for the serial plan;
--   par      a source of the same kind from a table, for the parallel plan;
--   big      a source needing more than ecml.train_memory_limit = 1MB, or
--            NULL for a fixed-size state.
-- (each on one line: the loop below reads one recipe per line)
CREATE UNLOGGED TABLE cancel_recipes (sig text PRIMARY KEY, call text, slow text, par text, big text);
INSERT INTO cancel_recipes VALUES
('ecml.logreg_train(real[],boolean,jsonb)',
 $$ecml.logreg_train(f, y, '{"solver": "newton", "tol": 0}')$$,
 $$SELECT f, y FROM cancel_lr, generate_series(1, 200)$$,
 $$SELECT f, y FROM cancel_lr, generate_series(1, 200)$$,
 $$SELECT f, y FROM cancel_lr$$),
('ecml.logreg_train(real[],boolean)',
 $$ecml.logreg_train(f, y)$$,
 $$SELECT f, y FROM cancel_lr, generate_series(1, 200)$$,
 $$SELECT f, y FROM cancel_lr, generate_series(1, 200)$$,
 $$SELECT f, y FROM cancel_lr$$),
('ecml.mf_train(bigint,bigint,real,jsonb)',
 $$ecml.mf_train(u, i, 1, '{"factors": 256, "solver": "cholesky", "iterations": 100}')$$,
 $$SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j$$,
 $$SELECT k AS u, (k * 7919 + j * 104729) % 5000 AS i FROM cancel_ids, generate_series(1, 20) j WHERE k <= 10000$$,
 $$SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j$$),
('ecml.mf_train(bigint,bigint,real)',
 $$ecml.mf_train(u, i, 1)$$,
 $$SELECT u, (u * 7919 + j * 104729) % 50000 AS i FROM generate_series(1, 100000) u, generate_series(1, 20) j$$,
 $$SELECT k AS u, (k * 7919 + j * 104729) % 50000 AS i FROM cancel_ids, generate_series(1, 20) j$$,
 $$SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j$$),
('ecml.logreg_pass(real[],boolean,double precision[])',
 $$ecml.logreg_pass(ARRAY[sin(g), cos(g), g % 7]::real[], g % 3 = 0, '{0,-1,1,1,1}')$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.lstm_vocab_pass(bigint[],double precision[])',
 $$ecml.lstm_vocab_pass(ARRAY[g, g + 1, g % 7]::bigint[], '{10,1000000}')$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.lstm_vocab_pass(text[],double precision[])',
 $$ecml.lstm_vocab_pass(ARRAY['t' || g, 't' || g % 7], '{10,1000000}')$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.lstm_pass(bigint[],bigint[],bytea)',
 $$ecml.lstm_pass(ARRAY[g % 5, g % 3, g % 2]::bigint[], '{1}'::bigint[], cancel_lstm_checkpoint(0))$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.lstm_pass(text[],text[],bytea)',
 $$ecml.lstm_pass(ARRAY['a' || g % 5, 'b'], '{a1}'::text[], cancel_lstm_checkpoint(1))$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.word2vec_pass(text[],text[],bytea)',
 $$ecml.word2vec_pass(ARRAY['a', 'b' || g % 5, 'a'], '{a}'::text[], cancel_w2v_checkpoint())$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.iforest_pass(real[],double precision[])',
 $$ecml.iforest_pass(ARRAY[sin(g), cos(g), g % 7]::real[], '{10,256,0}')$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.mf_pass(bytea,bigint,real,double precision[])',
 $$ecml.mf_pass((SELECT ecml.mf_train(i % 7, i % 11, 1, '{"factors": 4, "iterations": 1, "implicit": false}') FROM generate_series(1, 200) i), g % 11, 1, '{0,0,0.1,0,1}')$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.gbdt_sketch(real[],boolean,integer,integer,bigint)',
 $$ecml.gbdt_sketch(ARRAY[sin(g), cos(g), g % 7]::real[], g % 3 = 0, 1000, 16, 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.gbdt_pass(real[],boolean,bytea)',
 $$ecml.gbdt_pass(ARRAY[sin(g), cos(g), g % 7]::real[], g % 3 = 0, '\x4c50424703000000000000000600000000000000000000000100000001000000000000000000000000000000000000000000f03f000000000000f03f000000000000f03f000000000000000001000000010000000100000000000000020000000400000000000000000000000000000000000000ffffffff0000000000000000000000000000000000000000000000000000000000000000'::bytea)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.score_summary(double precision,boolean)',
 $$ecml.score_summary((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.rmse(double precision,double precision)',
 $$ecml.rmse(g::float8, (g % 7)::float8)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.log_loss(double precision,boolean)',
 $$ecml.log_loss((g % 1000) / 1000.0::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.roc_auc(double precision,boolean)',
 $$ecml.roc_auc((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.average_precision(double precision,boolean)',
 $$ecml.average_precision((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.pr_curve(double precision,boolean)',
 $$ecml.pr_curve((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.pr_curve(double precision,boolean,integer)',
 $$ecml.pr_curve((g % 1000)::float8, g % 3 = 0, 100)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
('ecml.threshold_for_precision(double precision,boolean,double precision)',
 $$ecml.threshold_for_precision((g % 1000)::float8, g % 3 = 0, 0.9)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 NULL),
-- ids in descending order, one dimension: 10M rows buffer in about 0.7 s
-- here and then take about as long to sort, so the serial timeout tends to
-- land in the final function's sort (it did 0.8 s late before that sort
-- checked for interrupts)
('ecml.pack_vectors(bigint,real[],jsonb)',
 $$ecml.pack_vectors(-g, ARRAY[g % 1000 + 1]::real[], '{"metric": "l2"}')$$,
 $$SELECT generate_series(1, 10000000) AS g$$,
 $$SELECT k * 100 + s AS g FROM cancel_ids, generate_series(1, 100) s$$,
 $$SELECT generate_series(1, 200000) AS g$$),
('ecml.pack_vectors(bigint,real[])',
 $$ecml.pack_vectors(g, ARRAY[sin(g), cos(g), sin(2 * g), cos(3 * g), g % 7, g % 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]::real[])$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 $$SELECT generate_series(1, 100000) AS g$$),
('ecml.fraud_train(real[],boolean,jsonb)',
 $$ecml.fraud_train(f, y, '{"n_trees": 100000, "max_depth": 10, "min_child_weight": 0}')$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 50)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 50)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 20)$$),
('ecml.fraud_train(real[],boolean)',
 $$ecml.fraud_train(f, y)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 1000)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 1000)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 20)$$),
-- 600 trees on samples of all 20000 rows, 144 MB of reservoirs, about 4 s
-- of growing trees here (with 240 MB, under a parallel plan the kernel took
-- up to 0.8 s to unmap the workers' memory after the cancel)
('ecml.anomaly_train(real[],jsonb)',
 $$ecml.anomaly_train(f, '{"n_trees": 600, "sample_size": 20000}')$$,
 $$SELECT f FROM cancel_pts$$,
 $$SELECT f FROM cancel_pts$$,
 $$SELECT f FROM cancel_pts$$),
('ecml.anomaly_train(real[])',
 $$ecml.anomaly_train(ARRAY[sin(g), cos(g * 0.3), sin(g * 2.17), g % 13, g % 17, g % 19, g % 23, g % 29, sin(g * 0.7), sin(g * 1.1), sin(g * 1.3), sin(g * 1.7), cos(g * 0.7), cos(g * 1.1), cos(g * 1.3), cos(g * 1.7)]::real[])$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT k * 1000 + s AS g FROM cancel_ids, generate_series(1, 1000) s$$,
 $$SELECT generate_series(1, 30000) AS g$$),
('ecml.lstm_train(bigint[],jsonb)',
 $$ecml.lstm_train(seq, '{"hidden_size": 256, "embedding_dim": 64, "epochs": 1000}')$$,
 $$SELECT seq FROM cancel_seq$$,
 $$SELECT seq FROM cancel_seq$$,
 $$SELECT seq FROM cancel_seq, generate_series(1, 4)$$),
('ecml.lstm_train(bigint[])',
 $$ecml.lstm_train(seq)$$,
 $$SELECT seq FROM cancel_seq$$,
 $$SELECT seq FROM cancel_seq$$,
 $$SELECT seq FROM cancel_seq, generate_series(1, 4)$$),
('ecml.lstm_train(text[],jsonb)',
 $$ecml.lstm_train(seq, '{"hidden_size": 256, "embedding_dim": 64, "epochs": 1000}')$$,
 $$SELECT seq FROM cancel_seqt$$,
 $$SELECT seq FROM cancel_seqt$$,
 $$SELECT seq FROM cancel_seqt, generate_series(1, 4)$$),
('ecml.lstm_train(text[])',
 $$ecml.lstm_train(seq)$$,
 $$SELECT seq FROM cancel_seqt$$,
 $$SELECT seq FROM cancel_seqt$$,
 $$SELECT seq FROM cancel_seqt, generate_series(1, 4)$$),
('ecml.word2vec_train(text[],jsonb)',
 $$ecml.word2vec_train(tokens, '{"epochs": 1000}')$$,
 $$SELECT tokens FROM cancel_docs$$,
 $$SELECT tokens FROM cancel_docs$$,
 $$SELECT tokens FROM cancel_docs$$),
('ecml.word2vec_train(text[])',
 $$ecml.word2vec_train(tokens)$$,
 $$SELECT tokens FROM cancel_docs, generate_series(1, 20)$$,
 $$SELECT tokens FROM cancel_docs, generate_series(1, 20)$$,
 $$SELECT tokens FROM cancel_docs$$),
-- word_vectors_load and text_classifier_train stop at a size limit (2
-- million words, ecml.train_memory_limit) which a fast machine reached
-- within the 1 s: their sources stay under it (1 million words, 800,000
-- documents) and the words' source rebuilds each vector through text (a
-- parallel-safe expression, unlike an ARRAY subquery), so that the
-- statement is still running at 1 s (5 s in parallel, 9 s serial here).
('ecml.word_vectors_load(text,real[],jsonb)',
 $$ecml.word_vectors_load(word || '_' || g, vector, '{"sif_a": 0.01}')$$,
 $$SELECT word, string_to_array(array_to_string(vector, ','), ',')::real[] AS vector, g FROM cancel_wv, generate_series(1, 50) g$$,
 $$SELECT word, string_to_array(array_to_string(vector, ','), ',')::real[] AS vector, g FROM cancel_wv, generate_series(1, 50) g$$,
 $$SELECT word, vector, 0 AS g FROM cancel_wv$$),
('ecml.word_vectors_load(text,real[])',
 $$ecml.word_vectors_load(word || '_' || g, vector)$$,
 $$SELECT word, string_to_array(array_to_string(vector, ','), ',')::real[] AS vector, g FROM cancel_wv, generate_series(1, 50) g$$,
 $$SELECT word, string_to_array(array_to_string(vector, ','), ',')::real[] AS vector, g FROM cancel_wv, generate_series(1, 50) g$$,
 $$SELECT word, vector, 0 AS g FROM cancel_wv$$),
('ecml.text_classifier_train(text[],text,jsonb)',
 $$ecml.text_classifier_train(tokens, label, '{"epochs": 1000, "dim": 200}')$$,
 $$SELECT tokens, label FROM cancel_docs$$,
 $$SELECT tokens, label FROM cancel_docs$$,
 $$SELECT tokens, label FROM cancel_docs$$),
('ecml.text_classifier_train(text[],text,jsonb,bytea)',
 $$ecml.text_classifier_train(tokens, label, '{"epochs": 1000}', (SELECT m FROM cancel_clf_wv))$$,
 $$SELECT tokens, label FROM cancel_docs$$,
 $$SELECT tokens, label FROM cancel_docs$$,
 $$SELECT tokens, label FROM cancel_docs$$),
('ecml.text_classifier_train(text[],text)',
 $$ecml.text_classifier_train(tokens, label)$$,
 $$SELECT tokens, label FROM cancel_docs, generate_series(1, 40)$$,
 $$SELECT tokens, label FROM cancel_docs, generate_series(1, 40)$$,
 $$SELECT tokens, label FROM cancel_docs$$);
SQL

# Every aggregate in schema ecml has a recipe, and every recipe an aggregate;
# a recipe without a memory case must be a fixed-size (non-internal) state.
check=$(psql_q <<'SQL'
WITH aggs AS (
    SELECT p.oid::regprocedure::text AS sig, a.aggtranstype::regtype::text AS stype
    FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
    WHERE p.pronamespace = 'ecml'::regnamespace)
SELECT 'aggregates ' || (SELECT count(*) FROM aggs)
UNION ALL
SELECT 'MISSING recipe for ' || sig FROM aggs WHERE sig NOT IN (SELECT sig FROM cancel_recipes)
UNION ALL
SELECT 'STALE recipe for ' || sig FROM cancel_recipes WHERE sig NOT IN (SELECT sig FROM aggs)
UNION ALL
SELECT 'MISSING memory-limit case for ' || sig || ' (state ' || stype || ')'
FROM aggs JOIN cancel_recipes r USING (sig) WHERE r.big IS NULL AND stype = 'internal';
SQL
)
printf '%s\n' "$check"
if grep -qE '^(MISSING|STALE)' <<<"$check"; then
    echo "FAIL: the recipes do not match the catalog"
    exit 1
fi

fail=0
n_cases=0
note_fail() { echo "FAIL: $*"; fail=1; }

mem_sql="SELECT sum(total_bytes) FROM pg_backend_memory_contexts"

# The session's script up to the statement to cancel: the plan settings,
# a warm-up, the plan (parallel only) and the memory before.
prologue() {
    local mode=$1 call=$2 src=$3
    cat <<SQL
SET application_name = '$APP';
SET ecml.progress = on;
$([ "$mode" = parallel ] && printf '%s\n' "$PARALLEL_SET" || printf '%s\n' "$SERIAL_SET")
SELECT $call FROM ($src LIMIT 0) s;
SQL
    if [ "$mode" = parallel ]; then
        echo "EXPLAIN (COSTS OFF) SELECT ($call) IS NULL FROM ($src) s;"
    fi
    # the epilogue's queries once, so that the caches they fill are counted
    # before the statement too
    cat <<SQL
SELECT extract(epoch FROM clock_timestamp()) IS NULL;
SELECT count(*) FROM pg_stat_activity WHERE leader_pid = pg_backend_pid();
$mem_sql;
SELECT 'before ' || ($mem_sql);
SQL
}

# ... and after it: its SQLSTATE, then the session must answer, with its
# memory back and no worker left.
epilogue() {
    cat <<SQL
\\echo 'state' :SQLSTATE
\\timing off
RESET statement_timeout;
SELECT 'ended ' || extract(epoch FROM clock_timestamp());
SELECT 'alive ' || 1;
SELECT 'after ' || ($mem_sql);
SELECT 'workers ' || count(*) FROM pg_stat_activity WHERE leader_pid = pg_backend_pid();
SQL
}

# check_case HOW MODE SIG OUT STOP_MS: the behavioural checks on one
# session's output; STOP_MS is how long the statement took to stop after
# the cancel (or empty when unknown).
check_case() {
    local how=$1 mode=$2 sig=$3 out=$4 stop_ms=$5 cause before after notices phase
    n_cases=$((n_cases + 1))
    before=$(sed -nE 's/^before ([0-9]+)$/\1/p' <<<"$out")
    after=$(sed -nE 's/^after ([0-9]+)$/\1/p' <<<"$out")
    notices=$(grep -c '^NOTICE:  ecml\.' <<<"$out" || true)
    if [ "$notices" -gt 0 ]; then phase="training: $notices progress notices before it"; else phase="no progress notice before it"; fi
    printf '%-8s %-8s %s: stopped %s ms after the cancel (%s); backend memory %s -> %s bytes (%s)\n' \
        "$how" "$mode" "$sig" "${stop_ms:-?}" "$phase" "${before:-?}" "${after:-?}" "$(( ${after:-0} - ${before:-0} ))"
    case $how in
        timeout) cause='canceling statement due to statement timeout' ;;
        *) cause='canceling statement due to user request' ;;
    esac
    # 57014: query_canceled, for the aggregate's statement itself
    if ! grep -qx 'state 57014' <<<"$out" || ! grep -q "$cause" <<<"$out"; then
        note_fail "$sig ($how, $mode) did not end with 57014 \"$cause\":"; printf '%s\n' "$out"; return
    fi
    if [ "$mode" = parallel ] && ! grep -q 'Partial Aggregate' <<<"$out"; then
        note_fail "$sig ($how, $mode): the plan is not parallel"; printf '%s\n' "$out"
    fi
    grep -qx 'alive 1' <<<"$out" || note_fail "$sig ($how, $mode): backend not usable after the cancel"
    grep -qx 'workers 0' <<<"$out" || note_fail "$sig ($how, $mode): parallel workers left after the cancel"
    if [ -z "$stop_ms" ] || ! awk -v ms="$stop_ms" -v cap="$STOP_BOUND_MS" 'BEGIN { exit !(ms < cap) }'; then
        note_fail "$sig ($how, $mode): did not stop within $STOP_BOUND_MS ms of the cancel (${stop_ms:-no time})"
    fi
    awk -v b="$before" -v a="$after" -v t="$MEM_TOLERANCE" 'BEGIN { exit !(b > 0 && a - b <= t) }' ||
        note_fail "$sig ($how, $mode): backend memory ${before:-?} -> ${after:-?} bytes (tolerance $MEM_TOLERANCE)"
}

# 1. statement_timeout = 1s; psql's \timing of the statement, less the 1 s,
# is how long it took to stop.
timeout_case() {
    local mode=$1 sig=$2 call=$3 src=$4 out ms
    out=$( { prologue "$mode" "$call" "$src"; cat <<SQL
SET statement_timeout = '1s';
\\timing on
SELECT ($call) IS NULL FROM ($src) s;
SQL
        epilogue; } | timeout -k 5 "$PSQL_CAP" psql -X -q -At -d "$DB" 2>&1) || true
    ms=$(sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' <<<"$out" | head -n 1)
    [ -n "$ms" ] && ms=$(awk -v ms="$ms" 'BEGIN { printf "%.0f", ms - 1000 }')
    check_case timeout "$mode" "$sig" "$out" "$ms"
}

# 2. pg_cancel_backend from another session once the statement has run for
# half a second; how long it took to stop is measured on the server's clock, from
# the request to the cancelled session's next statement.
request_case() {
    local mode=$1 sig=$2 call=$3 src=$4 out bg active t_cancel ended ms
    { prologue "$mode" "$call" "$src"; cat <<SQL
SELECT ($call) IS NULL FROM ($src) s;
SQL
        epilogue; } | timeout -k 5 "$PSQL_CAP" psql -X -q -At -d "$DB" >"$log" 2>&1 &
    bg=$!
    # wait for the statement to start (generously: minutes, polling)
    active=0
    for _ in $(seq 1 600); do
        n=$(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$APP' AND backend_type = 'client backend' AND state = 'active' AND query LIKE '%IS NULL FROM%'")
        if [ "$n" = 1 ]; then active=1; break; fi
        sleep 0.1
    done
    sleep 0.5
    # (in the target list: in WHERE the planner may call it on any row, ours too;
    # the client backend only: a parallel worker still starting up shows no
    # leader_pid yet, and one that has exited makes pg_cancel_backend false)
    t_cancel=$(psql_q -c "SELECT extract(epoch FROM clock_timestamp()) || ' ' || pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$APP' AND backend_type = 'client backend'")
    case "$t_cancel" in *' true') t_cancel=${t_cancel% true} ;; *) t_cancel= ;; esac
    wait "$bg" || true
    out=$(cat "$log")
    ended=$(sed -nE 's/^ended ([0-9.]+)$/\1/p' <<<"$out")
    ms=
    if [ "$active" = 1 ] && [ -n "$t_cancel" ] && [ -n "$ended" ]; then
        ms=$(awk -v a="$t_cancel" -v b="$ended" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    else
        note_fail "$sig (request, $mode): the statement was not running when cancelled (active=$active, request=${t_cancel:-none})"
    fi
    check_case request "$mode" "$sig" "$out" "$ms"
}

while IFS="$US" read -r sig call slow par; do
    [ -n "$sig" ] || continue
    timeout_case serial "$sig" "$call" "$slow"
    timeout_case parallel "$sig" "$call" "$par"
    request_case serial "$sig" "$call" "$slow"
    request_case parallel "$sig" "$call" "$par"
done < <(psql_q -F "$US" -v only="$ONLY" <<<"SELECT sig, call, slow, par FROM cancel_recipes WHERE sig LIKE :'only' ORDER BY sig")
n_rec=$(psql_q -v only="$ONLY" <<<"SELECT count(*) FROM cancel_recipes WHERE sig LIKE :'only'")
echo "cancel: $n_cases cases for $n_rec overloads"
[ "$n_cases" = $((4 * n_rec)) ] || note_fail "expected $((4 * n_rec)) cancel cases, ran $n_cases"

# 3. ecml.train_memory_limit.  Each case runs twice in one session: inside a
# PL/pgSQL block that reads the error's SQLSTATE, message and hint, then as
# a top-level statement, after which the session must answer SELECT 1.
script=$(psql_q <<'SQL'
SELECT format($f$SELECT %L || chr(31) || e.state || chr(31) || e.msg || chr(31) || coalesce(e.hint, '')
    FROM pg_temp.limit_error(%L) e;
SELECT (%s) IS NULL FROM (%s) s;
\echo 'toplevel' :LAST_ERROR_SQLSTATE
SELECT 'alive ' || 1;$f$,
       'limit ' || sig, format('SELECT (%s) IS NULL FROM (%s) s', call, big), call, big)
FROM cancel_recipes WHERE big IS NOT NULL ORDER BY sig;
SQL
)
out=$(psql -X -q -At -d "$DB" 2>/dev/null <<SQL
CREATE FUNCTION pg_temp.limit_error(q text, OUT state text, OUT msg text, OUT hint text) LANGUAGE plpgsql AS \$\$
BEGIN
    EXECUTE q;
    state := 'none';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
END \$\$;
SET ecml.train_memory_limit = '1MB';
$script
SQL
)
n_limit=0
while IFS="$US" read -r sig state msg hint; do
    sig=${sig#limit }
    n_limit=$((n_limit + 1))
    echo "limit    $sig: $state $msg"
    [ "$state" = 54000 ] || note_fail "$sig: SQLSTATE $state, expected 54000"
    case "$msg" in *ecml.train_memory_limit*) ;; *) note_fail "$sig: message does not name ecml.train_memory_limit" ;; esac
    want=$HINT
    case "$sig" in
        ecml.logreg_train*) want=$HINT_LOGREG ;;
        ecml.mf_train*) want=$HINT_MF ;;
        ecml.anomaly_train*) want=$HINT_IFOREST ;;
        ecml.fraud_train*) want=$HINT_GBDT ;;
        ecml.gbdt_sketch*|ecml.gbdt_pass*) want=$HINT_GBDT_PASS ;;
    esac
    [ "$hint" = "$want" ] || note_fail "$sig: hint '$hint', expected '$want'"
done < <(grep '^limit ' <<<"$out")
n_big=$(psql_q -c "SELECT count(*) FROM cancel_recipes WHERE big IS NOT NULL")
n_top=$(grep -cx 'toplevel 54000' <<<"$out" || true)
n_alive=$(grep -cx 'alive 1' <<<"$out" || true)
echo "memory limit: $n_limit cases, $n_top top-level errors 54000, $n_alive times SELECT 1 answered after one"
[ "$n_limit" = "$n_big" ] && [ "$n_top" = "$n_big" ] && [ "$n_alive" = "$n_big" ] ||
    note_fail "expected $n_big of each"

exit $fail
