#!/usr/bin/env bash
# Setup + every test, on each PostgreSQL server ecml supports: install
# missing packages, build the newer servers once (test/pgbuild.sh, cached in
# /var/cache/ecml-pg), then per server build and install ecml, start a fresh
# private cluster, run pg_regress, the pgTAP suites and test/extra/*, and
# remove the cluster.  A test that cannot run on a server (it needs pg_cron
# or Citus, which exist for Debian's 15 only) exits 77 and is reported as
# skipped with its reason, not counted.  The last line is
# "N passed, N failed" over all servers; the exit status is non-zero when
# anything failed or nothing ran.
#
#   bash test/run-tests.sh        (as root, from any directory)
#   ECML_TEST_SERVERS="18" bash test/run-tests.sh     (one server only)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source test/cluster.sh

# Overridable so that several work trees can run their suites side by side
# (with ECML_PGROOT, see test/cluster.sh); the directory must stay under
# /var/tmp/ecml-*.
DIR=${ECML_TEST_DIR:-/var/tmp/ecml-test}
PORT=${ECML_TEST_PORT:-54329}
# pg_cron runs its jobs in one database; making it the pgTAP database lets a
# suite CREATE EXTENSION pg_cron and schedule retraining.
TAP_DB=ecml_test

# 15 is Debian 12's packaged server; the others come from test/pgbuild.sh.
SERVERS=${ECML_TEST_SERVERS:-15 18}

passed=0
failed=0
skipped=0
stage=setup

finish() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ "$stage" != finished ]; then
        # A failed build, a server that would not start or an interrupted
        # run is a failure, not an empty run.
        echo "aborted during $stage (exit status $rc); counted as one failure" >&2
        failed=$((failed + 1))
    fi
    show_crashes
    ecml_cluster_remove "$DIR" >/dev/null 2>&1
    echo
    echo "$summary"
    [ "$skipped" -eq 0 ] || echo "$skipped skipped (not counted): $skipped_list"
    echo "$passed passed, $failed failed"
    if [ "$stage" != finished ] && [ "$rc" -ne 0 ]; then
        exit "$rc"
    fi
    if [ "$failed" -gt 0 ] || [ "$passed" -eq 0 ]; then
        exit 1
    fi
    exit 0
}
show_crashes() {
    if [ -f "$DIR/server.log" ] && grep -qE 'PANIC|terminated by signal|was terminated by exception' "$DIR/server.log"; then
        echo "--- server crashes ($DIR/server.log) ---"
        grep -E -B2 -A3 'PANIC|terminated by signal|was terminated by exception' "$DIR/server.log" | head -n 60
    fi
}
summary=
skipped_list=
trap finish EXIT
# Turn signals into a normal exit so the EXIT trap removes the cluster.
trap 'exit 130' INT
trap 'exit 143' TERM

ecml_require_root
ecml_lock "$DIR.lock"
ecml_install_packages
# Warnings are errors in the tests and so in CI (as pgvector's CI builds);
# ECML_WERROR= (empty) builds without.
export ECML_WERROR=${ECML_WERROR--Werror}
# run_suite: everything below for the server PG_CONFIG names.
run_suite() {
    local p0=$passed f0=$failed t0=$SECONDS
    stage="build for PostgreSQL $PG_MAJOR"
    ecml_build_install

    # Always start from nothing: a leftover cluster (even a running one) from an
    # interrupted run would carry state from an older build.
    ecml_cluster_remove "$DIR"
    ecml_cluster_init "$DIR" "$PORT" "$TAP_DB" \
        "fsync = off" "synchronous_commit = off" "full_page_writes = off"
    ecml_cluster_start "$DIR"
    ecml_cluster_env "$DIR" "$PORT"
    # Test scripts get this server's own client programs (pg_dump, pg_ctl, ...)
    # and its pg_config.
    export PATH="$PG_BIN:$ORIG_PATH" PG_CONFIG PG_BIN PG_MAJOR
    # Create the pg_cron database right away, so pg_cron's launcher finds it.
    "$PG_BIN/createdb" "$TAP_DB"

    # (a) pg_regress: one line per test, "test x ... ok" / "... FAILED" up to
    # PostgreSQL 15, TAP-like "ok 1 - x" / "not ok 1 - x" from 16 on.
    echo
    echo "=== pg_regress (make installcheck) ==="
    stage=pg_regress
    rm -f regression.diffs regression.out
    set +e
    make installcheck PG_CONFIG="$PG_CONFIG" CONTRIB_TESTDB=ecml_regression 2>&1 | tee "$DIR/regress.log"
    rc=${PIPESTATUS[0]}
    set -e
    ok=$(grep -cE '\.\.\. +(ok|failed \(ignored\))( |$)|^ok [0-9]+ +[-+] ' "$DIR/regress.log" || true)
    bad=$(grep -cE '\.\.\. +FAILED|^not ok [0-9]+ +[-+] ' "$DIR/regress.log" || true)
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        echo "pg_regress failed before running its tests (exit status $rc)"
        bad=1
    fi
    if [ "$rc" -ne 0 ] && [ -f regression.diffs ]; then
        echo "--- regression.diffs ---"
        cat regression.diffs
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))

    # (b) pgTAP: count assertions, not files.  A file that stops early (an error
    # with ON_ERROR_STOP, a bad plan) counts its missing assertions as failed, or
    # one failure when it has no plan.
    echo
    echo "=== pgTAP (pg_prove) ==="
    stage=pgTAP
    shopt -s nullglob
    for f in test/pgtap/*.sql; do
        set +e
        out=$(pg_prove --verbose --psql-bin "$PG_BIN/psql" --dbname "$TAP_DB" "$f" 2>&1)
        rc=$?
        set -e
        printf '%s\n' "$out"
        # Top-level TAP lines only (subtests are indented); TODO failures are
        # expected failures and count as passed, as TAP says.
        ok=$(printf '%s\n' "$out" | grep -cE '^ok [0-9]+|^not ok [0-9]+.*# *TODO' || true)
        bad=$(printf '%s\n' "$out" | grep -E '^not ok [0-9]+' | grep -cvE '# *TODO' || true)
        plan=$(printf '%s\n' "$out" | sed -nE 's/^1\.\.([0-9]+).*/\1/p' | head -n 1)
        if [ -n "$plan" ] && [ $((ok + bad)) -lt "$plan" ]; then
            bad=$((bad + plan - ok - bad))
        fi
        if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
            bad=1
        fi
        passed=$((passed + ok))
        failed=$((failed + bad))
    done

    # (c) extra checks: every executable in test/extra/, exit status 0 = pass.
    echo
    echo "=== extra checks (test/extra) ==="
    stage="extra checks"
    for f in test/extra/*; do
        if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
        echo "--- $f"
        set +e
        "./$f"
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            echo "ok $f"
            passed=$((passed + 1))
        elif [ "$rc" -eq 77 ]; then
            echo "skipped $f on PostgreSQL $PG_MAJOR (reason above)"
            skipped=$((skipped + 1))
            skipped_list="$skipped_list ${f#test/extra/}@$PG_MAJOR"
        else
            echo "FAILED $f (exit status $rc)"
            failed=$((failed + 1))
        fi
    done
    show_crashes
    ecml_cluster_remove "$DIR"
    summary="$summary
PostgreSQL $("$PG_CONFIG" --version | cut -d' ' -f2): $((passed - p0)) passed, $((failed - f0)) failed ($(((SECONDS - t0) / 60)) min)"
}

ORIG_PATH=$PATH
for major in $SERVERS; do
    echo
    stage="server $major"
    if [ "$major" = 15 ]; then
        PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
    else
        # built once, reused afterwards; the script says how long it took
        PG_CONFIG=$(bash test/pgbuild.sh "$major")
    fi
    ecml_pg_layout
    echo "=================== PostgreSQL $PG_MAJOR ($PG_CONFIG) ==================="
    run_suite
done
stage=finished
