#!/usr/bin/env bash
# `make lint`: cppcheck and clang-tidy over src/, findings minus the
# justified ones in test/lint/suppressions.txt.  Exit status 1 on findings.
#   cppcheck: warning, portability and performance checks, without the
#     server headers (with them one file takes minutes); test/lint/
#     postgres.cfg tells it that ereport(ERROR) and PG_RETURN_* leave.
#   clang-tidy: the checks in .clang-tidy, against the PostgreSQL headers.
#   function_length.py: no function over 100 lines but those listed, with
#     a reason, in test/lint/long_functions.txt.
#   design_map.py: every file of src/ is named in docs/DESIGN.md.
# About 30 s on one core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
pg_inc=$("$PG_CONFIG" --includedir-server)
blis_inc=/usr/include/x86_64-linux-gnu/blis-pthread
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cppcheck -q --enable=warning,portability,performance --std=c99 \
    --library=test/lint/postgres.cfg -Isrc \
    --suppress=missingIncludeSystem --suppress=missingInclude \
    --template='{file}:{line}: cppcheck {id}: {message}' src/ 2>"$out/cppcheck" >/dev/null || true
grep -E '^src/[^:]+:[0-9]+: cppcheck ' "$out/cppcheck" >"$out/findings" || true

# clang-tidy: file:line:col: warning: message [check]  ->  src/file:line: clang-tidy check: message
ls src/*.c | xargs -P2 -n6 sh -c 'clang-tidy -quiet "$@" -- -std=gnu99 -D_GNU_SOURCE -Isrc \
    -isystem '"$blis_inc"' -isystem '"$pg_inc"' 2>/dev/null' clang-tidy >"$out/tidy" || true
sed -nE 's#^(/[^:]*/)?(src/[^:]+):([0-9]+):[0-9]+: (warning|error): (.*) \[([^]]+)\]$#\2:\3: clang-tidy \6: \5#p' \
    "$out/tidy" >>"$out/findings"
if grep -qE '^[^ ]+: error: ' "$out/tidy"; then
    echo "lint: clang-tidy could not compile a file:"
    grep -E ': error: ' "$out/tidy" | head -n 20
    exit 1
fi

extra=0
python3 test/lint/function_length.py || extra=1

python3 - "$out/findings" test/lint/suppressions.txt <<'PY'
import fnmatch, sys
rules = []
for line in open(sys.argv[2]):
    if line.strip() and not line.startswith('#'):
        tool, check, path = line.split()[:3]
        rules.append([tool, check, path, 0])
found = sorted(set(open(sys.argv[1]).read().splitlines()))
bad = []
for f in found:
    loc, rest = f.split(' ', 1)
    path = loc.split(':')[0]
    tool, check = rest.split(':')[0].split()
    for r in rules:
        if r[0] == tool and r[1] == check and fnmatch.fnmatch(path, r[2]):
            r[3] += 1
            break
    else:
        bad.append(f)
for r in rules:
    if r[3] == 0:
        print(f'lint: note: suppression "{r[0]} {r[1]} {r[2]}" matched nothing; remove it if the code changed')
for b in bad:
    print(b)
print(f'lint: {len(bad)} finding(s), {len(found) - len(bad)} suppressed ({len(rules)} suppression lines)')
sys.exit(1 if bad else 0)
PY
python3 test/lint/design_map.py || extra=1
exit $extra
