#!/usr/bin/env bash
# Nightly retraining with pg_cron, for real: generate a small shop in the
# pg_cron database, train once, schedule examples/shop/train.sql's
# shop.retrain() every minute after new sessions arrive, wait (polling,
# at most 10 minutes: generous, so that a loaded machine, where the first
# run starts up to a minute later and retrains slowly, still meets it) for
# cron.job_run_details to report success, then check that the
# purchase model's registry row changed (model bytes, trained_at, rows),
# that every shop model was retrained, and that scoring with the new model
# works.
set -euo pipefail
db=ecml_test
job=ecml-test-retrain
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

cleanup() {
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '$job'" >/dev/null 2>&1 || true
    q -c "DROP SCHEMA IF EXISTS shop CASCADE" -c "DELETE FROM ecml.models WHERE name LIKE 'shop\_%'" \
        >/dev/null 2>&1 || true
}
trap cleanup EXIT

# pg_cron is packaged for Debian's PostgreSQL 15; none could be had for 18
# (docs/versions.md), and a cluster without it cannot run this check.
if [ "$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'")" = 0 ]; then
    echo "skip: pg_cron is not installed for this server ($(q -c 'SHOW server_version'))"
    trap - EXIT
    exit 77
fi
q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION IF NOT EXISTS ecml" >/dev/null 2>&1
q -v scale=0.1 -f examples/shop/generate.sql >/dev/null
q -f examples/shop/train.sql >/dev/null
q -c "CALL shop.retrain()"
before=$(q -c "SELECT md5(model) || ' ' || trained_at || ' ' || rows FROM ecml.models WHERE name = 'shop_purchase' AND live")
[ -n "$before" ] || { echo "no shop_purchase model after the first training"; exit 1; }

# A day of new sessions: copies of a third of the old ones, a day later.
q <<'SQL'
INSERT INTO shop.sessions
SELECT session_id + 10000000, user_id, started_at + interval '1 day', device, channel
FROM shop.sessions WHERE session_id % 3 = 0;
INSERT INTO shop.events
SELECT event_id + 100000000, session_id + 10000000, user_id, event_type, product_id, query, ts + interval '1 day'
FROM shop.events WHERE session_id % 3 = 0;
SQL

start=$(q -c "SELECT now()")
q -c "SELECT cron.schedule('$job', '* * * * *', 'CALL shop.retrain()')" >/dev/null
status=
for _ in $(seq 1 600); do
    status=$(q -c "SELECT status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                   WHERE j.jobname = '$job' AND d.start_time >= '$start'
                     AND d.status IN ('succeeded', 'failed')
                   ORDER BY d.start_time LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
q -c "SELECT cron.unschedule('$job')" >/dev/null
if [ "$status" != succeeded ]; then
    echo "pg_cron job did not succeed within 600 s (status: '${status:-none}')"
    q -c "SELECT status, return_message FROM cron.job_run_details ORDER BY start_time DESC LIMIT 3"
    exit 1
fi

after=$(q -c "SELECT md5(model) || ' ' || trained_at || ' ' || rows FROM ecml.models WHERE name = 'shop_purchase' AND live")
read -r md5_b at_b1 at_b2 rows_b <<<"$before"
read -r md5_a at_a1 at_a2 rows_a <<<"$after"
echo "before: $before"
echo "after:  $after"
fail=0
[ "$md5_a" != "$md5_b" ] || { echo "model bytes did not change"; fail=1; }
[ "$at_a1 $at_a2" != "$at_b1 $at_b2" ] || { echo "trained_at did not change"; fail=1; }
[ "$rows_a" -gt "$rows_b" ] || { echo "rows did not grow ($rows_b -> $rows_a)"; fail=1; }
# every model of the shop was retrained by the job, not just the one above
stale=$(q -c "SELECT string_agg(name, ', ') FROM ecml.models
              WHERE name LIKE 'shop\_%' AND live AND trained_at < '$start'")
[ -z "$stale" ] || { echo "not retrained by the job: $stale"; fail=1; }
echo "shop models in the registry: $(q -c "SELECT count(*) FROM ecml.models WHERE name LIKE 'shop\_%'")"
scored=$(q -c "SELECT count(*) FILTER (WHERE p > 0 AND p < 1) || ' ' || count(*)
               FROM (SELECT ecml.logreg_predict(ecml.model('shop_purchase'), features) AS p
                     FROM shop.session_features) s")
read -r good total <<<"$scored"
[ "$good" -eq "$total" ] && [ "$total" -gt 0 ] || { echo "scoring with the new model: $scored"; fail=1; }
exit $fail
