#!/usr/bin/env bash
# Short fuzz of the model reader (issue 8, part 1; the long run and its
# figures are in test/RELIABILITY.md): build the libFuzzer harness
# (test/fuzz/build.sh), replay every committed regression input, then fuzz
# for FUZZ_SECONDS (default 60) from the seed corpus plus the regression
# inputs.  Any crash, sanitizer report (ASan, UBSan, LeakSanitizer), ERROR
# without a data-corrupted-like SQLSTATE, or hang fails the check.
# Needs clang, lld and libclang-rt-14-dev (test/cluster.sh installs them);
# without them it fails, it never skips.  Needs no database.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds=${FUZZ_SECONDS:-60}
work=$(mktemp -d /tmp/ecml-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT

FUZZ_BUILD_DIR="$work/build" bash test/fuzz/build.sh >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; echo "fuzz_models: harness build failed" >&2; exit 1; }
fuzzer=$work/build/fuzz_models

shopt -s nullglob
regressions=(test/fuzz/regressions/*.bin)
seeds=(test/fuzz/corpus/*.bin)
[ ${#seeds[@]} -gt 0 ] || { echo "fuzz_models: no seed corpus in test/fuzz/corpus" >&2; exit 1; }

# Every committed input, once each: the regressions must now end cleanly.
"$fuzzer" -timeout=25 "${regressions[@]}" "${seeds[@]}" >"$work/replay.log" 2>&1 ||
    { tail -n 60 "$work/replay.log" >&2; echo "fuzz_models: a committed input fails" >&2; exit 1; }
echo "replayed ${#regressions[@]} regression inputs and ${#seeds[@]} seeds"

# New units go to a scratch corpus, never into the committed one.
mkdir -p "$work/corpus" "$work/artifacts"
if ! "$fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" test/fuzz/corpus test/fuzz/regressions \
    >"$work/fuzz.log" 2>&1; then
    grep -v '^#' "$work/fuzz.log" | tail -n 60 >&2
    for a in "$work"/artifacts/*; do
        echo "crashing input (base64, add it to test/fuzz/regressions after fixing):" >&2
        base64 "$a" >&2
    done
    echo "fuzz_models: the fuzzer found a failure" >&2
    exit 1
fi
grep -E 'INITED|^#[0-9]+.*(cov|DONE)' "$work/fuzz.log" | sed -n '1p;$p'
grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$work/fuzz.log"
