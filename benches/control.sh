#!/usr/bin/env bash
# Control plane: seconds and peak RSS to load N rules into an empty network
# namespace, each tool loading the same rules of benches/gen.awk (ports,
# blended): `shriekc apply` sequential and auto (the whole command: parse,
# resolve, analysis, lowering, reading the live tables, the transaction),
# `nft -f` of the linear chain, `iptables-nft-restore` and
# `iptables-legacy-restore` of the IPv4 rules, and `nft -f` of what
# `shriekc compile --strategy auto` prints (the same kernel objects as
# shriekc auto, loaded by nft). shriekc counts every rule by default and
# plain `nft -f` counts none: two rows compare like with like, `nft -f
# (counters)` (the same nft text with a `counter` on every rule) and
# `shriekc sequential (counters off)`; iptables counts every rule anyway. Each figure is the median of BENCH_REPS runs,
# each in a namespace of its own; shriekc's transaction alone (from sending
# the batch to the kernel's answer, as `apply` prints it) beside.
#
#   benches/control.sh    (as root; usually through benches/run.sh)
#
# Environment: BENCH_OUT, BENCH_QUICK=1, BENCH_REPS (default 3), SHRIEKC;
# to repeat a few rows with more runs: BENCH_SIZES (e.g. "100000"),
# BENCH_WORKLOADS ("ports blended") and BENCH_TOOLS (tool names as in the
# CSV, separated by "|", e.g. "shriekc auto|iptables-legacy-restore").
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out=${BENCH_OUT:-$bench_tmp}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    sizes=(1000)
    reps=${BENCH_REPS:-1}
else
    sizes=(1000 10000 50000 100000)
    reps=${BENCH_REPS:-3}
fi
[[ -n ${BENCH_SIZES:-} ]] && read -ra sizes <<<"$BENCH_SIZES"
read -ra workloads <<<"${BENCH_WORKLOADS:-ports blended}"
bench_build
csv=$out/control.csv
bench_csv "$csv" "workload,tool,rules,seconds,peak_rss_mib,transaction_ms"

tools=("shriekc sequential" "shriekc auto" "nft -f" "nft -f (counters)" "shriekc sequential (counters off)" "iptables-nft-restore" "iptables-legacy-restore" "nft -f (shriekc auto output)")
[[ -n ${BENCH_TOOLS:-} ]] && IFS='|' read -ra tools <<<"$BENCH_TOOLS"

# run TOOL NS: load the tool's file into the namespace.
run() {
    case $1 in
    "shriekc sequential") bench_time "$SHRIEKC" apply --netns "$2" --strategy sequential "$bench_tmp/p.shr" ;;
    "shriekc auto") bench_time "$SHRIEKC" apply --netns "$2" --strategy auto "$bench_tmp/p.shr" ;;
    "shriekc sequential (counters off)") bench_time "$SHRIEKC" apply --netns "$2" --strategy sequential "$bench_tmp/p-off.shr" ;;
    "nft -f") bench_time ip netns exec "$2" nft -f "$bench_tmp/p.nft" ;;
    "nft -f (counters)") bench_time ip netns exec "$2" nft -f "$bench_tmp/p-counted.nft" ;;
    "nft -f (shriekc auto output)") bench_time ip netns exec "$2" nft -f "$bench_tmp/auto.nft" ;;
    iptables-*) bench_time ip netns exec "$2" "$1" "$bench_tmp/p.ipt" ;;
    esac
}

for workload in "${workloads[@]}"; do
    for n in "${sizes[@]}"; do
        bench_gen "$workload" shr "$n" >"$bench_tmp/p.shr"
        bench_gen "$workload" shr "$n" off >"$bench_tmp/p-off.shr"
        bench_gen "$workload" nft "$n" >"$bench_tmp/p.nft"
        bench_gen "$workload" nft "$n" counted >"$bench_tmp/p-counted.nft"
        bench_gen "$workload" ipt "$n" >"$bench_tmp/p.ipt"
        "$SHRIEKC" compile --strategy auto "$bench_tmp/p.shr" >"$bench_tmp/auto.nft"
        for tool in "${tools[@]}"; do
            secs=() rss=() tx=()
            for ((r = 0; r < reps; r++)); do
                ns=$(bench_ns_new)
                read -r s k < <(run "$tool" "$ns")
                secs+=("$s") rss+=("$k")
                tx+=("$(sed -n 's/.*(transaction \([0-9.]*\) ms).*/\1/p' "$bench_tmp/last.out" "$bench_tmp/last.err" | head -1)")
                bench_ns_del "$ns"
                # Let the kernel free the namespace's ruleset before the next run.
                sleep 1
            done
            printf '%s,%s,%s,%s,%s,%s\n' "$workload" "$tool" "$n" "$(bench_median "${secs[@]}")" \
                "$(bench_mib "$(bench_median "${rss[@]}")")" "$(bench_median "${tx[@]:-}")" | tee -a "$csv"
        done
    done
done
