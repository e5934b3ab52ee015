#!/bin/bash
# The plan ecml_hnsw gets at real shapes (issue 17), against the other plan
# forced: for each N x d, random vectors around 10 centres (L2), 20 queries,
# one index scan (or Seq Scan + Sort) per query row of a lateral join, best
# of three runs in one session, milliseconds per query; and the plan the
# planner picks at the default settings for a constant query.
#   PGHOST=... PGPORT=... PGUSER=postgres nice bash test/bench/hnsw_plan.sh [PSQL] ["N d" ...]
# Needs a running server with ecml (CREATE EXTENSION ecml) in database
# postgres; creates and drops tables hp_*.  Figures go into RESULTS.md by hand.
set -euo pipefail
P=${1:-psql}
shift || true
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=("1000 8" "10000 8" "100000 8" "1000 128" "10000 128" "1000 784" "3000 784" "9000 784" "1000 1536" "1000 3072")
q() { nice "$P" -X -qAt -v ON_ERROR_STOP=1 postgres "$@"; }
echo "| N | d | plan at defaults | index ms/query | Seq Scan + Sort ms/query | ratio |"
echo "|---|---|---|---|---|---|"
for s in "${shapes[@]}"; do
    read -r n d <<<"$s"
    storage=float; [ "$d" -gt 1900 ] && storage=half   # 3,072 floats do not fit a page
    t=hp_${n}_$d
    q <<SQL >/dev/null
DROP TABLE IF EXISTS $t, ${t}_q;
CREATE TABLE $t (id int, v real[]);
INSERT INTO $t SELECT i, ARRAY(SELECT ((i % 10) * 0.3 + random() * 2 - 1)::real FROM generate_series(1, $d) WHERE i > 0) FROM generate_series(1, $n) i;
CREATE TABLE ${t}_q AS SELECT i AS qid, ARRAY(SELECT ((i % 10) * 0.3 + random() * 2 - 1)::real FROM generate_series(1, $d) WHERE i > 0) AS v FROM generate_series(1, 20) i;
SET maintenance_work_mem = '512MB';
CREATE INDEX ON $t USING ecml_hnsw (v ecml.real_l2_ops) WITH (storage = '$storage');
ANALYZE $t; ANALYZE ${t}_q;
SQL
    lat="EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT count(*) FROM ${t}_q q, LATERAL (SELECT id FROM $t t ORDER BY t.v OPERATOR(ecml.<->) q.v LIMIT 10) s"
    ms() { q -c "SET jit = off; SET max_parallel_workers_per_gather = 0; $1" -c "$lat" -c "$lat" -c "$lat" |
               awk '/Execution Time/ { print $3 / 20 }' | sort -g | head -1; }
    idx=$(ms "SET enable_seqscan = off; SET enable_sort = off;")
    seq=$(ms "SET enable_indexscan = off;")
    plan=$(q -c "EXPLAIN SELECT id FROM $t ORDER BY v OPERATOR(ecml.<->) (SELECT v FROM ${t}_q LIMIT 1)::real[] LIMIT 10" |
               grep " on $t " | grep -o 'Index Scan\|Seq Scan' | head -1)
    echo "| $n | $d | $plan | $idx | $seq | $(awk -v a="$seq" -v b="$idx" 'BEGIN { printf "%.1fx", a / b }') |"
    q -c "DROP TABLE $t, ${t}_q" >/dev/null
done
