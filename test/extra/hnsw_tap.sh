#!/usr/bin/env bash
# The ecml_hnsw index's TAP tests (test/tap/t/*.pl: crash recovery during
# inserts, a streaming replica, recall, unlogged indexes after a crash and a
# promotion, inserts during VACUUM, an int8-storage index after a crash, a
# scan whose entry point VACUUM removes (held there with gdb, skipped
# without it), a build while an older snapshot still sees rows inserted
# empty and updated), run with prove as
# `make prove_installcheck` would: PostgreSQL::Test::Cluster from
# the server's pgxs (postgresql-server-dev-15, or test/pgbuild.sh's
# build) starts its own throwaway clusters from the
# PostgreSQL bin directory where ecml is installed ($ECML_PGROOT's copy when
# set, as in test/cluster.sh).  initdb refuses root, so prove runs as the
# postgres OS user in a temporary directory it owns (also its TMPDIR, where
# the clusters put their sockets); the directory goes away afterwards, its
# logs printed first when a test failed.
#
#   bash test/extra/hnsw_tap.sh [test/tap/t/NNN_name.pl ...]   (as root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The server PG_CONFIG names (Debian's 15 by default), as test/cluster.sh.
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
pgxs_sys=$(dirname "$("$pg_config" --pgxs)")/../..
pg_bin=${ECML_PGROOT:-}$("$pg_config" --bindir)
pgxs=${ECML_PGROOT:-}$(cd "$pgxs_sys" && pwd)
perl_lib=$pgxs_sys/src/test/perl
[ -x "$pg_bin/initdb" ] || { echo "no PostgreSQL server in $pg_bin" >&2; exit 1; }
[ -f "$perl_lib/PostgreSQL/Test/Cluster.pm" ] ||
    { echo "PostgreSQL::Test::Cluster not found in $perl_lib (postgresql-server-dev-15, or --enable-tap-tests)" >&2; exit 1; }

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(test/tap/t/*.pl)
fi

work=$(mktemp -d /var/tmp/ecml-hnsw-tap.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
cp -r test/tap/. "$work/"
chown -R postgres: "$work"
rel=()
for t in "${tests[@]}"; do rel+=("${t#test/tap/}"); done

rc=0
(cd "$work" && runuser -u postgres -- env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
    PATH="$pg_bin:$PATH" PERL5LIB="$perl_lib:$work" TESTDIR="$work" TMPDIR="$work" \
    PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
    prove -v --timer "${rel[@]}") || rc=$?
if [ "$rc" -ne 0 ]; then
    for f in "$work"/tmp_check/log/*; do
        [ -f "$f" ] || continue
        echo "--- tail of $f"
        tail -n 40 "$f"
    done
fi
exit "$rc"
