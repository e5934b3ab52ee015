#!/usr/bin/env bash
# ecml.progress = on: LSTM training reports one NOTICE per epoch with the
# loss, the validation loss, tokens per second and the time left; off: none.
set -euo pipefail
sql="CREATE EXTENSION IF NOT EXISTS ecml;
CREATE TEMP TABLE p AS SELECT ARRAY(SELECT ((s + t) % 5)::bigint FROM generate_series(0, 2 + s % 5) t) AS seq
    FROM generate_series(1, 200) s;
SELECT length(ecml.lstm_train(seq, '{\"hidden_size\": 8, \"embedding_dim\": 4, \"epochs\": 3, \"validation_fraction\": 0.2, \"patience\": 5}')) FROM p;"
on=$(psql -X -q -d ecml_test -c "SET ecml.progress = on" -c "$sql" 2>&1 >/dev/null)
off=$(psql -X -q -d ecml_test -c "$sql" 2>&1 >/dev/null)
pattern='^NOTICE:  ecml\.lstm_train: epoch [1-3]/3, loss [0-9.]+, validation loss [0-9.]+, [0-9]+ tokens/s, [0-9.]+ s elapsed, at most [0-9.]+ s left$'
n_ok=$(printf '%s\n' "$on" | grep -cE "$pattern" || true)
n_total=$(printf '%s\n' "$on" | grep -c '^NOTICE:  ecml.lstm_train' || true)
n_off=$(printf '%s\n' "$off" | grep -c '^NOTICE:  ecml.lstm_train' || true)
echo "progress notices: $n_total with ecml.progress on (well-formed: $n_ok), $n_off with it off"
printf '%s\n' "$on" | head -n 3
[ "$n_total" -eq 3 ] && [ "$n_ok" -eq 3 ] && [ "$n_off" -eq 0 ]
