#!/usr/bin/env bash
# ecml.tune stops on statement_timeout and on pg_cancel_backend in the
# middle of its folds (SQLSTATE 57014), saves nothing under save_as, and the
# backend answers afterwards; with ecml.progress on it reports each fold.
# Behaviour only: no latency is asserted.
set -euo pipefail
db=ecml_tune_cancel
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
trap 'dropdb --if-exists "$db" 2>/dev/null' EXIT
dropdb --if-exists "$db" 2>/dev/null
createdb "$db"
q -c "CREATE EXTENSION ecml"
q -c "CREATE TABLE t AS SELECT ARRAY[sin(i), cos(i), i % 7]::real[] AS f, sin(i * 1.3) > 0 AS y FROM generate_series(1, 50000) i"
grid='{"l2": [0.0001, 0.001, 0.01, 0.1, 1, 10, 100], "solver": ["newton", "lbfgs"]}'
fail=0

# progress: one NOTICE per fold
out=$(psql -X -At -d "$db" -c "SET ecml.progress = on" \
      -c "SELECT count(*) FROM ecml.tune('logreg', 'SELECT f, y FROM t WHERE random() >= 0 LIMIT 2000', '{\"l2\": [0.1, 1]}', '{\"folds\": 2}')" 2>&1)
n=$(grep -c 'ecml.tune(logreg): option set [12] of 2, fold [12] of 2' <<<"$out" || true)
if [ "$n" = 4 ]; then
    echo "ok: ecml.progress reports each of the 4 folds"
else
    echo "FAIL: progress: $n fold reports in: $(head -c 2000 <<<"$out")"
    fail=1
fi

# statement_timeout: the error, then SELECT 1 in the same session
out=$(psql -X -At -d "$db" 2>&1 <<SQL || true
\set VERBOSITY verbose
SET statement_timeout = '500ms';
SELECT count(*) FROM ecml.tune('logreg', 'SELECT f, y FROM t, generate_series(1, 4)', '$grid', '{"folds": 5, "save_as": "cancelled"}');
RESET statement_timeout;
SELECT 'alive ' || 1;
SQL
)
if grep -q '57014' <<<"$out" && grep -q '^alive 1$' <<<"$out"; then
    echo "ok: statement_timeout cancels ecml.tune (57014), the session answers afterwards"
else
    echo "FAIL: statement_timeout: $out"
    fail=1
fi

# pg_cancel_backend from another session, once the folds are running
psql -X -At -d "$db" -c "SELECT count(*) FROM ecml.tune('logreg', 'SELECT f, y FROM t, generate_series(1, 4)', '$grid', '{\"folds\": 5, \"save_as\": \"cancelled\"}')" \
    >"/tmp/ecml_tune_cancel.$$" 2>&1 &
bg=$!
pid=
for _ in $(seq 1 600); do
    pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%ecml.tune(%' AND state = 'active' AND pid <> pg_backend_pid() LIMIT 1")
    [ -n "$pid" ] && break
    sleep 0.1
done
if [ -z "$pid" ]; then
    echo "FAIL: ecml.tune never showed up in pg_stat_activity"
    fail=1
else
    sleep 0.5
    q -c "SELECT pg_cancel_backend($pid)" >/dev/null
fi
wait "$bg" || true
if grep -q 'canceling statement due to user request' "/tmp/ecml_tune_cancel.$$"; then
    echo "ok: pg_cancel_backend stops ecml.tune in its folds"
else
    echo "FAIL: pg_cancel_backend: $(cat "/tmp/ecml_tune_cancel.$$")"
    fail=1
fi
rm -f "/tmp/ecml_tune_cancel.$$"

n=$(q -c "SELECT count(*) FROM ecml.models WHERE name = 'cancelled'")
if [ "$n" = 0 ]; then
    echo "ok: a cancelled ecml.tune saves nothing"
else
    echo "FAIL: $n model(s) saved by a cancelled ecml.tune"
    fail=1
fi
[ "$(q -c "SELECT 'alive'")" = alive ] || { echo "FAIL: the server does not answer"; fail=1; }
exit $fail
