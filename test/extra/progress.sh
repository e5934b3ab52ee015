#!/usr/bin/env bash
# ecml.progress = on: training reports one NOTICE per iteration with the
# loss, the gradient, the elapsed time and the time left; off: none.
set -euo pipefail
sql="CREATE EXTENSION IF NOT EXISTS ecml;
CREATE TEMP TABLE p AS SELECT ARRAY[sin(i), cos(i * 3)]::real[] AS f, sin(i) + sin(i * 7.1) > 0 AS y
    FROM generate_series(1, 3000) i;
SELECT length(ecml.logreg_train(f, y, '{\"solver\": \"newton\", \"tol\": 1e-12, \"max_iter\": 4}')) FROM p;
SELECT length(ecml.logreg_train(f, y, '{\"solver\": \"lbfgs\", \"tol\": 1e-12, \"max_iter\": 4}')) FROM p;"
on=$(psql -X -q -d ecml_test -c "SET ecml.progress = on" -c "$sql" 2>&1 >/dev/null)
off=$(psql -X -q -d ecml_test -c "$sql" 2>&1 >/dev/null)
pattern='^NOTICE:  ecml\.logreg_train \((newton|lbfgs)\): iteration [0-9]+, loss [0-9.e+-]+, gradient [0-9.e+-]+, [0-9.]+ s elapsed, at most [0-9.]+ s left$'
n_newton=$(printf '%s\n' "$on" | grep -cE "$pattern" | head -1)
n_total=$(printf '%s\n' "$on" | grep -c '^NOTICE:  ecml.logreg_train' || true)
n_off=$(printf '%s\n' "$off" | grep -c '^NOTICE:  ecml.logreg_train' || true)
echo "progress notices: $n_total with ecml.progress on (well-formed: $n_newton), $n_off with it off"
printf '%s\n' "$on" | head -n 3
[ "$n_total" -ge 4 ] && [ "$n_total" -le 8 ] && [ "$n_newton" -eq "$n_total" ] && [ "$n_off" -eq 0 ]
