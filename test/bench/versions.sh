#!/usr/bin/env bash
# Figures that could differ between PostgreSQL versions (issue 20): the
# ecml_hnsw build and the scoring overhead, on the server PGHOST/PGPORT
# point at (ecml installed), in a scratch database.  Prints one line per
# figure, the median of RUNS runs (default 3).  Under a minute a run.
#
#   PGHOST=... PGPORT=... PGUSER=postgres bash test/bench/versions.sh
set -euo pipefail
runs=${RUNS:-3}
db=ecml_bench_versions
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
dropdb --if-exists "$db"
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION ecml;
CREATE TABLE items AS
SELECT i AS id, (SELECT array_agg(sin(i * 0.7 + d * 1.3 + (i % 17))::real ORDER BY d)
                 FROM generate_series(1, 64) d) AS e
FROM generate_series(1, 20000) i;
CREATE TABLE sessions AS
SELECT i, ARRAY[sin(i * 0.3), cos(i * 0.7), (i % 13)::real, sin(i * 1.7), cos(i * 2.3),
                (i % 7)::real, sin(i * 0.1), cos(i * 0.9)]::real[] AS f,
       sin(i * 0.3) - cos(i * 0.7) > 0 AS y
FROM generate_series(1, 500000) i;
CREATE TABLE m AS SELECT ecml.logreg_train(f, y) AS m FROM sessions;
VACUUM ANALYZE;
SQL
# ms of one statement, from the server's clock
ms() {
    q -c "SET max_parallel_workers_per_gather = 0" -c "DO \$\$DECLARE t0 timestamptz := clock_timestamp();
          BEGIN EXECUTE \$q\$$1\$q\$; RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t0) * 1000); END\$\$" 2>&1 |
        sed -nE 's/.*ms=([0-9]+).*/\1/p'
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
build=() score=() base=()
for _ in $(seq "$runs"); do
    q -c "DROP INDEX IF EXISTS items_hnsw"
    build+=("$(ms "CREATE INDEX items_hnsw ON items USING ecml_hnsw (e ecml.real_l2_ops) WITH (m = 16, ef_construction = 64)")")
    base+=("$(ms "SELECT sum(f[1]) FROM sessions")")
    score+=("$(ms "SELECT sum(ecml.logreg_predict(m.m, f)) FROM sessions, m")")
done
server=$(q -c "SHOW server_version" | cut -d' ' -f1)
echo "PostgreSQL $server: ecml_hnsw build, 20,000 x 64-d, m=16, ef_construction=64: $(printf '%s\n' "${build[@]}" | median) ms (runs: ${build[*]})"
b=$(printf '%s\n' "${base[@]}" | median)
s=$(printf '%s\n' "${score[@]}" | median)
echo "PostgreSQL $server: logreg_predict over 500,000 rows x 8 features: $s ms, the same scan without scoring $b ms, overhead $(awk -v s="$s" -v b="$b" 'BEGIN {printf "%.2f", (s - b) * 1000 / 500000}') us/row (runs: ${score[*]} / ${base[*]})"
