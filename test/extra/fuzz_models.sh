#!/usr/bin/env bash
# Short fuzz of the model reader (issue 8, part 1; issue 16, item 7; the
# long run and its figures are in test/RELIABILITY.md): build the libFuzzer
# harness (test/fuzz/build.sh), replay every committed regression input and
# the large crafted seeds (test/fuzz/large_seeds.sh), then fuzz for
# FUZZ_SECONDS (default 60) in two halves: raw inputs up to 1 MB from the
# seed corpus, the regression inputs and the large seeds; then recipes for
# the structure-aware generator (FUZZ_MODELS_MODE=structured, gen_models.c)
# from test/fuzz/recipes.  Any crash, sanitizer report (ASan, UBSan,
# LeakSanitizer), ERROR without a data-corrupted-like SQLSTATE, allocation
# out of proportion to the input, loop without CHECK_FOR_INTERRUPTS for 10 s,
# or hang fails the check.
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
recipes=(test/fuzz/recipes/*.bin)
[ ${#seeds[@]} -gt 0 ] || { echo "fuzz_models: no seed corpus in test/fuzz/corpus" >&2; exit 1; }
[ ${#recipes[@]} -gt 0 ] || { echo "fuzz_models: no recipes in test/fuzz/recipes" >&2; exit 1; }
bash test/fuzz/large_seeds.sh "$work/build" "$work/large"
large=("$work"/large/*.bin)

# Every committed input, once each: the regressions must now end cleanly.
"$fuzzer" -timeout=25 "${regressions[@]}" "${seeds[@]}" "${large[@]}" >"$work/replay.log" 2>&1 ||
    { tail -n 60 "$work/replay.log" >&2; echo "fuzz_models: a committed input fails" >&2; exit 1; }
FUZZ_MODELS_MODE=structured "$fuzzer" -timeout=25 "${recipes[@]}" >"$work/replay-recipes.log" 2>&1 ||
    { tail -n 60 "$work/replay-recipes.log" >&2; echo "fuzz_models: a committed recipe fails" >&2; exit 1; }
echo "replayed ${#regressions[@]} regression inputs, ${#seeds[@]} seeds, ${#large[@]} large seeds, ${#recipes[@]} recipes"

# fuzz MODE CORPUS...: new units go to a scratch corpus, never into the committed one
fuzz() {
    local mode=$1
    shift
    mkdir -p "$work/corpus-$mode" "$work/artifacts-$mode"
    if ! FUZZ_MODELS_MODE=$mode "$fuzzer" -max_total_time=$((seconds / 2)) -timeout=25 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts-$mode/" "$@" \
        >"$work/fuzz-$mode.log" 2>&1; then
        grep -v '^#' "$work/fuzz-$mode.log" | tail -n 60 >&2
        for a in "$work/artifacts-$mode"/*; do
            echo "crashing input ($mode mode, base64, add it to test/fuzz/regressions after fixing):" >&2
            base64 "$a" >&2
        done
        echo "fuzz_models: the fuzzer found a failure ($mode mode)" >&2
        exit 1
    fi
    echo "$mode mode:"
    grep -E 'INITED|^#[0-9]+.*(cov|DONE)' "$work/fuzz-$mode.log" | sed -n '1p;$p'
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$work/fuzz-$mode.log"
}
fuzz raw -max_len=1048576 "$work/corpus-raw" test/fuzz/corpus test/fuzz/regressions "$work/large"
fuzz structured -max_len=4096 -len_control=0 "$work/corpus-structured" test/fuzz/recipes
