#!/usr/bin/env bash
# CREATE INDEX ... USING ecml_hnsw with parallel workers: the same index is
# built with max_parallel_maintenance_workers = 0 and = 2 (parallel set-up
# made free so the planner grants the workers; the build's DEBUG1 line says
# how many were launched), at 32 dimensions (distances over floats) and 96
# (over half copies, which every process's DEBUG1 line reports).  Each index must hold every non-null row (see
# elements and reachable below), reach
# recall@10 >= 0.99 at a large ef_search, and a parallel build cancelled by
# statement_timeout must fail with 57014 and leave a backend that answers.
# Needs pageinspect (contrib) to count the index's elements.
set -euo pipefail
db=ecml_test
export PGOPTIONS='-c search_path=public,ecml'
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
check() {  # check NAME COMMAND...: ok when COMMAND succeeds
    local name=$1
    shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fail=1; fi
}
[ -n "${HP_KEEP:-}" ] || trap 'q -c "DROP TABLE IF EXISTS hp_items, hp_q, hp_big" -c "DROP EXTENSION IF EXISTS pageinspect" >/dev/null 2>&1 || true' EXIT

# make_data DIM: 20,000 x DIM points around 40 seeded centres (as
# test/pgtap/hnsw.sql), 7 NULL rows, 20 queries from the same mixture
make_data() {
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS ecml" \
  -c "DROP TABLE IF EXISTS hp_items, hp_q, hp_big" \
  -c "SELECT setseed(0.29)" \
  -c "CREATE TEMP TABLE hp_ctr AS SELECT k, ARRAY(SELECT (random() * 2 - 1)::real
        FROM generate_series(1, $1) WHERE k >= 0) AS ctr FROM generate_series(0, 39) k" \
  -c "CREATE FUNCTION pg_temp.point(c real[]) RETURNS real[] LANGUAGE sql AS
        \$\$ SELECT array_agg(x + (random()::real - 0.5) * 0.5 ORDER BY i)
            FROM unnest(c) WITH ORDINALITY u(x, i) \$\$" \
  -c "CREATE TABLE hp_items AS SELECT i AS id, pg_temp.point(ctr) AS v
        FROM generate_series(1, 20000) i JOIN hp_ctr ON hp_ctr.k = (hashint4(i * 3) & 1023) % 40 ORDER BY i" \
  -c "INSERT INTO hp_items SELECT 20000 + i, NULL FROM generate_series(1, 7) i" \
  -c "CREATE TABLE hp_q AS SELECT i AS qid, pg_temp.point(ctr) AS q
        FROM generate_series(1, 20) i JOIN hp_ctr ON hp_ctr.k = (i * 7) % 40" \
  -c "ANALYZE hp_items" >/dev/null
}

force_parallel="SET min_parallel_table_scan_size = 0; SET parallel_setup_cost = 0;
  SET maintenance_work_mem = '128MB'; SET client_min_messages = debug1;"

# build NAME WORKERS: the index left, the workers launched on stdout and
# the processes that computed over half copies in $halves (the DEBUG1 lines)
build() {
    q -c "DROP INDEX IF EXISTS hp_idx" 2>/dev/null
    q -c "$force_parallel SET max_parallel_maintenance_workers = $2;
          CREATE INDEX hp_idx ON hp_items USING ecml_hnsw (v ecml.real_l2_ops)" 2>"/tmp/hp_build_$$.log"
    launched=$(sed -nE 's/.*ecml_hnsw build: ([0-9]+) parallel workers launched.*/\1/p' "/tmp/hp_build_$$.log")
    grep -c 'distances over half-precision copies' "/tmp/hp_build_$$.log" >"/tmp/hp_halves_$$" || true
    rm -f "/tmp/hp_build_$$.log"
    echo "${launched:-0}"
}

# every row in the index: as many elements on the index's pages
# (pageinspect's page headers: one line pointer per element) as non-null
# rows, and an unbounded scan through the graph (no LIMIT, no
# max_scan_tuples stop, out-of-order rows kept) from three queries returns
# only those rows, each once, and at least 99.9% of them (pruning a
# neighbour list can leave an element no other element links to, and
# elements inserted at the same moment by two processes do not see each
# other: a rare row may be unreachable, in a serial build too)
elements() {
    q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pageinspect" -c "
        SELECT sum(((page_header(get_raw_page('hp_idx', b::int))).lower - 24) / 4)
        FROM generate_series(1, pg_relation_size('hp_idx') / current_setting('block_size')::int - 1) b"
}
reachable() {
    q -c "SET enable_seqscan = off; SET enable_sort = off; SET ecml.hnsw_strict_order = off;
          SET ecml.hnsw_max_scan_tuples = 2147483647;" -c "
        SELECT bool_and(n >= 0.999 * (SELECT count(v) FROM hp_items) AND nd = n AND extra = 0) FROM (
          SELECT (SELECT count(*) FROM (SELECT id FROM hp_items ORDER BY v <-> q) s) AS n,
                 (SELECT count(DISTINCT id) FROM (SELECT id FROM hp_items ORDER BY v <-> q) s) AS nd,
                 (SELECT count(*) FROM (SELECT id FROM hp_items ORDER BY v <-> q) s
                   WHERE id NOT IN (SELECT id FROM hp_items WHERE v IS NOT NULL)) AS extra
          FROM hp_q WHERE qid <= 3) t"
}

# recall@10 at ef_search 400 against the exact order over the 20 queries
recall() {
    q -c "SET ecml.hnsw_ef_search = 400;" -c "
        CREATE FUNCTION pg_temp.r() RETURNS float8 LANGUAGE plpgsql AS \$\$
        DECLARE r record; a bigint[]; b bigint[]; hit int := 0; tot int := 0;
        BEGIN
          FOR r IN SELECT * FROM hp_q ORDER BY qid LOOP
            SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
            SELECT array_agg(id) INTO a FROM (SELECT id FROM hp_items ORDER BY v <-> r.q LIMIT 10) s;
            SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
            SELECT array_agg(id) INTO b FROM (SELECT id FROM hp_items ORDER BY v <-> r.q, id LIMIT 10) s;
            hit := hit + (SELECT count(*) FROM unnest(a) x WHERE x = ANY (b));
            tot := tot + 10;
          END LOOP;
          RETURN hit::float8 / tot;
        END \$\$" -c "SELECT round(pg_temp.r()::numeric, 3)"
}

# 32 dimensions: distances over floats; 96: over half copies (64 and more,
# on a CPU with F16C; src/hnsw_build_graph.c), in every process
f16c=0
grep -qw f16c /proc/cpuinfo && f16c=1
for dim in 32 96; do
    make_data "$dim"
    for w in 0 2; do
        n=$(build hp_idx "$w")
        halves=$(cat "/tmp/hp_halves_$$")
        rm -f "/tmp/hp_halves_$$"
        if [ "$w" -eq 0 ]; then
            check "d = $dim: max_parallel_maintenance_workers = 0: no workers launched" [ "$n" -eq 0 ]
        else
            echo "# d = $dim: $n parallel workers launched"
            check "d = $dim: max_parallel_maintenance_workers = 2: parallel workers launched" [ "$n" -ge 1 ]
        fi
        if [ "$dim" -lt 64 ] || [ "$f16c" -eq 0 ]; then
            check "d = $dim, workers = $w: distances over floats" [ "$halves" -eq 0 ]
        else
            check "d = $dim, workers = $w: the build computed over half copies" [ "$halves" -ge 1 ]
        fi
        check "d = $dim, workers = $w: the build counted 20,000 index tuples" \
            [ "$(q -c "SELECT reltuples::int FROM pg_class WHERE relname = 'hp_idx'")" = 20000 ]
        check "d = $dim, workers = $w: 20,000 elements on the index's pages" [ "$(elements)" = 20000 ]
        check "d = $dim, workers = $w: an unbounded scan returns non-null rows, each once, >= 99.9% of them" \
            [ "$(reachable)" = t ]
        r=$(recall)
        echo "# d = $dim, workers = $w: recall@10 at ef_search 400: $r"
        check "d = $dim, workers = $w: recall@10 >= 0.99" awk -v r="$r" 'BEGIN { exit !(r >= 0.99) }'
    done
done

# a parallel build cancelled by statement_timeout: 57014, workers gone, and
# the session still answers
q -c "CREATE TABLE hp_big AS SELECT i AS id, ARRAY(SELECT ((hashint4(i * 64 + d) & 65535) / 65536.0)::real
        FROM generate_series(1, 64) d) AS v FROM generate_series(1, 200000) i" -c "ANALYZE hp_big"
out=$(psql -X -At -d "$db" -v VERBOSITY=verbose 2>&1 <<SQL || true
$force_parallel
SET max_parallel_maintenance_workers = 2;
\set VERBOSITY verbose
SET statement_timeout = '1500ms';
CREATE INDEX hp_big_idx ON hp_big USING ecml_hnsw (v ecml.real_l2_ops);
RESET statement_timeout;
SELECT 'alive ' || count(*) FROM pg_class WHERE relname = 'hp_big_idx';
SQL
)
printf '%s\n' "$out" | grep -E 'launched|ERROR|alive' | sed 's/^/# /'
check "the cancelled build had launched workers" grep -q 'parallel workers launched' <<<"$out"
check "statement_timeout cancels a parallel build with 57014" grep -q 'ERROR:  57014' <<<"$out"
check "the session answers afterwards, no index left" grep -q '^alive 0$' <<<"$out"
left=1
for _ in $(seq 1 50); do
    if [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND datname = current_database()")" = 0 ]; then
        left=0; break
    fi
    sleep 0.1
done
check "no parallel worker is left running" [ "$left" -eq 0 ]
exit $fail
