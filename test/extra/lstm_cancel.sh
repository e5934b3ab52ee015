#!/usr/bin/env bash
# statement_timeout stops a long LSTM training run within about a second
# (the trainer checks for interrupts every mini-batch and every step of the
# output layer), and the backend stays usable.
set -euo pipefail
out=$(psql -X -q -At -d ecml_test 2>&1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS ecml;
CREATE TEMP TABLE long_seqs AS
SELECT ARRAY(SELECT ((s * 31 + t * 7) % 3000)::bigint FROM generate_series(1, 50) t) AS seq
FROM generate_series(1, 3000) s;
SET statement_timeout = '1s';
\timing on
SELECT length(ecml.lstm_train(seq, '{"hidden_size": 256, "embedding_dim": 64, "epochs": 1000}')) FROM long_seqs;
\timing off
RESET statement_timeout;
SELECT 'alive ' || 1;
SQL
)
printf '%s\n' "$out"
ms=$(printf '%s\n' "$out" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | head -n 1)
printf '%s\n' "$out" | grep -q 'canceling statement due to statement timeout'
printf '%s\n' "$out" | grep -qx 'alive 1'
echo "cancelled after ${ms} ms"
awk -v ms="$ms" 'BEGIN { exit !(ms < 2000) }'
