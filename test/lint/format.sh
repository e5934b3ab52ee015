#!/usr/bin/env bash
# The pgindent layout check (`make format-check`) and fixer (`make format`).
#   1. test/lint/pgindent_rules.py over every src/ file: tabs, braces on
#      their own lines, return type above the function name, no trailing
#      whitespace (rules that hold on the whole tree).
#   2. clang-format (.clang-format) over the lines changed since the branch
#      left main (ECML_FORMAT_BASE overrides; committed and uncommitted
#      changes): a hunk counts only when it moves a line break or changes a
#      line's indentation.  Hunks that only respace inside a line are
#      ignored, because pgindent aligns declarations to tab stops and
#      clang-format 14 cannot; so is the unchanged tree, whose macros and
#      continuation lines clang-format would lay out differently.
# With --fix, step 2 applies those hunks instead of reporting them: only
# changed lines are touched, and never just for intra-line spacing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
fix=0
[ "${1:-}" = --fix ] && fix=1

fail=0
python3 test/lint/pgindent_rules.py src/*.c src/*.h || fail=1

base=${ECML_FORMAT_BASE:-}
if [ -z "$base" ]; then
    for ref in main origin/main; do
        if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then
            base=$(git merge-base HEAD "$ref")
            break
        fi
    done
fi
if [ -z "$base" ]; then
    echo "format: no main branch to compare with; checked the pgindent rules only"
    exit "$fail"
fi
diff=$(mktemp)
trap 'rm -f "$diff"' EXIT
git clang-format-14 --quiet --style=file --diff "$base" -- 'src/*.c' 'src/*.h' >"$diff" 2>/dev/null || true
if grep -q '^no modified files\|^clang-format did not modify' "$diff"; then
    : >"$diff"
fi
python3 - "$diff" "$fix" <<'PY' || fail=1
import re, subprocess, sys

def norm(lines):
    out = []
    for l in lines:
        lead = re.match(r'[ \t]*', l).group(0)
        col = 0
        for ch in lead:
            col = (col // 4 + 1) * 4 if ch == '\t' else col + 1
        rest = re.sub(r'\s+', ' ', l[len(lead):]).strip()
        out.append((col if rest else 0, rest))
    return out

text = open(sys.argv[1]).read()
fix = sys.argv[2] == '1'
keep, header, n = [], [], 0
for part in re.split(r'(?m)^(?=diff --git )', text):
    if not part.startswith('diff --git'):
        continue
    head, *hunks = re.split(r'(?m)^(?=@@ )', part)
    good = []
    for h in hunks:
        body = h.split('\n')[1:]
        old = [l[1:] for l in body if l.startswith((' ', '-'))]
        new = [l[1:] for l in body if l.startswith((' ', '+'))]
        if norm(old) != norm(new):
            good.append(h)
    if good:
        keep.append(head + ''.join(good))
        n += len(good)
patch = ''.join(keep)
if not n:
    sys.exit(0)
if fix:
    r = subprocess.run(['git', 'apply', '--recount', '-'], input=patch, text=True)
    print(f'format: applied {n} hunk(s) to changed lines')
    sys.exit(r.returncode)
sys.stdout.write(patch)
print(f'format: {n} hunk(s) of changed lines differ from the pgindent layout '
      '(line breaks or indentation); `make format` applies them')
sys.exit(1)
PY
exit "$fail"
