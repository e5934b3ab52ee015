#!/bin/bash
# CREATE INDEX ... USING ecml_hnsw with two builds of ecml.so, side by side:
# the shared library in the install is swapped before each build (copy to
# a temporary name, then rename, so running backends keep theirs), the
# builds alternate A, B, A, B, ..., and each index's recall@10 against the
# exact order is measured at ef_search 10 to 160 with the same scan code.
# Data made in SQL (seeded, Gaussian-like clusters): 100,000 x 64 and x 128,
# 60,000 x 256, 80,000 x 768 and 40,000 x 1,536, each 100 rows held out as
# queries.  One process (max_parallel_maintenance_workers = 0), m = 16,
# ef_construction = 64, maintenance_work_mem 2GB.
#   PGHOST=... PGPORT=... PGUSER=postgres bash test/bench/hnsw_build_ab.sh \
#       LIBDIR A.so B.so [ROUNDS]
# LIBDIR is the install's pkglibdir (where ecml.so is loaded from).  Needs a
# running server with ecml in database postgres; creates tables ab_*.
# Figures go into RESULTS.md by hand.
set -euo pipefail
lib=$1/ecml.so
a=$2
b=$3
rounds=${4:-2}
q() { psql -X -qAt -v ON_ERROR_STOP=1 postgres "$@"; }
echo "command: bash test/bench/hnsw_build_ab.sh $*"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); A $(md5sum <"$a" | cut -c1-8), B $(md5sum <"$b" | cut -c1-8)"

# make NAME ROWS DIM CENTRES NOISE
make_table() {
    q -c "SELECT 1 FROM pg_class WHERE relname = 'ab_$1'" | grep -q 1 && return
    q <<SQL
SET client_min_messages = warning;
SELECT setseed(0.$4);
CREATE TEMP TABLE c AS SELECT k, array_agg((random() - 0.5)::real ORDER BY d) AS c
FROM generate_series(1, $4) k, generate_series(1, $3) d GROUP BY k;
CREATE TABLE ab_$1 AS
SELECT i AS id, (SELECT array_agg((c[d] + $5 * (random() - 0.5))::real ORDER BY d)
                 FROM generate_series(1, $3) d WHERE i > 0) AS v
FROM generate_series(1, $2) i JOIN c ON k = 1 + (i * 7919) % $4;
ANALYZE ab_$1;
SQL
}

# build NAME METRIC LIB: seconds of CREATE INDEX over all but the last 100 rows
build() {
    local n
    n=$(q -c "SELECT max(id) - 100 FROM ab_$1")
    cp "$3" "$lib.ab" && mv "$lib.ab" "$lib"
    q <<SQL
SET client_min_messages = warning; SET maintenance_work_mem = '2GB';
SET max_parallel_maintenance_workers = 0;
DROP INDEX IF EXISTS ab_idx;
SELECT clock_timestamp() AS t0 \gset
CREATE INDEX ab_idx ON ab_$1 USING ecml_hnsw (v ecml.real_$2_ops)
    WHERE id <= $n;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2);
SQL
}

# recall NAME OP: recall@10 at ef_search 10, 20, 40, 80, 160 of ab_idx
recall() {
    local n
    n=$(q -c "SELECT max(id) - 100 FROM ab_$1")
    {
        echo "SET search_path = public, ecml; SET enable_indexscan = off;"
        echo "CREATE TEMP TABLE t AS SELECT q.id, ARRAY(SELECT id FROM ab_$1 WHERE id <= $n ORDER BY v $2 q.v, id LIMIT 10) AS ids FROM ab_$1 q WHERE q.id > $n;"
        echo "RESET enable_indexscan; SET enable_seqscan = off;"
        for ef in 10 20 40 80 160; do
            echo "SET ecml.hnsw_ef_search = $ef;"
            echo "SELECT round(avg((SELECT count(*) FROM unnest(ARRAY(SELECT id FROM ab_$1 WHERE id <= $n ORDER BY v $2 q.v LIMIT 10)) x WHERE x = ANY (t.ids)) / 10.0), 3) FROM ab_$1 q JOIN t USING (id);"
        done
    } | q | paste -sd/
}

make_table d64 100000 64 100 0.6
make_table d128 100000 128 100 0.6
make_table d256 60000 256 100 0.6
make_table d768 80000 768 200 0.5
make_table d1536 40000 1536 100 0.3

echo "| data | metric | build s, A | build s, B | B / A | recall@10 at ef 10/20/40/80/160, A | B |"
echo "|---|---|---|---|---|---|---|"
for t in d64 d128 d256 d768 d1536; do
    for m in cosine l2; do
        op='<=>'
        [ "$m" = l2 ] && op='<->'
        ta=() tb=()
        for _ in $(seq "$rounds"); do
            ta+=("$(build $t $m "$a")")
            tb+=("$(build $t $m "$b")")
        done
        rb=$(recall $t "$op")
        build $t $m "$a" >/dev/null
        ra=$(recall $t "$op")
        ma=$(printf '%s\n' "${ta[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
        mb=$(printf '%s\n' "${tb[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
        echo "| $(q -c "SELECT to_char(count(*), 'FM999,999') || ' x ' || max(cardinality(v)) FROM ab_$t") | $m | $ma (${ta[*]}) | $mb (${tb[*]}) | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", b / a }') | $ra | $rb |"
    done
done
q -c "DROP INDEX IF EXISTS ab_idx"
cp "$b" "$lib.ab" && mv "$lib.ab" "$lib"
