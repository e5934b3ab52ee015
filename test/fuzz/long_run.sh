#!/usr/bin/env bash
# The long fuzz run whose figures test/RELIABILITY.md reports: build the
# harness, fuzz for FUZZ_SECONDS (default 900) from the seed corpus and the
# regression inputs into a fresh scratch corpus, and print the start and end
# coverage (cov: edges, ft: features), the coverage every 100 s, executions
# and executions per second.  Crashing inputs land in $work/artifacts.
#
#   nice bash test/fuzz/long_run.sh            (no root, no database needed)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds=${FUZZ_SECONDS:-900}
work=${FUZZ_WORK:-/var/tmp/ecml-fuzz-long}
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
FUZZ_BUILD_DIR="$work/build" bash test/fuzz/build.sh >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
echo "$(date -u '+%F %T') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$(ls test/fuzz/corpus | wc -l) seeds, $(ls test/fuzz/regressions | wc -l) regression inputs, $seconds s"
set +e
"$work/build/fuzz_models" -max_total_time="$seconds" -max_len=8192 -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" test/fuzz/corpus test/fuzz/regressions >"$work/fuzz.log" 2>&1
rc=$?
set -e
grep -m1 'INITED' "$work/fuzz.log"
# the coverage reached at each 100 s mark, from libFuzzer's timestamped pulses
awk -v step=100 '/^#[0-9]+/ && / cov: / {
        for (i = 1; i <= NF; i++) if ($i == "exec/s:") r = $(i + 1);
        n = substr($1, 2); if (r > 0) t = n / r; else t = 0;
        if (t >= next_mark) { print "t~" int(t) "s " $0; next_mark += step }
     }' "$work/fuzz.log" | cut -c1-120
grep -E '^#[0-9]+.*(DONE|cov:)' "$work/fuzz.log" | tail -n 1 | cut -c1-120
grep -E 'stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$work/fuzz.log"
ls "$work/artifacts"
exit $rc
