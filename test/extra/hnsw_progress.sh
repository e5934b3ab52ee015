#!/usr/bin/env bash
# CREATE INDEX ... USING ecml_hnsw reports its progress: another session
# sees pg_stat_progress_create_index name the build's phase and count the
# rows done, never more than the total.
set -euo pipefail
db=ecml_test
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS ecml" \
  -c "DROP TABLE IF EXISTS hnsw_progress" \
  -c "CREATE TABLE hnsw_progress AS SELECT i AS id,
        ARRAY(SELECT sin(i * 0.001 * d + d)::real FROM generate_series(1, 16) d WHERE i > 0) AS v
      FROM generate_series(1, 150000) i" \
  -c "ANALYZE hnsw_progress"
log=$(mktemp)
trap 'rm -f "$log"; q -c "DROP TABLE IF EXISTS hnsw_progress" >/dev/null 2>&1 || true' EXIT
q -c "CREATE INDEX hnsw_progress_idx ON hnsw_progress USING ecml_hnsw (v ecml.real_l2_ops)" &
build=$!
# poll while the build runs
while kill -0 "$build" 2>/dev/null; do
    q -c "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index
          WHERE relid = 'hnsw_progress'::regclass" >> "$log" || true
    sleep 0.05
done
wait "$build"
seen=$(grep -c 'building graph in memory' "$log" || true)
maxdone=$(awk -F'|' '$1 ~ /building graph in memory/ { if ($2 > m) m = $2 } END { print m + 0 }' "$log")
over=$(awk -F'|' '$2 > $3 && $3 > 0' "$log" | wc -l)
echo "progress rows seen: $seen in phase 'building graph in memory', largest tuples_done $maxdone of 150000, $over over the total"
head -n 3 "$log"
[ "$seen" -gt 0 ] && [ "$maxdone" -gt 0 ] && [ "$maxdone" -le 150000 ] && [ "$over" -eq 0 ]
