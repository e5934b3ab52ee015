#!/usr/bin/env bash
# A PostgreSQL server newer than Debian 12's 15, for testing ecml on it:
# fetch Debian's source package (deb-src from testing, forky), build it with
# ./configure && make, install it with pgTAP and the contrib modules the
# tests use into $ECML_PG_CACHE/MAJOR (/var/cache/ecml-pg/18), and print the
# path of its pg_config on stdout.  A second run reuses the installation
# (it finishes by writing MAJOR/.ecml-complete) and builds nothing.
#
#   bash test/pgbuild.sh [MAJOR]        (as root; MAJOR defaults to 18)
#
# Authentication is apt's, as for `apt-get source`: the suites' InRelease
# files must carry a valid signature of a key in debian-archive-keyring
# (Signed-By below), the Sources index must match InRelease's hashes and
# every file of the source package must match the index's hashes; apt
# refuses anything else (no --allow-unauthenticated here).
# The upstream tarball inside the package is built as it is: Debian's
# patches only adapt paths to Debian's multi-version layout, and are skipped.
# Each tarball's SHA-256 is checked once more against the signed index.
#
# Debian's binary packages of 17 and 18 need a newer libc than Debian 12's,
# hence the build.  postgresql-17's source (trixie) answered 404 when tried;
# pg_cron and Citus are not built for the new server (docs/versions.md).
set -euo pipefail

major=${1:-18}
cache=${ECML_PG_CACHE:-/var/cache/ecml-pg}
prefix=$cache/$major
log() { printf '==> pgbuild: %s\n' "$*" >&2; }
die() { printf 'ERROR: pgbuild: %s\n' "$*" >&2; exit 1; }

reuse() {
    [ -f "$prefix/.ecml-complete" ] && [ -x "$prefix/bin/pg_config" ] || return 1
    log "reusing $prefix: $(cat "$prefix/.ecml-complete")"
    echo "$prefix/bin/pg_config"
}

reuse && exit 0
# The caller reads the pg_config path from stdout: everything the build
# runs (apt, configure, make) writes to stderr, the path to fd 3.
exec 3>&1 1>&2
[ "$(id -u)" -eq 0 ] || die "run as root (apt and the install into $cache need it)"
mkdir -p "$cache"
# One build at a time; whoever waited reuses what the other one built.
exec {lockfd}>"$cache/$major.lock"
flock "$lockfd"
reuse >&3 && exit 0

# A private apt state: only these deb-src suites, nothing of the system's
# sources.list touched.  forky has 18; trixie has 17.
aptdir=$cache/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
cat >"$aptdir/ecml-deb-src.sources" <<'EOF'
# Written by ecml's test/pgbuild.sh: source packages of newer PostgreSQL
# servers, signed like every Debian suite.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: forky trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_private=(
    -o Dir::Etc::SourceList=/dev/null
    -o Dir::Etc::SourceParts="$aptdir"
    -o Dir::State::Lists="$aptdir/lists"
    -o Dir::Cache="$aptdir/cache"
    -o APT::Sandbox::User=root
)
# The tools the build needs, from Debian 12's own archive.
need=(dpkg-dev build-essential bison flex libreadline-dev zlib1g-dev
      libipc-run-perl debian-archive-keyring)
missing=()
for p in "${need[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

log "updating the deb-src indexes (signatures checked against debian-archive-keyring)"
apt-get "${apt_private[@]}" -qq update

# verified FILE PACKAGE: FILE's SHA-256 is the one the signed index lists
# for it (apt-cache showsrc reads the index apt authenticated above).
verified() {
    local file=$1 pkg=$2 sum index
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    index=$(apt-cache "${apt_private[@]}" showsrc "$pkg" 2>/dev/null)
    grep -qE "^ $sum [0-9]+ $(basename "$file")\$" <<<"$index"
}

src=$(mktemp -d /var/tmp/ecml-pgbuild-XXXXXX)
trap 'rm -rf -- "$src"' EXIT
cd "$src"
log "apt-get source postgresql-$major and pgtap"
# --download-only: apt checks every file against the signed index; the
# upstream tarballs are unpacked below without Debian's patches.
apt-get "${apt_private[@]}" -qq source --download-only "postgresql-$major" </dev/null ||
    die "apt-get source postgresql-$major failed (its files may not be downloadable from this suite)"
# pgtap's .dsc answered 404 on this mirror while its tarball downloads;
# apt still checks each file it gets, and verified() checks it again.
apt-get "${apt_private[@]}" -qq source --download-only pgtap </dev/null ||
    log "apt-get source pgtap fetched only some files; using its verified upstream tarball"
pgtar=$(ls postgresql-"$major"_*.orig.tar.* | grep -v '\.asc$' | head -n 1)
taptar=$(ls pgtap_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | sort -V | tail -n 1)
[ -n "$taptar" ] || die "pgtap's source tarball could not be downloaded"
verified "$pgtar" "postgresql-$major" || die "$pgtar does not match the signed Sources index"
verified "$taptar" pgtap || die "$taptar does not match the signed Sources index"
mkdir pg pgtap
tar -xf "$pgtar" -C pg --strip-components=1
tar -xf "$taptar" -C pgtap --strip-components=1
pkgver=$(basename "$(ls postgresql-"$major"_*.dsc | head -n 1)" .dsc)
tapver=$(basename "$taptar" | sed -E 's/_([0-9.]+)\.orig.*/-\1/')

start=$(date +%s)
log "building $pkgver into $prefix (make -j2, niced; about 15 minutes on 2 cores)"
rm -rf -- "$prefix"
# (one && chain: set -e does not apply inside a subshell followed by ||)
(
    cd pg &&
    # TAP support: the index's TAP tests use PostgreSQL::Test::Cluster.
    nice ./configure --prefix="$prefix" --enable-tap-tests --without-icu \
        --without-llvm --with-readline --with-zlib >"$src/configure.log" 2>&1 &&
    nice make -j2 >"$src/make.log" 2>&1 &&
    make install >>"$src/make.log" 2>&1 &&
    # contrib modules the tests create
    nice make -C contrib/dblink -j2 install >>"$src/make.log" 2>&1 &&
    nice make -C contrib/pageinspect -j2 install >>"$src/make.log" 2>&1
) || { tail -n 40 "$src"/configure.log "$src"/make.log >&2; die "the build of $pkgver failed"; }
built=$(($(date +%s) - start))
"$prefix/bin/pg_config" --version >/dev/null
echo "$("$prefix/bin/pg_config" --version) from Debian source $pkgver, built in ${built}s" >"$prefix/.ecml-server"

(cd pgtap && nice make PG_CONFIG="$prefix/bin/pg_config" >"$src/pgtap.log" 2>&1 &&
    make PG_CONFIG="$prefix/bin/pg_config" install >>"$src/pgtap.log" 2>&1) ||
    { tail -n 40 "$src/pgtap.log" >&2; die "the build of pgTAP failed"; }
echo "$(cat "$prefix/.ecml-server"); $tapver; pg_cron: not built; finished $(date -u +%FT%TZ)" \
    >"$prefix/.ecml-complete"
log "built $pkgver in ${built}s; $(cat "$prefix/.ecml-complete")"
echo "$prefix/bin/pg_config" >&3
