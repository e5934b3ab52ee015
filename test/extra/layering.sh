#!/usr/bin/env bash
# Layering of src/, read from the compiled objects (nm): which file calls or
# reads a symbol defined in which other file.  Fails when
#   - a scoring or explaining file uses a symbol defined in a training file
#     (scoring reads a capability's <capability>_model.c, never its trainer);
#   - files depend on each other in a cycle (a -> b -> ... -> a): the module
#     root init.c calls into the capabilities and nothing calls into it.
# Run after a build (run-tests.sh builds first); builds if objects are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if ! ls src/*.o >/dev/null 2>&1; then
    make -s -j2 PG_CONFIG="${PG_CONFIG:-pg_config}" >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in src/*.o; do
    f=$(basename "$o" .o)
    nm -g --defined-only "$o" | awk -v f="$f" 'NF == 3 {print $3, f}'
done | sort > "$tmp/defined"
for o in src/*.o; do
    f=$(basename "$o" .o)
    nm -u "$o" | awk -v f="$f" '{print $2, f}'
done | sort > "$tmp/used"
# "user definer symbol" for every cross-file reference
join "$tmp/used" "$tmp/defined" | awk '$2 != $3 {print $2, $3, $1}' | sort -u > "$tmp/edges"
[ -s "$tmp/edges" ] || { echo "no cross-file references found: objects missing?"; exit 1; }

fail=0
scoring='^(gbdt_predict|gbdt_explain|iforest_score|logreg_predict|lstm_predict|mf_recommend|vectors_search|text_clf|text_vectors)$'
training='(_train|_fit|_passes|_hist|_pack)$'
while read -r user definer sym; do
    if [[ $user =~ $scoring && $definer =~ $training ]]; then
        echo "FAIL: scoring file $user.c uses $sym from training file $definer.c"
        fail=1
    fi
done < "$tmp/edges"

# cycles: Tarjan's strongly connected components over the file graph
cycles=$(awk '{print $1, $2}' "$tmp/edges" | sort -u | python3 -c '
import sys, collections
sys.setrecursionlimit(100000)
graph = collections.defaultdict(set)
for line in sys.stdin:
    a, b = line.split()
    graph[a].add(b)
index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            out.append(" ".join(sorted(comp)))
for v in list(graph):
    if v not in index:
        visit(v)
print("\n".join(out))
')
if [ -n "$cycles" ]; then
    echo "FAIL: files that depend on each other in a cycle:"
    echo "$cycles" | sed 's/^/  /'
    fail=1
fi
n=$(wc -l < "$tmp/edges")
if [ "$fail" -eq 0 ]; then
    echo "layering: $n cross-file references, no scoring->training use, no cycles"
fi
exit "$fail"
