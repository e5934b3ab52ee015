#!/usr/bin/env bash
# Every object built from a C file that asks for prefetches
# (__builtin_prefetch) holds prefetch instructions.  GCC takes a function
# whose body is prefetches alone for one without side effects and drops
# its calls unless it is inlined first: the HNSW build's prefetch_vec, a
# static inline function, compiled to nothing until 2026-12-07, and the
# build read each neighbour's vector cold (a quarter slower at 768
# dimensions; now pg_attribute_always_inline).  Reads the objects of the
# in-tree build the test command has just made; x86-64 only (prefetcht0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ "$(uname -m)" != x86_64 ] || ! command -v objdump >/dev/null; then
    echo "prefetch: needs x86-64 and objdump (binutils); skipped"
    exit 77
fi
fail=0
for c in $(grep -l '__builtin_prefetch' src/*.c); do
    o=${c%.c}.o
    if [ ! -f "$o" ]; then
        echo "not ok - $o missing (build first)"
        fail=1
        continue
    fi
    n=$(objdump -d "$o" | grep -c 'prefetcht0' || true)
    if [ "$n" -gt 0 ]; then
        echo "ok - $o has $n prefetch instructions"
    else
        echo "not ok - $o has no prefetch instruction: the compiler dropped $c's prefetches"
        fail=1
    fi
done
exit $fail
