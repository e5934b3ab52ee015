#!/usr/bin/env bash
# Cancellation and memory limits of every aggregate in schema ecml, taken
# from the catalog so that a new aggregate cannot escape: the script fails
# when an aggregate has no recipe below (or a recipe names no aggregate).
#
# For each aggregate (each overload):
#   1. statement_timeout = 1s over data that takes much longer: the
#      statement ends with "canceling statement due to statement timeout"
#      within 2 s of its start, the same connection answers SELECT 1, and
#      the backend's memory (sum of total_bytes in pg_backend_memory_contexts)
#      after the cancel is within MEM_TOLERANCE of before it;
#   1b. the model trainers whose rows come from a table, the same under a
#      forced parallel plan (workers' partial states, combined in the leader);
#   2. for the model trainers, the same with pg_cancel_backend() from
#      another session once the statement has run for a second: it ends
#      within 1 s of the cancel request, memory as above;
#   3. with ecml.train_memory_limit = 1MB over data that needs more: the
#      documented error (SQLSTATE 54000, a message naming
#      ecml.train_memory_limit, the hint "Train on a sample (TABLESAMPLE) or
#      raise ecml.train_memory_limit."), and the connection answers SELECT 1.
#      Aggregates whose state is not `internal` (a fixed-size float8[]:
#      rmse, log_loss) hold no buffer and have no limit to breach; the
#      script checks that from the catalog.
#
# It replaces the per-capability cancel.sh, mf_cancel.sh, lstm_cancel.sh and
# iforest_cancel.sh (the same trainers with the same data and options, but
# for the isolation forest's, plus every other aggregate).  Runs in about 40 s.  Prints one line per case; figures
# go to test/RELIABILITY.md (section rel:load).
set -euo pipefail

DB=${ECML_CANCEL_DB:-ecml_test}
# Warm-up runs each query once on no rows first, so that catalog caches and
# the library are loaded before "before" is measured; what is left is what
# the cancelled statement kept.  The trainers' buffers cancelled here are
# tens to hundreds of MB, so 256 kB would still catch any buffer or a chunk
# of one.
MEM_TOLERANCE=${MEM_TOLERANCE:-262144}
HINT='Train on a sample (TABLESAMPLE) or raise ecml.train_memory_limit.'
US=$'\x1f'

psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
    psql -X -q -d "$DB" -c "DROP TABLE IF EXISTS cancel_recipes, cancel_lr, cancel_pay, cancel_pts, cancel_seq, cancel_seqt, cancel_docs, cancel_wv" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql_q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ecml;
DROP TABLE IF EXISTS cancel_recipes, cancel_lr, cancel_pay, cancel_pts, cancel_seq, cancel_seqt, cancel_docs, cancel_wv;
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

-- One recipe per aggregate overload:
--   call     the aggregate call over the columns of the source queries;
--   slow     a source that takes far longer than 1 s (generate_series in the
--            select list streams; in FROM it would be materialized first);
--   big      a source needing more than ecml.train_memory_limit = 1MB, or
--            NULL for a fixed-size state;
--   request  also cancel it with pg_cancel_backend.
-- (each on one line: the loop below reads one recipe per line)
CREATE UNLOGGED TABLE cancel_recipes (sig text PRIMARY KEY, call text, slow text, big text, request boolean);
INSERT INTO cancel_recipes VALUES
('ecml.logreg_train(real[],boolean,jsonb)',
 $$ecml.logreg_train(f, y, '{"solver": "newton", "tol": 0}')$$,
 $$SELECT f, y FROM cancel_lr, generate_series(1, 200)$$,
 $$SELECT f, y FROM cancel_lr$$, true),
('ecml.logreg_train(real[],boolean)',
 $$ecml.logreg_train(f, y)$$,
 $$SELECT f, y FROM cancel_lr, generate_series(1, 200)$$,
 $$SELECT f, y FROM cancel_lr$$, false),
('ecml.mf_train(bigint,bigint,real,jsonb)',
 $$ecml.mf_train(u, i, 1, '{"factors": 256, "solver": "cholesky", "iterations": 100}')$$,
 $$SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j$$,
 $$SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j$$, true),
('ecml.mf_train(bigint,bigint,real)',
 $$ecml.mf_train(u, i, 1)$$,
 $$SELECT u, (u * 7919 + j * 104729) % 50000 AS i FROM generate_series(1, 100000) u, generate_series(1, 20) j$$,
 $$SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j$$, false),
('ecml.rmse(double precision,double precision)',
 $$ecml.rmse(g::float8, (g % 7)::float8)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 NULL, false),
('ecml.log_loss(double precision,boolean)',
 $$ecml.log_loss((g % 1000) / 1000.0::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 NULL, false),
('ecml.roc_auc(double precision,boolean)',
 $$ecml.roc_auc((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 300000) AS g$$, false),
('ecml.average_precision(double precision,boolean)',
 $$ecml.average_precision((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 300000) AS g$$, false),
('ecml.pr_curve(double precision,boolean)',
 $$ecml.pr_curve((g % 1000)::float8, g % 3 = 0)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 300000) AS g$$, false),
('ecml.pr_curve(double precision,boolean,integer)',
 $$ecml.pr_curve((g % 1000)::float8, g % 3 = 0, 100)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 300000) AS g$$, false),
('ecml.threshold_for_precision(double precision,boolean,double precision)',
 $$ecml.threshold_for_precision((g % 1000)::float8, g % 3 = 0, 0.9)$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 300000) AS g$$, false),
-- ids in descending order, one dimension: 10M rows buffer in about 0.7 s
-- here and then take about as long to sort, so the timeout lands in the
-- final function's sort (it did 0.8 s late before that sort checked for
-- interrupts)
('ecml.pack_vectors(bigint,real[],jsonb)',
 $$ecml.pack_vectors(-g, ARRAY[g % 1000 + 1]::real[], '{"metric": "l2"}')$$,
 $$SELECT generate_series(1, 10000000) AS g$$,
 $$SELECT generate_series(1, 200000) AS g$$, true),
('ecml.pack_vectors(bigint,real[])',
 $$ecml.pack_vectors(g, ARRAY[sin(g), cos(g), sin(2 * g), cos(3 * g), g % 7, g % 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]::real[])$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 100000) AS g$$, false),
('ecml.fraud_train(real[],boolean,jsonb)',
 $$ecml.fraud_train(f, y, '{"n_trees": 100000, "max_depth": 10, "min_child_weight": 0}')$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 50)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 20)$$, true),
('ecml.fraud_train(real[],boolean)',
 $$ecml.fraud_train(f, y)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 1000)$$,
 $$SELECT f, y FROM cancel_pay, generate_series(1, 20)$$, false),
-- 600 trees on samples of all 20000 rows, 144 MB of reservoirs, about 4 s
-- of growing trees here (with 240 MB, under a parallel plan the kernel took
-- up to 0.8 s to unmap the workers' memory after the cancel)
('ecml.anomaly_train(real[],jsonb)',
 $$ecml.anomaly_train(f, '{"n_trees": 600, "sample_size": 20000}')$$,
 $$SELECT f FROM cancel_pts$$,
 $$SELECT f FROM cancel_pts$$, true),
('ecml.anomaly_train(real[])',
 $$ecml.anomaly_train(ARRAY[sin(g), cos(g * 0.3), sin(g * 2.17), g % 13, g % 17, g % 19, g % 23, g % 29, sin(g * 0.7), sin(g * 1.1), sin(g * 1.3), sin(g * 1.7), cos(g * 0.7), cos(g * 1.1), cos(g * 1.3), cos(g * 1.7)]::real[])$$,
 $$SELECT generate_series(1, 1000000000) AS g$$,
 $$SELECT generate_series(1, 30000) AS g$$, false),
('ecml.lstm_train(bigint[],jsonb)',
 $$ecml.lstm_train(seq, '{"hidden_size": 256, "embedding_dim": 64, "epochs": 1000}')$$,
 $$SELECT seq FROM cancel_seq$$,
 $$SELECT seq FROM cancel_seq, generate_series(1, 4)$$, true),
('ecml.lstm_train(bigint[])',
 $$ecml.lstm_train(seq)$$,
 $$SELECT seq FROM cancel_seq$$,
 $$SELECT seq FROM cancel_seq, generate_series(1, 4)$$, false),
('ecml.lstm_train(text[],jsonb)',
 $$ecml.lstm_train(seq, '{"hidden_size": 256, "embedding_dim": 64, "epochs": 1000}')$$,
 $$SELECT seq FROM cancel_seqt$$,
 $$SELECT seq FROM cancel_seqt, generate_series(1, 4)$$, false),
('ecml.lstm_train(text[])',
 $$ecml.lstm_train(seq)$$,
 $$SELECT seq FROM cancel_seqt$$,
 $$SELECT seq FROM cancel_seqt, generate_series(1, 4)$$, false),
('ecml.word2vec_train(text[],jsonb)',
 $$ecml.word2vec_train(tokens, '{"epochs": 1000}')$$,
 $$SELECT tokens FROM cancel_docs$$,
 $$SELECT tokens FROM cancel_docs$$, true),
('ecml.word2vec_train(text[])',
 $$ecml.word2vec_train(tokens)$$,
 $$SELECT tokens FROM cancel_docs, generate_series(1, 20)$$,
 $$SELECT tokens FROM cancel_docs$$, false),
('ecml.word_vectors_load(text,real[],jsonb)',
 $$ecml.word_vectors_load(word || g, vector, '{"sif_a": 0.01}')$$,
 $$SELECT word, vector, g FROM cancel_wv, generate_series(1, 1000) g$$,
 $$SELECT word, vector, 0 AS g FROM cancel_wv$$, false),
('ecml.word_vectors_load(text,real[])',
 $$ecml.word_vectors_load(word || g, vector)$$,
 $$SELECT word, vector, g FROM cancel_wv, generate_series(1, 1000) g$$,
 $$SELECT word, vector, 0 AS g FROM cancel_wv$$, false),
('ecml.text_classifier_train(text[],text,jsonb)',
 $$ecml.text_classifier_train(tokens, label, '{"epochs": 1000, "dim": 200}')$$,
 $$SELECT tokens, label FROM cancel_docs$$,
 $$SELECT tokens, label FROM cancel_docs$$, true),
('ecml.text_classifier_train(text[],text)',
 $$ecml.text_classifier_train(tokens, label)$$,
 $$SELECT tokens, label FROM cancel_docs, generate_series(1, 200)$$,
 $$SELECT tokens, label FROM cancel_docs$$, false);
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
note_fail() { echo "FAIL: $*"; fail=1; }

mem_sql="SELECT sum(total_bytes) FROM pg_backend_memory_contexts"

# 1. statement_timeout.  Then the source alone under the same timeout: when
# it finishes, the cancel came in the aggregate's own work (the final
# function's training loops, or the transition function's per-row work),
# not in producing the rows; the trainers' recipes must be of that kind.
while IFS="$US" read -r sig call slow request; do
    [ -n "$sig" ] || continue
    # a stream of 10^9 rows is not worth counting
    count_sql="SELECT 'rows ' || count(*) FROM ($slow) s;"
    case "$slow" in *1000000000*) count_sql= ;; esac
    out=$(psql -X -q -At -d "$DB" 2>&1 <<SQL
SELECT $call FROM ($slow LIMIT 0) s;
$mem_sql;
SELECT 'before ' || ($mem_sql);
SET statement_timeout = '1s';
\\timing on
SELECT ($call) IS NULL FROM ($slow) s;
\\echo 'state' :SQLSTATE
\\timing off
RESET statement_timeout;
SELECT 'alive ' || 1;
SELECT 'after ' || ($mem_sql);
SET statement_timeout = '1s';
\\timing on
$count_sql
SQL
)
    ms=$(printf '%s\n' "$out" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | head -n 1)
    scan_ms=$(printf '%s\n' "$out" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | sed -n 2p)
    before=$(printf '%s\n' "$out" | sed -nE 's/^before ([0-9]+)$/\1/p')
    after=$(printf '%s\n' "$out" | sed -nE 's/^after ([0-9]+)$/\1/p')
    rows=$(printf '%s\n' "$out" | sed -nE 's/^rows ([0-9]+)$/\1/p')
    if [ -n "$rows" ]; then
        phase="in the aggregate (counting its $rows source rows takes ${scan_ms} ms)"
    elif [ -z "$count_sql" ]; then
        phase="while reading rows (a stream of 10^9)"
    else
        phase="while reading rows (counting them takes more than 1 s)"
    fi
    echo "timeout  $sig: stopped after ${ms:-?} ms $phase; backend memory ${before:-?} -> ${after:-?} bytes ($(( ${after:-0} - ${before:-0} )))"
    # the trainers' recipes (but pack_vectors', whose final sort takes about
    # as long as reading its rows) must be cancelled while training
    if [ "$request" = t ] && [ -z "$rows" ] && [ "${sig#ecml.pack_vectors}" = "$sig" ]; then
        note_fail "$sig: the trainer's recipe must spend its time training, not reading rows"
    fi
    # 57014: query_canceled, for the aggregate's statement itself
    if ! grep -qx 'state 57014' <<<"$out" ||
        ! grep -q 'canceling statement due to statement timeout' <<<"$out"; then
        note_fail "$sig was not cancelled by statement_timeout:"; printf '%s\n' "$out"; continue
    fi
    grep -qx 'alive 1' <<<"$out" || note_fail "$sig: backend not usable after the cancel"
    awk -v ms="$ms" 'BEGIN { exit !(ms < 2000) }' || note_fail "$sig: took ${ms} ms (limit 2000)"
    awk -v b="$before" -v a="$after" -v t="$MEM_TOLERANCE" 'BEGIN { exit !(a - b <= t) }' ||
        note_fail "$sig: backend memory grew by $((after - before)) bytes (tolerance $MEM_TOLERANCE)"
done < <(psql_q -F "$US" -c "SELECT sig, call, slow, request FROM cancel_recipes ORDER BY sig")

# 1b. The trainers again under a forced parallel plan, where the source is a
# table (workers fill partial states, the leader combines and trains): the
# same limits.
n_par=0
while IFS="$US" read -r sig call slow; do
    [ -n "$sig" ] || continue
    out=$(psql -X -q -At -d "$DB" 2>&1 <<SQL
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT $call FROM ($slow LIMIT 0) s;
$mem_sql;
EXPLAIN (COSTS OFF) SELECT ($call) IS NULL FROM ($slow) s;
SELECT 'before ' || ($mem_sql);
SET statement_timeout = '1s';
\\timing on
SELECT ($call) IS NULL FROM ($slow) s;
\\timing off
RESET statement_timeout;
SELECT 'alive ' || 1;
SELECT 'after ' || ($mem_sql);
SQL
)
    if ! grep -q 'Partial Aggregate' <<<"$out"; then
        echo "parallel $sig: no parallel plan for this source (rows not from a table), skipped"
        continue
    fi
    n_par=$((n_par + 1))
    ms=$(printf '%s\n' "$out" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | head -n 1)
    before=$(printf '%s\n' "$out" | sed -nE 's/^before ([0-9]+)$/\1/p')
    after=$(printf '%s\n' "$out" | sed -nE 's/^after ([0-9]+)$/\1/p')
    echo "parallel $sig: stopped after ${ms:-?} ms; backend memory ${before:-?} -> ${after:-?} bytes ($(( ${after:-0} - ${before:-0} )))"
    if ! grep -q 'canceling statement due to statement timeout' <<<"$out"; then
        note_fail "$sig (parallel) was not cancelled by statement_timeout:"; printf '%s\n' "$out"; continue
    fi
    grep -qx 'alive 1' <<<"$out" || note_fail "$sig (parallel): backend not usable after the cancel"
    awk -v ms="$ms" 'BEGIN { exit !(ms < 2000) }' || note_fail "$sig (parallel): took ${ms} ms (limit 2000)"
    awk -v b="$before" -v a="$after" -v t="$MEM_TOLERANCE" 'BEGIN { exit !(a - b <= t) }' ||
        note_fail "$sig (parallel): backend memory grew by $((after - before)) bytes (tolerance $MEM_TOLERANCE)"
done < <(psql_q -F "$US" -c "SELECT sig, call, slow FROM cancel_recipes WHERE request ORDER BY sig")
[ "$n_par" -ge 4 ] || note_fail "only $n_par trainers ran under a parallel plan"

# 2. pg_cancel_backend from another session, a second into the statement.
# Latency is measured on the server's clock: from the cancel request to the
# cancelled session's next statement.
log=$(mktemp /tmp/cancel_all.XXXXXX)
trap 'rm -f "$log"; cleanup' EXIT
while IFS="$US" read -r sig call slow; do
    [ -n "$sig" ] || continue
    psql -X -q -At -d "$DB" >"$log" 2>&1 <<SQL &
SET application_name = 'ecml_cancel_all';
SELECT $call FROM ($slow LIMIT 0) s;
$mem_sql;
SELECT 'before ' || ($mem_sql);
SELECT ($call) IS NULL FROM ($slow) s;
SELECT 'ended ' || extract(epoch FROM clock_timestamp());
SELECT 'alive ' || 1;
SELECT 'after ' || ($mem_sql);
SQL
    bg=$!
    active=0
    for _ in $(seq 1 100); do
        n=$(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ecml_cancel_all' AND state = 'active' AND query LIKE '%IS NULL FROM%'")
        if [ "$n" = 1 ]; then active=1; break; fi
        sleep 0.05
    done
    sleep 1
    # (in the target list: in WHERE the planner may call it on any row, ours too)
    t_cancel=$(psql_q -c "SELECT extract(epoch FROM clock_timestamp()) || ' ' || pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'ecml_cancel_all'")
    case "$t_cancel" in *' true') t_cancel=${t_cancel% true} ;; *) t_cancel= ;; esac
    wait "$bg" || true
    out=$(cat "$log")
    ended=$(printf '%s\n' "$out" | sed -nE 's/^ended ([0-9.]+)$/\1/p')
    before=$(printf '%s\n' "$out" | sed -nE 's/^before ([0-9]+)$/\1/p')
    after=$(printf '%s\n' "$out" | sed -nE 's/^after ([0-9]+)$/\1/p')
    ms=$(awk -v a="${t_cancel:-0}" -v b="${ended:-0}" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    echo "cancel   $sig: stopped ${ms} ms after pg_cancel_backend; backend memory ${before:-?} -> ${after:-?} bytes ($(( ${after:-0} - ${before:-0} )))"
    if [ "$active" != 1 ] || [ -z "$t_cancel" ] || ! grep -q 'canceling statement due to user request' <<<"$out"; then
        note_fail "$sig was not cancelled by pg_cancel_backend:"; printf '%s\n' "$out"; continue
    fi
    grep -qx 'alive 1' <<<"$out" || note_fail "$sig: backend not usable after the cancel"
    [ "$ms" -lt 1000 ] || note_fail "$sig: took ${ms} ms after the cancel request (limit 1000)"
    awk -v b="$before" -v a="$after" -v t="$MEM_TOLERANCE" 'BEGIN { exit !(a - b <= t) }' ||
        note_fail "$sig: backend memory grew by $((after - before)) bytes (tolerance $MEM_TOLERANCE)"
done < <(psql_q -F "$US" -c "SELECT sig, call, slow FROM cancel_recipes WHERE request ORDER BY sig")

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
    [ "$hint" = "$HINT" ] || note_fail "$sig: hint '$hint', expected '$HINT'"
done < <(printf '%s\n' "$out" | grep '^limit ')
n_rec=$(psql_q -c "SELECT count(*) FROM cancel_recipes WHERE big IS NOT NULL")
n_top=$(grep -cx 'toplevel 54000' <<<"$out" || true)
n_alive=$(grep -cx 'alive 1' <<<"$out" || true)
echo "memory limit: $n_limit cases, $n_top top-level errors 54000, $n_alive times SELECT 1 answered after one"
[ "$n_limit" = "$n_rec" ] && [ "$n_top" = "$n_rec" ] && [ "$n_alive" = "$n_rec" ] ||
    note_fail "expected $n_rec of each"

exit $fail
