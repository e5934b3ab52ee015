#!/usr/bin/env bash
# ecml.progress = on: mf_train reports one NOTICE per ALS iteration with the
# loss, the elapsed time and the time left; off: none.
set -euo pipefail
sql="CREATE EXTENSION IF NOT EXISTS ecml;
CREATE TEMP TABLE e AS SELECT u, (u * 7 + j * 13) % 97 AS i FROM generate_series(1, 500) u, generate_series(1, 10) j;
SELECT length(ecml.mf_train(u, i, 1, '{\"iterations\": 4, \"factors\": 8}')) FROM e;
SELECT length(ecml.mf_train(u, i, (u + i) % 5 + 1, '{\"iterations\": 3, \"factors\": 8, \"implicit\": false, \"solver\": \"cholesky\"}')) FROM e;"
on=$(psql -X -q -d ecml_test -c "SET ecml.progress = on" -c "$sql" 2>&1 >/dev/null)
off=$(psql -X -q -d ecml_test -c "$sql" 2>&1 >/dev/null)
pattern='^NOTICE:  ecml\.mf_train \((implicit, cg|explicit, cholesky)\): iteration [0-9]+ of [0-9]+, loss [0-9.e+-]+, [0-9.]+ s elapsed, about [0-9.]+ s left$'
n_ok=$(printf '%s\n' "$on" | grep -cE "$pattern" || true)
n_total=$(printf '%s\n' "$on" | grep -c '^NOTICE:  ecml.mf_train' || true)
n_off=$(printf '%s\n' "$off" | grep -c '^NOTICE:  ecml.mf_train' || true)
echo "progress notices: $n_total with ecml.progress on (well-formed: $n_ok), $n_off with it off"
printf '%s\n' "$on" | head -n 2
[ "$n_total" -eq 7 ] && [ "$n_ok" -eq 7 ] && [ "$n_off" -eq 0 ]
