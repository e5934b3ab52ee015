#!/bin/bash
# How many rows an ecml_hnsw index can no longer reach, by m: HNSW prunes a
# full neighbour list with its heuristic, and a pruned element may lose its
# last way in.  For each m, 6,000 rows of test/tap's mixture (32
# dimensions, 40 overlapping clusters) are indexed two ways, by CREATE
# INDEX on the loaded table and by inserts one at a time into an empty
# index, then one index scan with the widest search (ef_search 1,000, no
# tuple limit) counts the rows it returns; for the inserts, again after a
# VACUUM (with nothing to delete: its cleanup alone).  No concurrency.
# pgvector's hnsw, when the vector extension is installed, gets the same
# rows, m and ef_construction (iterative scan, relaxed order).
#   PGHOST=... PGPORT=... PGUSER=postgres nice bash test/bench/hnsw_reach.sh [PSQL] [m ...]
# Needs a running server with ecml (CREATE EXTENSION ecml) in database
# postgres; creates and drops table hr_items.  Figures go into RESULTS.md by
# hand.
set -euo pipefail
P=${1:-psql}
shift || true
ms=("$@")
[ ${#ms[@]} -gt 0 ] || ms=(4 6 8 12 16)
q() { nice "$P" -X -qAt -v ON_ERROR_STOP=1 postgres "$@"; }
q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS hr_items;
CREATE TABLE hr_items (id bigint, embedding real[]);
CREATE FUNCTION pg_temp.u(x bigint, seed bigint) RETURNS float8 LANGUAGE sql
AS $$ SELECT (hashint8extended(x, seed) & 16777215)::float8 / 16777216 $$;
INSERT INTO hr_items
SELECT i, (SELECT array_agg((2 * pg_temp.u(c * 4096 + j, 20261129) - 1
          + 2.0 * (pg_temp.u(i * 4096 + j, 20261130) + pg_temp.u(i * 4096 + j, 20261131) - 1))::real
          ORDER BY j) FROM generate_series(1, 32) j)
FROM (SELECT i, (hashint8extended(i, 20261132) & 2147483647) % 40 AS c
      FROM generate_series(1, 6000) i) s;
SQL
scan="SET enable_seqscan = off; SET ecml.hnsw_ef_search = 1000;
SET ecml.hnsw_max_scan_tuples = 1000000; SET ecml.hnsw_strict_order = off;
SELECT count(*) FROM (SELECT id FROM hr_items ORDER BY embedding OPERATOR(ecml.<->)
  (SELECT embedding FROM hr_items WHERE id = 1) LIMIT 100000) s;"
pgv=$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
[ "$pgv" = 1 ] && q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS vector"
pscan="SET enable_seqscan = off; SET hnsw.ef_search = 1000; SET hnsw.iterative_scan = relaxed_order;
SET hnsw.max_scan_tuples = 1000000;
SELECT count(*) FROM (SELECT id FROM hr_items ORDER BY embedding::vector(32) <->
  (SELECT embedding::vector(32) FROM hr_items WHERE id = 1) LIMIT 100000) s;"
# unreachable rows of the index ($1: ecml_hnsw or hnsw) built with
# CREATE INDEX ($2 = build) or by inserts into the empty index ($2 = inserts,
# or vacuumed: then a VACUUM)
lost() {
    local am=$1 how=$2 col="embedding ecml.real_l2_ops" s=$scan n
    [ "$am" = hnsw ] && { col="(embedding::vector(32)) vector_l2_ops"; s=$pscan; }
    local idx="CREATE INDEX hr_idx ON hr_items USING $am ($col) WITH (m = $m, ef_construction = $efc)"
    local then=
    [ "$how" = vacuumed ] && then="VACUUM hr_items"
    if [ "$how" = build ]; then
        n=$(q -c "$idx" -c "$s" -c "DROP INDEX hr_idx")
    else
        n=$(q -c "CREATE TEMP TABLE hr_copy AS SELECT * FROM hr_items" -c "TRUNCATE hr_items" -c "$idx" \
            -c "INSERT INTO hr_items SELECT * FROM hr_copy ORDER BY id" ${then:+-c "$then"} -c "$s" -c "DROP INDEX hr_idx")
    fi
    echo $((6000 - n))
}
echo "| m | ef_construction | ecml, CREATE INDEX | ecml, inserts | ecml, inserts + VACUUM | pgvector, CREATE INDEX | pgvector, inserts | pgvector, inserts + VACUUM |"
echo "|---|---|---|---|---|---|---|---|"
for m in "${ms[@]}"; do
    efc=$((4 * m > 32 ? 4 * m : 32))
    p1=-; p2=-; p3=-
    [ "$pgv" = 1 ] && { p1=$(lost hnsw build); p2=$(lost hnsw inserts); p3=$(lost hnsw vacuumed); }
    echo "| $m | $efc | $(lost ecml_hnsw build) | $(lost ecml_hnsw inserts) | $(lost ecml_hnsw vacuumed) | $p1 | $p2 | $p3 |"
done
echo "(unreachable rows of 6,000; $(q -c 'SELECT version()' | cut -d' ' -f1-2), $(nproc) cores, $(date -u +%F))"
q -c "DROP TABLE hr_items"
