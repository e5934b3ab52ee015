#!/usr/bin/env bash
# ecml on a Citus cluster (a coordinator and two workers on this machine):
# ecml.train's passes and the metric aggregates run as partial aggregates on
# the workers, with Citus's coordinator aggregation disabled, and give the
# single-node answers; scoring
# and the HNSW index run per shard; a worker stopped in the middle of a pass
# gives an error and leaves no model; cancel stops the workers' passes.
#
# Builds Citus 13.2.2 from ../shared/vendor/citus (about 4 minutes, once per
# machine). Ports: ECML_CITUS_PORT (default 54351) and the next two.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/cluster.sh

# The vendored Citus 13.2 is built against Debian's PostgreSQL 15; Citus 13
# does not support 18 (docs/versions.md).
if [ "$PG_MAJOR" != 15 ]; then
    echo "skip: Citus is built for PostgreSQL 15 only; Citus 13 does not support PostgreSQL $PG_MAJOR"
    exit 77
fi

vendor=../shared/vendor/citus/build.sh
[ -f "$vendor" ] || { echo "FAIL: $vendor not found (shared/ must sit beside the repository)"; exit 1; }
bash "$vendor"
# a private PostgreSQL tree (ECML_PGROOT) gets its own copy of Citus
if [ -n "$ECML_PGROOT" ]; then
    cp /usr/lib/postgresql/$PG_MAJOR/lib/citus*.so "$ECML_PGROOT/usr/lib/postgresql/$PG_MAJOR/lib/"
    cp /usr/share/postgresql/$PG_MAJOR/extension/citus* "$ECML_PGROOT/usr/share/postgresql/$PG_MAJOR/extension/"
fi

base=${ECML_CITUS_PORT:-54351}
names=(coord w1 w2)
dirs=()
ports=()
for k in 0 1 2; do
    dirs+=("/var/tmp/ecml-citus-${names[$k]}-$base")
    ports+=($((base + k)))
done
cleanup() {
    for d in "${dirs[@]}"; do ecml_cluster_remove "$d" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
for k in 0 1 2; do
    ecml_cluster_remove "${dirs[$k]}"
    # pg_cron on every node (Citus propagates CREATE EXTENSION); its jobs run on the coordinator
    ecml_cluster_init "${dirs[$k]}" "${ports[$k]}" postgres \
        "shared_preload_libraries = 'citus,pg_cron'" "listen_addresses = '127.0.0.1'" \
        "fsync = off" "max_connections = 60"
    # the nodes connect to each other over loopback TCP
    sed -i -E 's/^(host .*127\.0\.0\.1\/32.*)reject$/\1trust/' "${dirs[$k]}/data/pg_hba.conf"
    ecml_cluster_start "${dirs[$k]}"
done

node() { # node K SQL...: run SQL on node K, tuples only
    local k=$1
    shift
    psql -X -q -At -v ON_ERROR_STOP=1 -h "${dirs[$k]}" -p "${ports[$k]}" -U postgres -d postgres "$@"
}
c() { node 0 "$@"; }
fail=0
check() { # check NAME WANT GOT
    if [ "$2" = "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1: wanted '$2', got '$3'"
        fail=1
    fi
}

for k in 0 1 2; do node "$k" -c "CREATE EXTENSION citus"; done
c -c "SELECT citus_set_coordinator_host('127.0.0.1', ${ports[0]})" >/dev/null
c -c "SELECT citus_add_node('127.0.0.1', ${ports[1]})" >/dev/null
c -c "SELECT citus_add_node('127.0.0.1', ${ports[2]})" >/dev/null
c -c "CREATE EXTENSION ecml"
check "CREATE EXTENSION ecml on the coordinator reaches both workers" "ecml ecml" \
    "$(node 1 -c "SELECT extname FROM pg_extension WHERE extname = 'ecml'") $(node 2 -c "SELECT extname FROM pg_extension WHERE extname = 'ecml'")"

# the same rows in a distributed table and in a local one
c <<'SQL'
CREATE TABLE events (id bigint, f real[], y boolean);
SELECT create_distributed_table('events', 'id', shard_count => 4);
INSERT INTO events
SELECT i, ARRAY[sin(i * 0.37) * 2, cos(i * 0.11) * 3, ((i * 7919) % 101) / 50.0 - 1]::real[],
       (hashint4(i) & 65535) / 65536.0 < 1 / (1 + exp(-(0.3 + 1.2 * sin(i * 0.37) * 2 - 0.8 * cos(i * 0.11) * 3)))
FROM generate_series(1, 40000) i;
CREATE TABLE events_local AS SELECT * FROM events;
SQL

# with coordinator aggregation disabled, only pushed-down aggregates run
plan=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
         -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT ecml.logreg_pass(f, y, '{0,-1,1,1,1}') FROM events")
echo "$plan" | sed 's/^/#   /'
if grep -q 'worker_partial_agg' <<<"$plan" && grep -q 'coord_combine_agg' <<<"$plan"; then
    echo "ok - ecml.logreg_pass is pushed down to the shards (EXPLAIN shows the partial aggregation per task)"
else
    echo "not ok - ecml.logreg_pass pushdown: $plan"
    fail=1
fi
gap=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    SELECT abs((ecml.model_info(ecml.train('logreg', 'SELECT f, y FROM events'))->'metrics'->>'final_loss')::float8
             - (ecml.model_info(ecml.train('logreg', 'SELECT f, y FROM events_local'))->'metrics'->>'final_loss')::float8) < 1e-12")
check "ecml.train('logreg') on the distributed table gives the single-node model (objective within 1e-12)" t "$gap"
rows=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    SELECT (ecml.model_info(ecml.train('logreg', 'SELECT f, y FROM events WHERE id % 2 = 0'))->>'rows')")
check "a filtered source on the distributed table trains on its rows" 20000 "$rows"

# gradient boosting: the sketch pass and a histogram pass (a plan of 3
# features, the root open) push down; the trees equal the single-node ones
for agg in "ecml.gbdt_sketch(f, y, 1000, 256, 0)" "ecml.gbdt_pass(f, y, '\x4c50424703000000000000000600000000000000000000000100000001000000000000000000000000000000000000000000f03f000000000000f03f000000000000f03f000000000000000001000000010000000100000000000000020000000400000000000000000000000000000000000000ffffffff0000000000000000000000000000000000000000000000000000000000000000'::bytea)"; do
    plan=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
             -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT $agg FROM events")
    if grep -q 'worker_partial_agg' <<<"$plan" && grep -q 'coord_combine_agg' <<<"$plan"; then
        echo "ok - ${agg%%(*} is pushed down to the shards (EXPLAIN shows the partial aggregation per task)"
    else
        echo "not ok - ${agg%%(*} pushdown: $plan"
        fail=1
    fi
done
gap=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    WITH m AS (SELECT ecml.train('gbdt', 'SELECT f, y FROM events', '{\"n_trees\": 5, \"max_depth\": 4}') AS d,
                      ecml.train('gbdt', 'SELECT f, y FROM events_local', '{\"n_trees\": 5, \"max_depth\": 4}') AS l)
    SELECT max(abs(ecml.fraud_score(d, f) - ecml.fraud_score(l, f))) < 1e-6 FROM m, events_local")
check "ecml.train('gbdt') on the distributed table gives the single-node model (predictions within 1e-6)" t "$gap"
# subsample: each row's draw is a hash of its content, so every shard draws
# the rows one node draws
gap=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    WITH m AS (SELECT ecml.train('gbdt', 'SELECT f, y FROM events', '{\"n_trees\": 5, \"max_depth\": 4, \"subsample\": 0.6}') AS d,
                      ecml.train('gbdt', 'SELECT f, y FROM events_local', '{\"n_trees\": 5, \"max_depth\": 4, \"subsample\": 0.6}') AS l,
                      ecml.train('gbdt', 'SELECT f, y FROM events_local', '{\"n_trees\": 5, \"max_depth\": 4}') AS fs)
    SELECT max(abs(ecml.fraud_score(d, f) - ecml.fraud_score(l, f))) < 1e-6
           AND max(abs(ecml.fraud_score(d, f) - ecml.fraud_score(fs, f))) > 1e-4 FROM m, events_local")
check "ecml.train('gbdt') with subsample on the distributed table: the single-node model (within 1e-6), not the full-sample one" t "$gap"

# matrix factorization: each ALS half-step is one grouped aggregate; with the
# interactions distributed by user, the user half-step runs whole on the
# shards and the item half-step as partial aggregates merged on the coordinator
c <<'SQL'
CREATE TABLE ratings (u bigint, i bigint, v real);
SELECT create_distributed_table('ratings', 'u', shard_count => 4);
INSERT INTO ratings SELECT u, i, (1 + ((u * 7 + i * 13) % 5))::real
FROM generate_series(1, 300) u, generate_series(1, 200) i WHERE hashint4(u * 1000 + i) % 10 = 0;
CREATE TABLE ratings_local AS SELECT * FROM ratings;
SQL
plan=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
         -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT i, ecml.mf_pass((SELECT ecml.mf_train(u, i, v, '{\"factors\": 4, \"iterations\": 1, \"implicit\": false}') FROM ratings_local), u, v, '{0,0,0.1,3,0}') FROM ratings GROUP BY i")
if grep -q 'worker_partial_agg' <<<"$plan"; then
    echo "ok - ecml.mf_pass grouped by item is pushed down to the shards as a partial aggregate"
else
    echo "not ok - ecml.mf_pass pushdown: $plan"
    fail=1
fi
gap=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    WITH m AS (SELECT ecml.train('mf', 'SELECT u, i, v FROM ratings', '{\"implicit\": false, \"factors\": 8, \"iterations\": 5}') AS d,
                      ecml.train('mf', 'SELECT u, i, v FROM ratings_local', '{\"implicit\": false, \"factors\": 8, \"iterations\": 5}') AS l)
    SELECT max(abs(ecml.mf_predict(d, u, i) - ecml.mf_predict(l, u, i))) < 1e-4 FROM m, ratings_local")
check "ecml.train('mf') on the distributed table gives the single-node model (predictions within 1e-4)" t "$gap"

# isolation forest: one sampling pass whose bytea state merges; each shard
# samples its own rows and only samples reach the coordinator
plan=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
         -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT ecml.iforest_pass(f, '{100,256,0}') FROM events")
if grep -q 'worker_partial_agg' <<<"$plan" && grep -q 'coord_combine_agg' <<<"$plan"; then
    echo "ok - ecml.iforest_pass is pushed down to the shards (EXPLAIN shows the partial aggregation per task)"
else
    echo "not ok - ecml.iforest_pass pushdown: $plan"
    fail=1
fi
# with every row in every sample (sample_size >= rows) the trees do not
# depend on how rows are split: the distributed model is the single-node one
same=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    WITH m AS (SELECT ecml.train('iforest', 'SELECT f FROM events WHERE id % 50 = 0', '{\"sample_size\": 1000, \"n_trees\": 20}') AS d,
                      ecml.train('iforest', 'SELECT f FROM events_local WHERE id % 50 = 0', '{\"sample_size\": 1000, \"n_trees\": 20}') AS l)
    SELECT max(abs(ecml.anomaly_score(d, f) - ecml.anomaly_score(l, f))) = 0 FROM m, events_local")
check "ecml.train('iforest') on the distributed table, every row sampled: the single-node trees" t "$same"
# sampled: another uniform sample, so scores close to the single-node model's
gap=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    WITH m AS (SELECT ecml.train('iforest', 'SELECT f FROM events', '{\"seed\": 1}') AS d,
                      ecml.train('iforest', 'SELECT f FROM events_local', '{\"seed\": 1}') AS l)
    SELECT (ecml.model_info(d)->>'rows')::int = 40000 AND avg(abs(ecml.anomaly_score(d, f) - ecml.anomaly_score(l, f))) < 0.025
    FROM m, events_local GROUP BY d")
# (two seeds on one node differ by 0.010 on average on these rows)
check "ecml.train('iforest') on the distributed table, sampled: every shard's rows counted, mean score gap to the single-node model < 0.025" t "$gap"

# LSTM: the vocabulary pass and the epoch passes push down; each shard
# trains from the same weights on its own sequences and the coordinator
# averages them; the model loads and predicts an arithmetic rule mod 7
c <<'SQL'
CREATE TABLE seqs (id bigint, seq bigint[]);
SELECT create_distributed_table('seqs', 'id', shard_count => 4);
INSERT INTO seqs SELECT s, ARRAY(SELECT ((s % 7 + t * (1 + (s / 7) % 3)) % 7)::bigint FROM generate_series(0, 9) t)
FROM generate_series(1, 2000) s;
CREATE TABLE seqs_local AS SELECT * FROM seqs;
SQL
for agg in "ecml.lstm_vocab_pass(seq, '{10,100}')" "ecml.lstm_pass(seq, '{1}'::bigint[], NULL::bytea)"; do
    plan=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
             -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT $agg FROM seqs")
    if grep -q 'worker_partial_agg' <<<"$plan" && grep -q 'coord_combine_agg' <<<"$plan"; then
        echo "ok - ${agg%%(*} is pushed down to the shards (EXPLAIN shows the partial aggregation per task)"
    else
        echo "not ok - ${agg%%(*} pushdown: $plan"
        fail=1
    fi
done
lstm=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "
    WITH m AS (SELECT ecml.train('lstm', 'SELECT seq FROM seqs', '{\"embedding_dim\": 8, \"hidden_size\": 16, \"epochs\": 4, \"batch_size\": 16, \"learning_rate\": 0.02, \"dropout\": 0}') AS m)
    SELECT (SELECT min((h->>'partitions')::int) FROM jsonb_array_elements(ecml.model_info(m)->'metrics'->'history') h) >= 2
           AND avg((ecml.lstm_next(m, seq[1:8]) = seq[9])::int) > 0.9
    FROM m, seqs_local GROUP BY m")
check "ecml.train('lstm') on the distributed table: every epoch averages the shards' weights, and the model predicts the rule (top-1 > 0.9)" t "$lstm"

# every metric aggregate has a mergeable state: pushed down, and equal to
# the single-node answer (the score histogram's bins do not depend on how
# the rows are split, so even the inexact case agrees exactly)
score_expr="(f[1] * 0.7 + f[2] * 0.2)::float8"
metrics=("ecml.roc_auc($score_expr, y)" "ecml.average_precision($score_expr, y)"
         "ecml.score_summary($score_expr, y)::text" "md5(ecml.pr_curve($score_expr, y)::text)"
         "ecml.pr_curve($score_expr, y, 20)::text" "ecml.threshold_for_precision($score_expr, y, 0.6)"
         "ecml.log_loss(1 / (1 + exp(-$score_expr)), y)" "ecml.rmse($score_expr, y::int)")
for m in "${metrics[@]}"; do
    plan=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
             -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT $m FROM events")
    dist=$(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "SELECT $m FROM events")
    local_=$(c -c "SELECT $m FROM events_local")
    if grep -q 'worker_partial_agg' <<<"$plan" && [ -n "$dist" ] && [ "$dist" = "$local_" ]; then
        echo "ok - $m: pushed down to the shards, equal to the single-node answer"
    elif [ "${m#ecml.log_loss}" != "$m" ] || [ "${m#ecml.rmse}" != "$m" ]; then
        # compensated sums added in another order: equal within 1e-12
        near=$(c -c "SELECT abs(($dist) - ($local_)) < 1e-12")
        if grep -q 'worker_partial_agg' <<<"$plan" && [ "$near" = t ]; then
            echo "ok - $m: pushed down to the shards, within 1e-12 of the single-node answer"
        else
            echo "not ok - $m: distributed '$dist', local '$local_'"; fail=1
        fi
    else
        echo "not ok - $m: distributed '$dist', local '$local_'"
        echo "$plan" | sed 's/^/#   /'
        fail=1
    fi
done

# the buffering aggregate is row-gathered: refused when Citus may not gather
if c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "SELECT ecml.logreg_train(f, y) FROM events" >/dev/null 2>&1; then
    echo "not ok - ecml.logreg_train (internal state) was expected to be refused without coordinator aggregation"
    fail=1
else
    echo "ok - the buffering ecml.logreg_train is not pushed down (its state is internal): ecml.train is the distributed path"
fi

# scoring runs per shard with the model as a constant
score=$(c -c "
    WITH m AS (SELECT ecml.train('logreg', 'SELECT f, y FROM events_local') AS m)
    SELECT (SELECT round(sum(ecml.logreg_predict((SELECT m FROM m), f))::numeric, 6) FROM events)
         = (SELECT round(sum(ecml.logreg_predict((SELECT m FROM m), f))::numeric, 6) FROM events_local)")
check "logreg_predict over the distributed table sums to the local answer" t "$score"

# the registry as a reference table: every node holds every model, so
# ecml.model() inside a pushed-down query reads the worker's copy
c -c "SELECT create_reference_table('ecml.models')" >/dev/null
c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
  -c "SELECT length(ecml.train('logreg', 'SELECT f, y FROM events', '{\"save_as\": \"purchase\"}')) > 0" >/dev/null
check "a model saved on the coordinator is in the workers' registry" "1 1" \
    "$(node 1 -c "SELECT count(*) FROM ecml.models WHERE name = 'purchase'") $(node 2 -c "SELECT count(*) FROM ecml.models WHERE name = 'purchase'")"
# ecml.model() runs a query, and Citus refuses a distributed query (the
# reference table) from inside a shard's query: the scalar subquery reads
# the model once on the coordinator and ships it with each shard's task
score=$(c -c "
    SELECT (SELECT round(sum(ecml.logreg_predict((SELECT ecml.model('purchase')), f))::numeric, 6) FROM events)
         = (SELECT round(sum(ecml.logreg_predict(ecml.model('purchase'), f))::numeric, 6) FROM events_local)")
check "scoring with (SELECT ecml.model(name)) over the distributed table" t "$score"

# nightly retraining by pg_cron on the coordinator, over the distributed table
c -c "CREATE EXTENSION pg_cron" >/dev/null
c -c "SELECT cron.schedule('ecml_retrain', '* * * * *', \$\$SELECT ecml.train('logreg', 'SELECT f, y FROM events', '{\"save_as\": \"purchase_cron\"}')\$\$)" >/dev/null
# every minute: the first run starts within 60 s (up to 5 minutes allowed on a busy machine)
status=
for _ in $(seq 1 600); do
    status=$(c -c "SELECT status FROM cron.job_run_details WHERE status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
    [ -n "$status" ] && break
    sleep 0.5
done
c -c "SELECT cron.unschedule('ecml_retrain')" >/dev/null
check "a pg_cron job on the coordinator retrains over the distributed table" succeeded "$status"
check "and its model is in the registry" logreg "$(c -c "SELECT kind FROM ecml.models WHERE name = 'purchase_cron' AND live")"

# an ecml_hnsw index on a distributed table: per-shard scans, merged
c <<'SQL'
CREATE TABLE items (id bigint, e real[]);
SELECT create_distributed_table('items', 'id', shard_count => 4);
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.5), cos(i * 0.3)]::real[] FROM generate_series(1, 4000) i;
CREATE INDEX ON items USING ecml_hnsw (e ecml.real_l2_ops);
CREATE TABLE items_local AS SELECT * FROM items;
SQL
knn=$(c -c "SET ecml.hnsw_ef_search = 200" -c "SET search_path = public, ecml" -c "
    SELECT (SELECT array_agg(id ORDER BY d, id) FROM (SELECT id, e <-> '{0.1,0.9,0.2,0.8}' AS d FROM items WHERE id % 3 = 0 ORDER BY e <-> '{0.1,0.9,0.2,0.8}' LIMIT 5) s)
         = (SELECT array_agg(id ORDER BY d, id) FROM (SELECT id, e <-> '{0.1,0.9,0.2,0.8}' AS d FROM items_local WHERE id % 3 = 0 ORDER BY e <-> '{0.1,0.9,0.2,0.8}' LIMIT 5) s)")
check "filtered ORDER BY <-> LIMIT over ecml_hnsw on a distributed table gives the exact top 5" t "$knn"

# cancel: pg_cancel_backend on the coordinator stops the passes on the workers
c -c "SELECT 'started'" >/dev/null
(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
   -c "SELECT ecml.train('logreg', 'SELECT e.f, e.y FROM events e, generate_series(1, 400) g', '{\"save_as\": \"citus_cancelled\"}')" \
   >/tmp/ecml_citus_cancel.$$ 2>&1 || true) &
bg=$!
pid=
for _ in $(seq 1 600); do
    pid=$(c -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%ecml.train(%citus_cancelled%' AND pid <> pg_backend_pid() LIMIT 1")
    busy=$(node 1 -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%logreg_pass%' AND state = 'active' AND pid <> pg_backend_pid()")
    [ -n "$pid" ] && [ "$busy" -gt 0 ] && break
    sleep 0.1
done
if [ -z "$pid" ]; then
    echo "not ok - the distributed training did not start"
    fail=1
else
    c -c "SELECT pg_cancel_backend($pid)" >/dev/null
    wait "$bg" || true
    left=1
    for _ in $(seq 1 600); do
        left=$(node 1 -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%logreg_pass%' AND state = 'active' AND pid <> pg_backend_pid()")
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    check "pg_cancel_backend on the coordinator: the statement is cancelled" 1 \
        "$(grep -c 'canceling statement due to user request' /tmp/ecml_citus_cancel.$$ || true)"
    check "and no pass is left running on the worker" 0 "$left"
fi
rm -f /tmp/ecml_citus_cancel.$$
check "a cancelled distributed training saves no model" 0 "$(c -c "SELECT count(*) FROM ecml.models WHERE name = 'citus_cancelled'")"

# a worker stopped in the middle of a training: an error, no model
(c -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
   -c "SELECT ecml.train('logreg', 'SELECT e.f, e.y FROM events e, generate_series(1, 400) g', '{\"save_as\": \"citus_failed\"}')" \
   >/tmp/ecml_citus_fault.$$ 2>&1 || true) &
bg=$!
for _ in $(seq 1 600); do
    busy=$(node 2 -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%logreg_pass%' AND state = 'active' AND pid <> pg_backend_pid()")
    [ "$busy" -gt 0 ] && break
    sleep 0.1
done
ecml_as_postgres "$PG_BIN/pg_ctl" stop -D "${dirs[2]}/data" -m immediate -w >/dev/null
wait "$bg" || true
if grep -q '^ERROR' /tmp/ecml_citus_fault.$$; then
    echo "ok - a worker stopped in the middle of a pass gives an error: $(grep -m1 '^ERROR' /tmp/ecml_citus_fault.$$)"
else
    echo "not ok - a worker stopped mid-pass: $(cat /tmp/ecml_citus_fault.$$)"
    fail=1
fi
rm -f /tmp/ecml_citus_fault.$$
check "and leaves no model in the registry" 0 "$(c -c "SELECT count(*) FROM ecml.models WHERE name = 'citus_failed'")"

exit $fail
