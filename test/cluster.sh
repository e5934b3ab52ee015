# shellcheck shell=bash
# Shared helpers for examples/demo.sh and test/run-tests.sh; source it, don't
# run it.  Everything here expects to run as root on Debian 12: packages are
# installed with apt, the extension with `make install`, and each private
# cluster runs as the `postgres` OS user (the server refuses to run as root).
# Clients (psql, pg_regress, pg_prove) stay root and connect as the postgres
# role over the cluster's unix socket, so the server never needs to read the
# source tree.

# The server: Debian's PostgreSQL 15 unless PG_CONFIG names another
# installed one, e.g. PG_CONFIG=/var/cache/ecml-pg/18/bin/pg_config (built by
# test/pgbuild.sh).  Everything else (binaries, major version) follows from it.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
ecml_pg_layout() {
    PG_MAJOR=15
    PG_SYSBIN=/usr/lib/postgresql/15/bin
    if [ -x "$PG_CONFIG" ]; then
        PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
        PG_SYSBIN=$("$PG_CONFIG" --bindir)
    fi
    PG_BIN=$PG_SYSBIN
    # ECML_PGROOT=/some/dir (optional, for developers): run the server from
    # a private copy of the server's tree in that directory and install ecml
    # there (make install DESTDIR=...), so several work trees can be tested
    # side by side on one machine without overwriting each other's ecml.so.
    # The server finds its share and lib directories relative to its own
    # binary.  The build still uses pg_config and the server's headers.
    if [ -n "$ECML_PGROOT" ]; then
        PG_BIN=$ECML_PGROOT$PG_SYSBIN
    fi
}
ECML_PGROOT=${ECML_PGROOT:-}
ecml_pg_layout

# What the build, the demo and the tests need.  Benchmarks need more
# (python3-sklearn, ...); test/bench documents that, these scripts don't
# install it.
ECML_PACKAGES=(
    postgresql-15
    postgresql-server-dev-15
    postgresql-client-15
    libblis-pthread-dev
    postgresql-15-pgtap
    libtap-parser-sourcehandler-pgtap-perl
    postgresql-15-cron
    make
    gcc
    # fuzzing the model reader (libFuzzer) and the index's TAP tests
    # (PostgreSQL::Test::Cluster needs IPC::Run)
    clang
    libclang-rt-14-dev
    # the fuzzer's link drops the unreached fmgr code (--gc-sections), which
    # GNU ld refuses with coverage instrumentation; lld does it
    lld
    libipc-run-perl
    # the HNSW scan test holds a backend at a breakpoint (test/tap/t/006)
    gdb
    # make lint / make format-check (test/lint/, test/extra/lint.sh)
    cppcheck
    clang-tidy
    clang-format
    git
)

ecml_log() { printf '==> %s\n' "$*" >&2; }
ecml_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

ecml_require_root() {
    [ "$(id -u)" -eq 0 ] ||
        ecml_die "run this as root (it installs packages and runs the server as the postgres user)"
}

# Take an exclusive lock for the rest of the calling shell's life (or until
# the fd closes), so two runs on one machine wait for each other instead of
# trampling the same cluster directory or `make install`.
ECML_LOCK_FDS=()
ecml_lock() {
    local file=$1 fd
    exec {fd}>"$file"
    ECML_LOCK_FDS+=("$fd")
    if ! flock -n "$fd"; then
        ecml_log "waiting for another run holding $file"
        flock "$fd"
    fi
}

# Install only what is missing, and refresh the apt lists only then: on a
# machine that already has everything this costs a dpkg-query, not a network
# round trip.
ecml_install_packages() {
    local missing=() p
    for p in "${ECML_PACKAGES[@]}"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    ecml_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

# Build and install the extension into the server's tree.  PG_CONFIG is
# passed explicitly because /usr/bin/pg_config may belong to another major
# version.  The build lock keeps two concurrent runs from installing a
# half-copied library under each other.
# The build is quiet: make's output goes to a log that is printed only when
# the build fails (ECML_BUILD_VERBOSE=1 shows it as it runs).
# ECML_WERROR (the Makefile's variable, e.g. -Werror) is passed on;
# test/run-tests.sh sets it so that the tests and CI build warning-free.
ecml_build_install() {
    local log rc=0
    log=$(mktemp /tmp/ecml-build.XXXXXX.log)
    if [ -n "$ECML_PGROOT" ]; then
        ecml_pgroot_prepare
        ecml_log "building ecml for PostgreSQL $PG_MAJOR and installing it into $ECML_PGROOT"
        ecml_build_for_server "$log" &&
            ecml_build_logged "$log" make install PG_CONFIG="$PG_CONFIG" DESTDIR="$ECML_PGROOT" ||
            rc=$?
    else
        ecml_log "building and installing ecml for PostgreSQL $PG_MAJOR"
        (
            ecml_lock /var/tmp/ecml-build.lock
            ecml_build_for_server "$log" &&
                ecml_build_logged "$log" make install PG_CONFIG="$PG_CONFIG"
        ) || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        [ "${ECML_BUILD_VERBOSE:-0}" = 1 ] || cat "$log" >&2
        ecml_log "the build failed (exit status $rc); its log: $log"
        return "$rc"
    fi
    rm -f "$log"
}

# The objects of one server's headers must not be linked for another:
# .ecml-server remembers which pg_config built them, and a different one
# starts from make clean.
ecml_build_for_server() {
    local log=$1 want
    want="$PG_CONFIG $("$PG_CONFIG" --version)"
    if [ ! -f .ecml-server ] || [ "$(cat .ecml-server)" != "$want" ]; then
        ecml_build_logged "$log" make clean PG_CONFIG="$PG_CONFIG" || return
        printf '%s\n' "$want" >.ecml-server
    fi
    ecml_build_logged "$log" make -j2 PG_CONFIG="$PG_CONFIG" "ECML_WERROR=${ECML_WERROR:-}"
}

# ecml_build_logged LOG COMMAND...: run COMMAND with its output appended to
# LOG, or also shown with ECML_BUILD_VERBOSE=1.
ecml_build_logged() {
    local log=$1
    shift
    if [ "${ECML_BUILD_VERBOSE:-0}" = 1 ]; then
        "$@" 2>&1 | tee -a "$log"
        return "${PIPESTATUS[0]}"
    fi
    "$@" >>"$log" 2>&1
}

# Copy the server's tree (binaries, libraries with pg_cron when it has it,
# share with pgTAP) into ECML_PGROOT once: bindir, pkglibdir and sharedir
# keep their paths below ECML_PGROOT, so their relative layout holds.
ecml_pgroot_prepare() {
    local d
    [ -x "$PG_BIN/postgres" ] && return 0
    ecml_log "copying the PostgreSQL $PG_MAJOR tree into $ECML_PGROOT"
    for d in "$("$PG_CONFIG" --bindir)" "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)"; do
        mkdir -p "$ECML_PGROOT$d"
        cp -a "$d/." "$ECML_PGROOT$d/"
    done
    chmod 0755 "$ECML_PGROOT"
}

# Run a command as the postgres OS user, from / because the caller's working
# directory (the source tree) may be unreadable for that user.  Lock files are
# closed first: a postmaster started here would otherwise inherit the lock and
# hold it for as long as it runs.
ecml_as_postgres() {
    (
        local fd
        for fd in "${ECML_LOCK_FDS[@]}"; do exec {fd}>&-; done
        cd / && runuser -u postgres -- "$@"
    )
}

# ecml_cluster_init DIR PORT CRON_DB [EXTRA_CONF_LINE...]
# Create a cluster in DIR/data with its socket in DIR, listening on no TCP
# address.  Local connections are trusted: only users on this machine who can
# reach the socket directory can connect.
ecml_cluster_init() {
    local dir=$1 port=$2 cron_db=$3
    shift 3
    ecml_log "creating cluster in $dir/data (port $port)"
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 0700 "$dir"
    ecml_as_postgres "$PG_BIN/initdb" --pgdata="$dir/data" --username=postgres \
        --encoding=UTF8 --locale=C --auth-local=trust --auth-host=reject \
        >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    # pg_cron must be preloaded; it runs its jobs in cron.database_name.
    {
        echo "# added by test/cluster.sh"
        echo "port = $port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        if ecml_have_pg_cron; then
            echo "shared_preload_libraries = 'pg_cron'"
            echo "cron.database_name = '$cron_db'"
            # jobs run in background workers: the cluster takes no TCP logins
            echo "cron.use_background_workers = on"
        fi
        echo "max_worker_processes = 8"
        echo "max_parallel_workers = 8"
        echo "max_parallel_workers_per_gather = 2"
        local line
        for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
}

# pg_cron is packaged for Debian's PostgreSQL 15 only; on a server built
# from source (test/pgbuild.sh) it is absent and its tests say they skip.
ecml_have_pg_cron() {
    [ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ]
}

ecml_cluster_exists() {
    [ -f "$1/data/PG_VERSION" ] && [ -f "$1/data/postgresql.conf" ]
}

ecml_cluster_running() {
    [ -d "$1/data" ] && ecml_as_postgres "$PG_BIN/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

ecml_cluster_start() {
    local dir=$1
    ecml_log "starting server ($dir/server.log)"
    ecml_as_postgres "$PG_BIN/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 60 >/dev/null ||
        { tail -n 30 "$dir/server.log" >&2 2>/dev/null; return 1; }
}

# Fast shutdown: the data in these clusters is disposable, waiting for
# sessions to finish is not worth it.
ecml_cluster_stop() {
    local dir=$1
    if ecml_cluster_running "$dir"; then
        ecml_log "stopping server in $dir/data"
        ecml_as_postgres "$PG_BIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null ||
            ecml_as_postgres "$PG_BIN/pg_ctl" stop -D "$dir/data" -m immediate -w -t 60 >/dev/null
    fi
}

# Stop whatever server runs in DIR and delete DIR.
ecml_cluster_remove() {
    local dir=$1
    [ -e "$dir" ] || return 0
    ecml_cluster_stop "$dir" || true
    case "$dir" in
        /var/tmp/ecml-*) rm -rf -- "$dir" ;;
        *) ecml_die "refusing to remove unexpected directory $dir" ;;
    esac
}

# ecml_cluster_env DIR PORT: point libpq clients (psql, pg_regress, pg_prove)
# at the cluster.
ecml_cluster_env() {
    export PGHOST=$1 PGPORT=$2 PGUSER=postgres
    unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
}
