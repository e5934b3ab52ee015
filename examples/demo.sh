#!/usr/bin/env bash
# Setup + the shop tour: install missing packages, build and install ecml,
# start a private cluster in /var/tmp/ecml-demo (port 54321), and in a fresh
# database ecml_demo generate the demo shop (examples/shop/generate.sql),
# train every model into ecml.models (examples/shop/train.sql), walk one
# shopper through it (examples/shop/tour.sql) and schedule nightly
# retraining with pg_cron (examples/shop/schedule.sql).  Running it again
# reuses the cluster and re-runs everything.
#
#   bash examples/demo.sh          set up and run the tour (as root)
#   bash examples/demo.sh stop     stop the cluster and remove its directory
#   ECML_SHOP_SCALE=5 bash examples/demo.sh    a bigger shop (default 1)
#   PG_CONFIG=/var/cache/ecml-pg/18/bin/pg_config bash examples/demo.sh
#                                  another installed server (default: Debian's
#                                  15; test/pgbuild.sh builds 18 there)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source test/cluster.sh

DIR=/var/tmp/ecml-demo
PORT=54321
DB=ecml_demo

case "${1:-}" in
    "") ;;
    stop)
        ecml_require_root
        ecml_lock "$DIR.lock"
        ecml_cluster_remove "$DIR"
        echo "demo cluster stopped, $DIR removed"
        exit 0
        ;;
    *)
        echo "usage: bash examples/demo.sh [stop]" >&2
        exit 2
        ;;
esac

ecml_require_root
ecml_lock "$DIR.lock"
ecml_install_packages
ecml_build_install

# Reuse the cluster if a complete one is there; anything else (an interrupted
# initdb, a stray directory) is replaced.
# A cluster of another major version (PG_CONFIG changed) is replaced too.
if ! ecml_cluster_exists "$DIR" || [ "$(cat "$DIR/data/PG_VERSION")" != "$PG_MAJOR" ]; then
    ecml_cluster_remove "$DIR"
    ecml_cluster_init "$DIR" "$PORT" "$DB"
fi
ecml_cluster_running "$DIR" || ecml_cluster_start "$DIR"
ecml_cluster_env "$DIR" "$PORT"

# FORCE: pg_cron's scheduler stays connected to cron.database_name.
ecml_log "creating database $DB"
PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
# Restart: a scheduler ended by DROP DATABASE is not restarted by the server,
# and a rebuilt library or changed configuration takes effect.
ecml_cluster_stop "$DIR"
ecml_cluster_start "$DIR"

SCALE=${ECML_SHOP_SCALE:-1}
run_sql() {
    local what=$1
    shift
    if ! "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; then
        echo "$what failed; the cluster is left running to look into it:" >&2
        echo "  psql -h $DIR -p $PORT -U postgres $DB    (stop: bash examples/demo.sh stop)" >&2
        exit 1
    fi
}
ecml_log "generating the demo shop (scale $SCALE)"
run_sql "examples/shop/generate.sql" -v scale="$SCALE" -f examples/shop/generate.sql
ecml_log "training every model into ecml.models"
run_sql "training" -c "CREATE EXTENSION IF NOT EXISTS ecml" -f examples/shop/train.sql \
    -c "CALL shop.retrain()" -o /dev/null
ecml_log "the tour"
run_sql "examples/shop/tour.sql" -f examples/shop/tour.sql
cron="pg_cron retrains them nightly (SELECT * FROM cron.job)"
if ecml_have_pg_cron; then
    ecml_log "scheduling nightly retraining with pg_cron"
    run_sql "examples/shop/schedule.sql" -f examples/shop/schedule.sql
else
    cron="pg_cron is not installed for PostgreSQL $PG_MAJOR, so nothing retrains them (docs/versions.md)"
    ecml_log "skipped scheduling: $cron"
fi

cat <<EOF

The demo cluster is running (data in $DIR/data, log in $DIR/server.log).
The shop is in schema shop, the models in ecml.models; $cron.
  connect:  psql -h $DIR -p $PORT -U postgres $DB
  stop:     bash examples/demo.sh stop    (stops the server and removes $DIR)
EOF
