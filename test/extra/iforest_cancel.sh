#!/usr/bin/env bash
# statement_timeout stops a long isolation forest training within about a
# second (the reservoirs are filled row by row under the executor's interrupt
# checks, and growing the trees checks for interrupts at every node), the
# backend stays usable, and its memory goes back.
set -euo pipefail
out=$(psql -X -q -At -d ecml_test 2>&1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS ecml;
-- 1000 trees on samples of 20000 rows: about 240 MB of reservoirs and
-- 2.5 s of work on the machine this was written on
CREATE TEMP TABLE slow AS
SELECT ARRAY[sin(k * 0.37), cos(k * 0.91), sin(k * 2.17), sin(k * 12.9898), cos(k * 7.1)]::real[] AS f
FROM generate_series(1, 20000) k;
SELECT 'before ' || sum(total_bytes) FROM pg_backend_memory_contexts;
SET statement_timeout = '1s';
\timing on
SELECT length(ecml.anomaly_train(f, '{"n_trees": 1000, "sample_size": 20000}')) FROM slow;
\timing off
RESET statement_timeout;
SELECT 'alive ' || 1;
SELECT 'after ' || sum(total_bytes) FROM pg_backend_memory_contexts;
SQL
)
printf '%s\n' "$out"
ms=$(printf '%s\n' "$out" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | head -n 1)
before=$(printf '%s\n' "$out" | sed -nE 's/^before ([0-9]+)$/\1/p')
after=$(printf '%s\n' "$out" | sed -nE 's/^after ([0-9]+)$/\1/p')
printf '%s\n' "$out" | grep -q 'canceling statement due to statement timeout'
printf '%s\n' "$out" | grep -qx 'alive 1'
echo "cancelled after ${ms} ms; backend memory ${before} -> ${after} bytes"
awk -v ms="$ms" 'BEGIN { exit !(ms < 2000) }'
awk -v b="$before" -v a="$after" 'BEGIN { exit !(a < b + 16 * 1024 * 1024) }'
