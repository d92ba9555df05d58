#!/usr/bin/env bash
# The whole bench suite in one command, as root, on as quiet a machine as you
# can get: it installs the peers where missing (nftables, iptables, iperf3,
# hyperfine, GNU time), builds shriekc in release, runs each part, prints
# each part's table and writes its CSV, then draws the plots from the CSV.
#
#   benches/run.sh [--quick] [--out DIR] [PART...]
#
# Parts (all, in this order, when none is named):
#   dataplane  packets/s and a TCP stream through N rules   (benches/dataplane.sh)
#   control    seconds and peak RSS to apply N rules        (benches/control.sh)
#   analysis   `shriekc check` on N overlapping rules       (benches/analysis.sh)
#   day2       a one-rule change to a 100k-rule policy      (benches/day2.sh)
#   split      a rule that splits a 100k-rule policy's map  (benches/split.sh)
#   loss       datagrams dropped at the firewall while a
#              policy is re-applied under a stream          (benches/loss.sh)
#   criterion  in-process parse, resolve, lower, analysis   (benches/pipeline.rs)
#   phases     time and memory of each front-end phase at the largest size,
#              blended, both strategies                     (benches/phases.rs)
#   plot       SVG plots from the CSV in DIR                (benches/plot.rs)
#   summary    issue 13's headline table from the CSV       (benches/summary.sh)
#
# --quick runs every part at small sizes in a minute or two: a smoke run, not
# a measurement. DIR defaults to benches/results/DATE (UTC). The full suite
# takes about 15 minutes on 2 cores.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

quick=0
out=""
parts=()
while (($#)); do
    case $1 in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    dataplane | control | analysis | day2 | split | loss | criterion | phases | plot | summary) parts+=("$1") ;;
    -h | --help) sed -n '2,/^set/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) bench_die "unknown part or flag: $1 (see benches/run.sh --help)" ;;
    esac
    shift
done
((${#parts[@]})) || parts=(dataplane control analysis day2 split loss criterion phases plot summary)
if [[ -z $out ]]; then
    out=$bench_root/benches/results/$(date -u +%F)
    ((quick)) && out=$bench_tmp/quick
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
export BENCH_OUT=$out BENCH_QUICK=$quick

bench_install_peers
bench_build

{
    echo "date: $(date -u '+%F %H:%M UTC')"
    echo "commit: $(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "cpu: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "nft: $(nft --version)"
    echo "iptables: $(iptables-legacy --version 2>/dev/null)"
    echo "iperf3: $(iperf3 --version | head -1)"
    echo "quick: $quick"
} >"$out/machine.txt"
cat "$out/machine.txt"

for part in "${parts[@]}"; do
    echo
    echo "== $part ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
    case $part in
    dataplane | control | analysis)
        bash "$bench_dir/$part.sh"
        bench_table "$out/$part.csv"
        [[ $part == dataplane && -f $out/dataplane-rounds.csv ]] && bench_table "$out/dataplane-rounds.csv"
        ;;
    day2)
        if ((quick)); then
            bash "$bench_dir/day2.sh" 1000 1 | tee "$out/day2.md"
        else
            bash "$bench_dir/day2.sh" 100000 3 | tee "$out/day2.md"
        fi
        ;;
    split)
        if ((quick)); then
            bash "$bench_dir/split.sh" 1000 1 | tee "$out/split.md"
        else
            bash "$bench_dir/split.sh" 100000 3 | tee "$out/split.md"
        fi
        ;;
    loss)
        if ((quick)); then
            bash "$bench_dir/loss.sh" 2 1 | tee "$out/loss.csv"
        else
            bash "$bench_dir/loss.sh" 20 3 | tee "$out/loss.csv"
        fi
        ;;
    criterion)
        (cd "$bench_root" && BENCH_QUICK=$quick cargo bench -q -p shriek-bench --bench pipeline) |
            tee "$out/criterion.txt" | grep -E '^[a-z]|time:'
        ;;
    phases)
        n=100000
        ((quick)) && n=1000
        bench_gen blended shr "$n" >"$bench_tmp/phases.shr"
        for strategy in sequential auto; do
            (cd "$bench_root" && cargo run --release -q -p shriek-bench --bin shriek-benchphases -- \
                "$bench_tmp/phases.shr" "$strategy") | tee "$out/phases-$strategy.csv"
        done
        ;;
    plot)
        (cd "$bench_root" && cargo run --release -q -p shriek-bench --bin shriek-benchplot -- "$out")
        ;;
    summary)
        bash "$bench_dir/summary.sh" "$out" | tee "$out/summary.md"
        ;;
    esac
done
echo
echo "results in $out (load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
