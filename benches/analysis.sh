#!/usr/bin/env bash
# Analysis: seconds and peak RSS of `shriekc check` on N random overlapping
# rules (benches/gen.awk's `overlap`), with JSON output and with text output,
# beside `nft -c -f` merely validating the same rules as one linear chain (in
# a network namespace of its own: `-c` still asks the kernel).
#
#   benches/analysis.sh    (as root; usually through benches/run.sh)
#
# Environment: BENCH_OUT, BENCH_QUICK=1, SHRIEKC, BENCH_TIMEOUT (seconds a
# run may take before it is recorded as `timeout`; default 600).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out=${BENCH_OUT:-$bench_tmp}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    sizes=(1000)
else
    sizes=(1000 10000 50000 100000)
fi
bench_build
csv=$out/analysis.csv
bench_csv "$csv" "tool,rules,seconds,peak_rss_mib,findings"

# `check` exits 1 when a finding is an error (a rule that matches nothing).
export BENCH_OK_RC=1
ns=$(bench_ns_new)
for n in "${sizes[@]}"; do
    bench_gen overlap shr "$n" >"$bench_tmp/p.shr"
    bench_gen overlap nft "$n" >"$bench_tmp/p.nft"

    read -r s k < <(bench_time "$SHRIEKC" check --format json "$bench_tmp/p.shr")
    findings=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))' <"$bench_tmp/last.out" 2>/dev/null || echo "?")
    echo "shriekc check --format json,$n,$s,$(bench_mib "$k"),$findings" | tee -a "$csv"

    # Text goes to stderr, the summary line to stdout.
    read -r s k < <(bench_time "$SHRIEKC" check --format text "$bench_tmp/p.shr")
    # Each report opens with its code; past 100 of a code, one line counts the rest.
    findings=$(awk '/^E[0-9]+\(/ { n++ } /^and [0-9]+ more/ { n += $2 } END { print n + 0 }' "$bench_tmp/last.err")
    echo "shriekc check --format text,$n,$s,$(bench_mib "$k"),$findings" | tee -a "$csv"

    read -r s k < <(BENCH_OK_RC=0 bench_time ip netns exec "$ns" nft -c -f "$bench_tmp/p.nft")
    echo "nft -c -f,$n,$s,$(bench_mib "$k")," | tee -a "$csv"
done
