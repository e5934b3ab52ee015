#!/usr/bin/env bash
# statement_timeout stops a long mf_train within about a second (the solver
# checks for interrupts every 1024 rows), and the backend stays usable.
set -euo pipefail
out=$(psql -X -q -At -d ecml_test 2>&1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS ecml;
-- 200k interactions, 256 factors, exact solves: minutes of work
CREATE TEMP TABLE e AS SELECT u, (u * 7919 + j * 104729) % 5000 AS i FROM generate_series(1, 10000) u, generate_series(1, 20) j;
SET statement_timeout = '1s';
\timing on
SELECT length(ecml.mf_train(u, i, 1, '{"factors": 256, "solver": "cholesky", "iterations": 100}')) FROM e;
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
