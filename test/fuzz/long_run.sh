#!/usr/bin/env bash
# The long fuzz run whose figures test/RELIABILITY.md reports: build the
# harness, then fuzz for FUZZ_SECONDS (default 900) in two halves, each into
# a fresh scratch corpus:
#   1. raw mode, inputs up to FUZZ_MAX_LEN (default 1 MB), from the seed
#      corpus, the regression inputs and large crafted seeds (large_seeds.sh);
#   2. structured mode (FUZZ_MODELS_MODE=structured), recipes for the
#      structure-aware generator (gen_models.c), from test/fuzz/recipes.
# For each: the start and end coverage (cov: edges, ft: features), the
# coverage every 100 s, executions and executions per second.  Crashing
# inputs land in $work/artifacts-<mode>.
#
#   nice bash test/fuzz/long_run.sh            (no root, no database needed)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds=${FUZZ_SECONDS:-900}
max_len=${FUZZ_MAX_LEN:-1048576}
work=${FUZZ_WORK:-/var/tmp/ecml-fuzz-long}
rm -rf "$work"
mkdir -p "$work/corpus-raw" "$work/corpus-structured" "$work/artifacts-raw" "$work/artifacts-structured"
FUZZ_BUILD_DIR="$work/build" bash test/fuzz/build.sh >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
bash test/fuzz/large_seeds.sh "$work/build" "$work/large"
echo "$(date -u '+%F %T') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$(ls test/fuzz/corpus | wc -l) seeds, $(ls "$work/large" | wc -l) large seeds," \
     "$(ls test/fuzz/regressions | wc -l) regression inputs, $(ls test/fuzz/recipes | wc -l) recipes," \
     "$seconds s, max_len $max_len"

report() {
    local log=$1
    grep -m1 'INITED' "$log"
    # the coverage reached at each 100 s mark, from libFuzzer's timestamped pulses
    awk -v step=100 '/^#[0-9]+/ && / cov: / {
            for (i = 1; i <= NF; i++) if ($i == "exec/s:") r = $(i + 1);
            n = substr($1, 2); if (r > 0) t = n / r; else t = 0;
            if (t >= next_mark) { print "t~" int(t) "s " $0; next_mark += step }
         }' "$log" | cut -c1-120
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1 | cut -c1-120
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log"
}

rc=0
half=$((seconds / 2))
set +e
echo "== raw mode"
"$work/build/fuzz_models" -max_total_time="$half" -max_len="$max_len" -timeout=25 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts-raw/" \
    "$work/corpus-raw" test/fuzz/corpus test/fuzz/regressions "$work/large" >"$work/fuzz-raw.log" 2>&1 || rc=1
report "$work/fuzz-raw.log"
ls "$work/artifacts-raw"
echo "== structured mode"
FUZZ_MODELS_MODE=structured "$work/build/fuzz_models" -max_total_time="$half" -max_len=4096 -len_control=0 \
    -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/artifacts-structured/" \
    "$work/corpus-structured" test/fuzz/recipes >"$work/fuzz-structured.log" 2>&1 || rc=1
report "$work/fuzz-structured.log"
ls "$work/artifacts-structured"
set -e
exit $rc
