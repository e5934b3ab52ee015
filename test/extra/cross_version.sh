#!/usr/bin/env bash
# The model format and the ecml_hnsw index across PostgreSQL versions
# (issue 20), in the pass of a server newer than 15, against Debian's
# PostgreSQL 15 with ecml installed in it (the 15 pass of test/run-tests.sh
# installed it):
#  1. models of every kind trained on 15, pg_dump'ed and restored here with
#     this server's pg_restore, are byte-identical and score identically
#     (test/extra/dump_restore.sh with its source database on 15);
#  2. a 15 cluster with ecml_hnsw indexes (after deletes and a VACUUM), upgraded
#     with this server's pg_upgrade: without a REINDEX the indexes are used
#     and give the same nearest rows as on 15, a model in the registry
#     searches the same, rows inserted afterwards are found through the
#     index and a VACUUM of the upgraded index works (docs/versions.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/cluster.sh

if [ "$PG_MAJOR" = 15 ]; then
    echo "skip: runs in the pass of a newer server (it upgrades from 15 to it)"
    exit 77
fi
new_bin=$PG_BIN
old_bin=${ECML_PGROOT:-}/usr/lib/postgresql/15/bin
old_port=$((PGPORT + 3))
new_port=$((PGPORT + 4))
[ -x "$old_bin/postgres" ] || { echo "FAIL: no PostgreSQL 15 in $old_bin"; exit 1; }
[ -f "$(dirname "$old_bin")/lib/ecml.so" ] ||
    { echo "FAIL: ecml is not installed for PostgreSQL 15 (run the 15 pass first)"; exit 1; }

work=/var/tmp/ecml-xv-$PGPORT
old=$work/old
new=$work/new
stop() {
    local bin=$1 data=$2
    [ -f "$data/postmaster.pid" ] || return 0
    ecml_as_postgres "$bin/pg_ctl" stop -D "$data" -m fast -w >/dev/null 2>&1 || true
}
cleanup() {
    stop "$old_bin" "$old/data"
    stop "$new_bin" "$new/data"
    rm -rf -- "$work"
}
trap cleanup EXIT
cleanup
mkdir -p "$old" "$new"
chown -R postgres: "$work"
initdb_opts=(--username=postgres --encoding=UTF8 --locale=C --auth-local=trust --auth-host=reject)
start() {
    local bin=$1 dir=$2 port=$3
    ecml_as_postgres "$bin/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off" >/dev/null ||
        { tail -n 20 "$dir/server.log"; return 1; }
}
ecml_as_postgres "$old_bin/initdb" -D "$old/data" "${initdb_opts[@]}" >"$work/initdb-old.log" 2>&1
start "$old_bin" "$old" "$old_port"
fail=0
check() { # what expected got
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: expected '$2', got '$3'"; fail=1; fi
}

# 1. dump from 15, restore into this server
echo "--- models trained on 15, pg_dump'ed and restored into $PG_MAJOR"
# Debian's 15.20 keeps a private column option, pg_attver, on every column
# (attoptions); its own pg_dump leaves it out, 18.6's pg_dump writes it as
# ALTER COLUMN ... SET (pg_attver=...) and 18.6 rejects that.  So the dump
# is taken with 15's pg_dump, which PostgreSQL's restore also supports.
if ECML_DUMP_FROM="$old $old_port" ECML_DUMP_BIN=$old_bin bash test/extra/dump_restore.sh; then
    echo "ok - dump and restore from 15: same model bytes, metadata and scoring outputs"
else
    echo "not ok - dump and restore from 15"
    fail=1
fi

# 2. pg_upgrade a 15 cluster with ecml_hnsw indexes
echo "--- pg_upgrade 15 -> $PG_MAJOR with ecml_hnsw indexes"
o() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$old" -p "$old_port" -d ecml_up "$@"; }
n() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$new" -p "$new_port" -d ecml_up "$@"; }
psql -X -q -h "$old" -p "$old_port" -d postgres -c "CREATE DATABASE ecml_up"
o <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION ecml;
CREATE TABLE items AS
SELECT i AS id, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i), sin(5 * i), cos(7 * i), sin(11 * i), cos(13 * i)]::real[] AS e
FROM generate_series(1, 3000) i;
CREATE INDEX items_cos ON items USING ecml_hnsw (e ecml.real_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX items_l2 ON items USING ecml_hnsw (e ecml.real_l2_ops);
-- deleted rows and a VACUUM: the graph carries repaired neighbour lists
DELETE FROM items WHERE id % 7 = 0;
VACUUM items;
CREATE TABLE queries AS
SELECT q, ARRAY[cos(q), sin(q), cos(2 * q), sin(3 * q), cos(5 * q), sin(7 * q), cos(11 * q), sin(13 * q)]::real[] AS v
FROM generate_series(1, 20) q;
SELECT ecml.save_model('search', ecml.pack_vectors(id::bigint, e)) FROM items;
SQL
answers='SET enable_seqscan = off;
SELECT q, (SELECT string_agg(id::text, $$,$$) FROM (SELECT id FROM items ORDER BY e OPERATOR(ecml.<=>) v LIMIT 10) s),
          (SELECT string_agg(id::text, $$,$$) FROM (SELECT id FROM items ORDER BY e OPERATOR(ecml.<->) v LIMIT 10) s),
          (SELECT string_agg(r::text, $$,$$) FROM ecml.search(ecml.model($$search$$), v, 5) r)
FROM queries ORDER BY q'
plan_sql="SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY e OPERATOR(ecml.<=>) '{1,0,0,0,0,0,0,0}' LIMIT 5"
before=$(o -c "$answers")
model_before=$(o -c "SELECT md5(ecml.model('search'))")
# pg_upgrade dumps the schema with 18's pg_dump, which would write 15.20's
# pg_attver column options (see part 1) and fail on them for any table,
# ecml's or not: drop them from the old catalog first.  The index files
# pg_upgrade then copies are untouched.
o -c "UPDATE pg_attribute
      SET attoptions = (SELECT array_agg(x) FROM unnest(attoptions) x WHERE x NOT LIKE 'pg_attver=%')
      WHERE attrelid >= 16384 AND attoptions IS NOT NULL"
stop "$old_bin" "$old/data"

ecml_as_postgres "$new_bin/initdb" -D "$new/data" "${initdb_opts[@]}" --no-data-checksums \
    >"$work/initdb-new.log" 2>&1
start_s=$SECONDS
if ! (cd "$work" && runuser -u postgres -- "$new_bin/pg_upgrade" \
        -b "$old_bin" -B "$new_bin" -d "$old/data" -D "$new/data" \
        -p "$old_port" -P "$new_port" -s "$work" >"$work/pg_upgrade.log" 2>&1); then
    tail -n 30 "$work/pg_upgrade.log"
    for f in "$new"/data/pg_upgrade_output.d/*/log/pg_upgrade_dump_*.log; do
        grep -q -i 'error' "$f" && { echo "--- $f"; grep -i -B2 -A3 error "$f" | tail -n 20; }
    done
    echo "not ok - pg_upgrade 15 -> $PG_MAJOR"
    exit 1
fi
echo "ok - pg_upgrade 15 -> $PG_MAJOR ($((SECONDS - start_s)) s)"
start "$new_bin" "$new" "$new_port"
check "the server is $PG_MAJOR after the upgrade" "$PG_MAJOR" "$(n -c 'SHOW server_version_num' | cut -c1-2)"
after=$(n -c "$answers")
plan=$(n -c "$plan_sql")
case "$plan" in
    *"Index Scan using items_cos"*) echo "ok - the upgraded ecml_hnsw index is used by the planner" ;;
    *) echo "not ok - the upgraded index is not used: $plan"; fail=1 ;;
esac
check "the upgraded indexes give the same nearest rows as on 15, without REINDEX" "$before" "$after"
check "a model in the upgraded registry is byte-identical" "$model_before" "$(n -c "SELECT md5(ecml.model('search'))")"
# writes into the upgraded index: new rows are found through it
n -c "INSERT INTO items SELECT 100000 + q, v FROM queries"
found=$(n -c "SET enable_seqscan = off" -c "SELECT count(*) FROM queries q
             WHERE (SELECT id FROM items ORDER BY e OPERATOR(ecml.<=>) q.v LIMIT 1) = 100000 + q.q")
check "rows inserted after the upgrade are found through the upgraded index" 20 "$found"
n -c "DELETE FROM items WHERE id > 100000 OR id % 5 = 0" -c "VACUUM items"
gone=$(n -c "SET enable_seqscan = off" -c "SELECT count(*) FROM queries q, LATERAL
             (SELECT id FROM items ORDER BY e OPERATOR(ecml.<=>) q.v LIMIT 10) s WHERE s.id > 100000 OR s.id % 5 = 0")
rows=$(n -c "SET enable_seqscan = off" -c "SELECT count(*) FROM queries q, LATERAL
             (SELECT id FROM items ORDER BY e OPERATOR(ecml.<=>) q.v LIMIT 10) s")
check "after deletes and VACUUM of the upgraded index, 10 live rows a query" "200 0" "$rows $gone"
exit $fail
