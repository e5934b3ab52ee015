#!/usr/bin/env bash
# statement_timeout stops a long training run within about a second (the
# optimizer checks for interrupts on every chunk of rows), the backend stays
# usable, and its memory goes back.
set -euo pipefail
out=$(psql -X -q -At -d ecml_test 2>&1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS ecml;
-- 1000 distinct rows of 400 features, repeated: 200k rows whose Hessian
-- costs about 16 GFLOP per Newton iteration
CREATE TEMP TABLE base AS
SELECT k, ARRAY(SELECT sin(k * j * 0.0137 + j) FROM generate_series(1, 400) j)::real[] AS f,
       sin(k * 0.37) + sin(k * 12.9898) > 0 AS y
FROM generate_series(1, 1000) k;
CREATE TEMP TABLE slow AS SELECT f, y FROM base, generate_series(1, 200);
SELECT 'before ' || sum(total_bytes) FROM pg_backend_memory_contexts;
SET statement_timeout = '1s';
\timing on
SELECT length(ecml.logreg_train(f, y, '{"solver": "newton", "tol": 0}')) FROM slow;
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
# the training buffer (320 MB here) must be gone, not kept by the backend
awk -v b="$before" -v a="$after" 'BEGIN { exit !(a < b + 16 * 1024 * 1024) }'
