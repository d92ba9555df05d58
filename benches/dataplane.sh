#!/usr/bin/env bash
# Data plane: what a ruleset costs each packet. 64-byte UDP packets/s
# (iperf3, 18-byte payload, unlimited rate) and a TCP stream (iperf3) across
# a veth pair from one network namespace into another whose input hook holds
# N rules, for each workload of benches/gen.awk (ports, blended) and each
# configuration: no ruleset, nft's linear chain (`nft -f`), shriekc
# sequential and auto. The figure is what the receiving side took in.
# Also, at 10k port rules: sequential and auto with per-rule counters off
# (the default is on), to show what counting costs.
#
#   benches/dataplane.sh    (as root; usually through benches/run.sh)
#
# Environment: BENCH_OUT (result directory), BENCH_QUICK=1 (small sizes,
# one-second runs), BENCH_SECS (seconds per iperf3 run), SHRIEKC. To repeat
# a few rows, each beside its own no-ruleset run (a single run moves by a
# third between runs on a busy 2-core machine): BENCH_SIZES (e.g.
# "100000"), BENCH_WORKLOADS ("ports blended"), BENCH_CONFIGS ("nft
# sequential auto") and BENCH_REPS (rounds, default 1); the counters-off
# rows then stay out. BENCH_CONFIGS may also name `floor`: the workload's
# last two rules alone (iperf3's accepts, one counter each), what any
# ruleset that lets the test traffic in costs before its other rules.
#
# The two packet-rate rows of issue 13's table (blended `auto` at the largest
# size, ports `auto` at 10k) then run again in BENCH_ROUNDS interleaved
# rounds (default 5; 0 skips them), UDP only, into dataplane-rounds.csv: each
# round measures no ruleset, `floor`, the two rows and blended `auto` again
# with its traffic to a port the prefix rules name (config `auto@1000`), in
# an order that turns by one each round, and no ruleset again, so a round's
# ratio is against its own minutes (the mean of its two no-ruleset runs);
# summary.sh reports the median ratio of the rounds and their range. A
# single run moves by 5-10% on a quiet machine, more than the difference
# the goal decides.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out=${BENCH_OUT:-$bench_tmp}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    sizes=(100 1000)
    secs=${BENCH_SECS:-1}
else
    sizes=(100 1000 10000 50000 100000)
    secs=${BENCH_SECS:-4}
fi
[[ -n ${BENCH_SIZES:-} ]] && read -ra sizes <<<"$BENCH_SIZES"
read -ra workloads <<<"${BENCH_WORKLOADS:-ports blended}"
read -ra configs <<<"${BENCH_CONFIGS:-nft sequential auto}"
reps=${BENCH_REPS:-1}
bench_build
csv=$out/dataplane.csv
bench_csv "$csv" "workload,config,rules,udp_pps,tcp_mbit_s,load_s"

bench_veth_pair

# Received 64-byte UDP packets per second, to iperf3's port or to PORT.
udp_rate() {
    local port=${1:-5201}
    ip netns exec "$sink" iperf3 -s -p "$port" -D -1 >/dev/null 2>&1
    sleep 0.3
    ip netns exec "$gen" iperf3 -c 10.77.0.1 -p "$port" -u -b 0 -l 18 -t "$secs" --json |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["end"]["sum"]; print(int((s["packets"]-s["lost_packets"])/s["seconds"]))' ||
        echo fail
}

# Received TCP stream, Mbit/s.
tcp_rate() {
    ip netns exec "$sink" iperf3 -s -D -1 >/dev/null 2>&1
    sleep 0.3
    ip netns exec "$gen" iperf3 -c 10.77.0.1 -t "$secs" --json |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))' ||
        echo fail
}

# load CONFIG FILE: put the configuration in the sink; prints seconds taken.
load() {
    ip netns exec "$sink" nft flush ruleset
    local t
    case $1 in
    none) echo 0; return ;;
    nft) t=$(bench_time ip netns exec "$sink" nft -f "$2") ;;
    sequential* | auto*) t=$(bench_time "$SHRIEKC" apply --netns "$sink" --strategy "${1%% *}" "$2") ;;
    floor) t=$(bench_time "$SHRIEKC" apply --netns "$sink" --strategy auto "$bench_tmp/floor.shr") ;;
    esac
    echo "${t%% *}"
}

# measure WORKLOAD CONFIG RULES FILE: one row.
measure() {
    local took
    took=$(load "$2" "$4")
    printf '%s,%s,%s,%s,%s,%s\n' "$1" "$2" "$3" "$(udp_rate)" "$(tcp_rate)" "$took" | tee -a "$csv"
}

for n in "${sizes[@]}"; do
    for ((r = 0; r < reps; r++)); do
        measure none none "$n" ""
        for workload in "${workloads[@]}"; do
            bench_gen "$workload" nft "$n" >"$bench_tmp/p.nft"
            bench_gen "$workload" shr "$n" >"$bench_tmp/p.shr"
            bench_gen "$workload" shr 2 >"$bench_tmp/floor.shr"
            for config in "${configs[@]}"; do
                file=$bench_tmp/p.shr
                [[ $config == nft ]] && file=$bench_tmp/p.nft
                measure "$workload" "$config" "$n" "$file"
            done
        done
    done
done

# Per-rule counters off, beside the counted runs above.
[[ -n ${BENCH_SIZES:-} ]] && exit 0
n=10000
[[ ${BENCH_QUICK:-0} == 1 ]] && n=1000
bench_gen ports shr "$n" off >"$bench_tmp/p.shr"
for config in "sequential (counters off)" "auto (counters off)"; do
    measure ports "$config" "$n" "$bench_tmp/p.shr"
done

# The deciding rows in interleaved rounds (see the top).
rounds=${BENCH_ROUNDS:-5}
((rounds > 0)) || exit 0
big=${sizes[-1]}
mid=10000
[[ ${BENCH_QUICK:-0} == 1 ]] && mid=$big
bench_gen blended shr "$big" >"$bench_tmp/r-blended.shr"
bench_gen ports shr "$mid" >"$bench_tmp/r-ports.shr"
bench_gen ports shr 2 >"$bench_tmp/floor.shr"
rcsv=$out/dataplane-rounds.csv
bench_csv "$rcsv" "round,workload,config,rules,udp_pps"
# one ROUND WORKLOAD CONFIG RULES FILE [PORT]: one UDP run of a round; with
# PORT, the traffic goes there and the row's config is written CONFIG@PORT.
one() {
    load "$3" "$5" >/dev/null
    printf '%s,%s,%s%s,%s,%s\n' "$1" "$2" "$3" "${6:+@$6}" "$4" "$(udp_rate "${6:-}")" | tee -a "$rcsv"
}
# The fourth row sends to udp 1000, a port blended's prefix rules name (its
# source in none of their prefixes): the path of traffic the address rules
# are for, beside the bench's own packet that misses every map, so that a
# layout is never priced on the miss alone.
rows=("floor|floor|2||" "blended|auto|$big|$bench_tmp/r-blended.shr|"
    "ports|auto|$mid|$bench_tmp/r-ports.shr|" "blended|auto|$big|$bench_tmp/r-blended.shr|1000")
for ((r = 1; r <= rounds; r++)); do
    one "$r" none none 0 ""
    for ((i = 0; i < ${#rows[@]}; i++)); do
        IFS='|' read -r w c n f port <<<"${rows[(i + r) % ${#rows[@]}]}"
        one "$r" "$w" "$c" "$n" "$f" "$port"
    done
    one "$r" none none 0 ""
done
