#!/usr/bin/env bash
# statement_timeout and a cancel request (pg_cancel_backend) stop a long
# LSTM training run within about a second (the trainer checks for
# interrupts every mini-batch and every chunk of the output layer), and the
# backend stays usable.
set -euo pipefail
psql -X -q -d ecml_test <<'SQL'
CREATE EXTENSION IF NOT EXISTS ecml;
DROP TABLE IF EXISTS lstm_cancel_seqs;
CREATE TABLE lstm_cancel_seqs AS
SELECT ARRAY(SELECT ((s * 31 + t * 7) % 3000)::bigint FROM generate_series(1, 50) t) AS seq
FROM generate_series(1, 3000) s;
SQL
train="SELECT length(ecml.lstm_train(seq, '{\"hidden_size\": 256, \"embedding_dim\": 64, \"epochs\": 1000}')) FROM lstm_cancel_seqs"

# 1. statement_timeout
out=$(psql -X -q -At -d ecml_test 2>&1 <<SQL
SET statement_timeout = '1s';
\timing on
$train;
\timing off
RESET statement_timeout;
SELECT 'alive ' || 1;
SQL
)
printf '%s\n' "$out"
ms=$(printf '%s\n' "$out" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | head -n 1)
printf '%s\n' "$out" | grep -q 'canceling statement due to statement timeout'
printf '%s\n' "$out" | grep -qx 'alive 1'
echo "statement_timeout: stopped after ${ms} ms"
awk -v ms="$ms" 'BEGIN { exit !(ms < 2000) }'

# 2. a cancel request from another session, once training runs
log=$(mktemp /tmp/lstm_cancel.XXXXXX)
trap 'rm -f "$log"' EXIT
psql -X -q -At -d ecml_test -c "SET application_name = 'lstm_cancel_test'" -c "$train" >"$log" 2>&1 &
bg=$!
for _ in $(seq 1 50); do
    n=$(psql -X -q -At -d ecml_test -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lstm_cancel_test' AND state = 'active'")
    [ "$n" = 1 ] && break
    sleep 0.1
done
sleep 1
t0=$(date +%s%N)
psql -X -q -At -d ecml_test -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'lstm_cancel_test'" >/dev/null
wait "$bg" || true
t1=$(date +%s%N)
cat "$log"
grep -q 'canceling statement due to user request' "$log"
ms=$(( (t1 - t0) / 1000000 ))
echo "cancel request: stopped ${ms} ms after pg_cancel_backend"
psql -X -q -d ecml_test -c "DROP TABLE lstm_cancel_seqs"
[ "$ms" -lt 2000 ]
