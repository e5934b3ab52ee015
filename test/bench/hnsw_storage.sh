#!/bin/bash
# ecml_hnsw storage = float / half / int8 against pgvector 0.8.1 (vector and
# halfvec HNSW, m = 16, ef_construction = 64) on one data set (issue 17):
# N x d points around 50 Gaussian centres (seeded, SQL random()), L2,
# NQ queries from the same mixture; exact top 10 by Seq Scan; for each
# index: build time (one process, max_parallel_maintenance_workers = 0;
# the "2 workers" row: the same float index built by the leader and 2
# parallel workers), size, and recall@10 and queries/s at ef_search
# 10 ... 160, measured as one statement with one index scan per query row
# (lateral join, best of 2).
#   PGHOST=... PGPORT=... PGUSER=postgres nice bash test/bench/hnsw_storage.sh PSQL [N] [D] [NQ]
# Needs ecml and (optionally) pgvector installed in the server's tree;
# creates and drops tables hs_*.  Prints a Markdown table.  ONLY_FLOAT=1:
# just the float index, serial and with 2 workers (the parallel build).
set -euo pipefail
P=${1:-psql}
N=${2:-20000}
D=${3:-768}
NQ=${4:-200}
q() { nice "$P" -X -qAt -v ON_ERROR_STOP=1 postgres "$@"; }
have_pgv=$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
[ -n "${NO_PGVECTOR:-}${ONLY_FLOAT:-}" ] && have_pgv=0   # NO_PGVECTOR=1: ecml's indexes only
[ "$have_pgv" = 1 ] && q -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
q <<SQL >/dev/null
SET client_min_messages = warning;
DROP TABLE IF EXISTS hs_items, hs_q, hs_ctr, hs_truth;
SELECT setseed(0.17);
CREATE TABLE hs_ctr AS SELECT k, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, $D) WHERE k >= 0) AS c FROM generate_series(0, 49) k;
CREATE TABLE hs_items (id int, v real[]);
INSERT INTO hs_items SELECT i, ARRAY(SELECT c[j] + ((random() - 0.5) * 0.8)::real FROM generate_series(1, $D) j) FROM generate_series(1, $N) i JOIN hs_ctr ON k = abs(hashint4(i)) % 50;
CREATE TABLE hs_q AS SELECT i AS qid, ARRAY(SELECT c[j] + ((random() - 0.5) * 0.8)::real FROM generate_series(1, $D) j) AS q FROM generate_series(1, $NQ) i JOIN hs_ctr ON k = abs(hashint4(-i)) % 50;
ANALYZE hs_items; ANALYZE hs_q;
SET enable_indexscan = off; SET max_parallel_workers_per_gather = 0;
CREATE TABLE hs_truth AS SELECT qid, ARRAY(SELECT id FROM hs_items ORDER BY v OPERATOR(ecml.<->) q LIMIT 10) AS ids FROM hs_q;
SQL
if [ "$have_pgv" = 1 ]; then
    q -c "ALTER TABLE hs_items ADD COLUMN pv vector($D), ADD COLUMN ph halfvec($D), ADD COLUMN dummy int;
          UPDATE hs_items SET pv = v::vector, ph = v::vector::halfvec;
          ALTER TABLE hs_q ADD COLUMN pq vector($D), ADD COLUMN phq halfvec($D);
          UPDATE hs_q SET pq = q::vector, phq = q::vector::halfvec" -c "VACUUM ANALYZE hs_items" -c "VACUUM ANALYZE hs_q" >/dev/null
fi
echo "N = $N, d = $D, $NQ queries, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| index | build s | size MB | ef 10 recall / q/s | ef 20 | ef 40 | ef 80 | ef 160 |"
echo "|---|---|---|---|---|---|---|---|"
run() {   # name, create sql, guc, order expr[, parallel maintenance workers]
    local name=$1 create=$2 guc=$3 expr=$4 workers=${5:-0} row
    local t0 t1
    t0=$(date +%s.%N)
    q -c "SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = $workers; $create" >/dev/null
    t1=$(date +%s.%N)
    row="| $name | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') | $(q -c "SELECT round(pg_relation_size('hs_idx') / 1048576.0, 1)")"
    for ef in 10 20 40 80 160; do
        local sql="SET $guc = $ef; SET jit = off; SET max_parallel_workers_per_gather = 0; SET enable_seqscan = off;"
        local res="SELECT avg((SELECT count(*) FROM unnest(r.ids) x WHERE x = ANY (t.ids)) / 10.0) FROM (SELECT qid, ARRAY(SELECT id FROM hs_items ORDER BY $expr LIMIT 10) AS ids FROM hs_q) r JOIN hs_truth t USING (qid)"
        local rec ms
        rec=$(q -c "$sql" -c "$res" | tail -1)
        ms=$(q -c "$sql" -c "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM hs_q, LATERAL (SELECT id FROM hs_items ORDER BY $expr LIMIT 10) s" \
                -c "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM hs_q, LATERAL (SELECT id FROM hs_items ORDER BY $expr LIMIT 10) s" |
             awk '/Execution Time/ { print $3 }' | sort -g | head -1)
        row="$row | $(awk -v r="$rec" -v m="$ms" -v n="$NQ" 'BEGIN { printf "%.3f / %.0f", r, n / (m / 1000) }')"
    done
    echo "$row |"
    q -c "DROP INDEX hs_idx" >/dev/null
}
run "ecml float" "CREATE INDEX hs_idx ON hs_items USING ecml_hnsw (v ecml.real_l2_ops)" ecml.hnsw_ef_search "v OPERATOR(ecml.<->) q"
run "ecml float, 2 workers" "CREATE INDEX hs_idx ON hs_items USING ecml_hnsw (v ecml.real_l2_ops)" ecml.hnsw_ef_search "v OPERATOR(ecml.<->) q" 2
[ -z "${ONLY_FLOAT:-}" ] && run "ecml half" "CREATE INDEX hs_idx ON hs_items USING ecml_hnsw (v ecml.real_l2_ops) WITH (storage = 'half')" ecml.hnsw_ef_search "v OPERATOR(ecml.<->) q"
[ -z "${ONLY_FLOAT:-}" ] && run "ecml int8" "CREATE INDEX hs_idx ON hs_items USING ecml_hnsw (v ecml.real_l2_ops) WITH (storage = 'int8')" ecml.hnsw_ef_search "v OPERATOR(ecml.<->) q"
if [ "$have_pgv" = 1 ]; then
    run "pgvector vector" "CREATE INDEX hs_idx ON hs_items USING hnsw (pv vector_l2_ops) WITH (m = 16, ef_construction = 64)" hnsw.ef_search "pv OPERATOR(public.<->) pq"
    run "pgvector halfvec" "CREATE INDEX hs_idx ON hs_items USING hnsw (ph halfvec_l2_ops) WITH (m = 16, ef_construction = 64)" hnsw.ef_search "ph OPERATOR(public.<->) phq"
fi
q -c "DROP TABLE hs_items, hs_q, hs_ctr, hs_truth" >/dev/null
