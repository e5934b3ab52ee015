#!/usr/bin/env bash
# ecml.train stops on cancel and statement_timeout in the middle of its
# passes (SQLSTATE 57014), leaves no model in the registry, and the backend
# answers afterwards.  Behaviour only: no latency is asserted.
set -euo pipefail
db=ecml_train_cancel
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
trap 'dropdb --if-exists "$db" 2>/dev/null' EXIT
dropdb --if-exists "$db" 2>/dev/null
createdb "$db"
q -c "CREATE EXTENSION ecml"
q -c "CREATE TABLE t AS SELECT ARRAY[sin(i), cos(i), i % 7]::real[] AS f, sin(i * 1.3) > 0 AS y FROM generate_series(1, 200000) i"

fail=0
# statement_timeout: the error, then SELECT 1 in the same session
out=$(psql -X -At -d "$db" 2>&1 <<'SQL' || true
\set VERBOSITY verbose
SET statement_timeout = '300ms';
SELECT length(ecml.train('logreg', 'SELECT f, y FROM t, generate_series(1, 20)', '{"save_as": "cancelled"}'));
RESET statement_timeout;
SELECT 'alive ' || 1;
SQL
)
if grep -q '57014' <<<"$out" && grep -q '^alive 1$' <<<"$out"; then
    echo "ok: statement_timeout cancels ecml.train (57014), the session answers afterwards"
else
    echo "FAIL: statement_timeout: $out"
    fail=1
fi

# pg_cancel_backend from another session, once the driver is in its passes
psql -X -At -d "$db" -c "SELECT 'pid ' || pg_backend_pid(); SELECT ecml.train('logreg', 'SELECT f, y FROM t, generate_series(1, 50)', '{\"save_as\": \"cancelled\"}')" \
    >"/tmp/ecml_train_cancel.$$" 2>&1 &
bg=$!
pid=
for _ in $(seq 1 600); do
    pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%ecml.logreg_pass%' AND pid <> pg_backend_pid() LIMIT 1")
    [ -n "$pid" ] && break
    sleep 0.1
done
if [ -z "$pid" ]; then
    echo "FAIL: no pass query showed up in pg_stat_activity"
    fail=1
else
    q -c "SELECT pg_cancel_backend($pid)" >/dev/null
fi
wait "$bg" || true
if grep -q 'canceling statement due to user request' "/tmp/ecml_train_cancel.$$"; then
    echo "ok: pg_cancel_backend stops ecml.train in a pass"
else
    echo "FAIL: pg_cancel_backend: $(cat "/tmp/ecml_train_cancel.$$")"
    fail=1
fi
rm -f "/tmp/ecml_train_cancel.$$"

# nothing half-written: no model under the save_as name
n=$(q -c "SELECT count(*) FROM ecml.models WHERE name = 'cancelled'")
if [ "$n" = 0 ]; then
    echo "ok: a cancelled ecml.train leaves no model in the registry"
else
    echo "FAIL: $n models named 'cancelled' in the registry"
    fail=1
fi
exit $fail
