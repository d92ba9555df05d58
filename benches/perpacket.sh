#!/usr/bin/env bash
# What a ruleset costs each packet inside nf_tables, for pricing layouts
# against each other: CPU nanoseconds spent under nft_do_chain per received
# packet, from `perf record` (cpu-clock, one sample per 250 µs of CPU, call
# graphs) during a 64-byte UDP iperf3 run across the data plane's veth pair
# (see benches/dataplane.sh). Packets/s move by a third between runs on a
# busy machine; the time per packet under nft_do_chain moves much less, so
# two layouts taken in turn compare even while others build (the figures
# are then higher than on a quiet machine: compare only within one run).
#
#   benches/perpacket.sh [--rounds N] [--secs S] CONFIG...    (as root)
#
# CONFIG: `none` (no ruleset), FILE.nft (loaded with `nft -f`, e.g. a
# layout edited by hand from `shriekc compile` output) or FILE.shr
# (`shriekc apply --strategy auto`; FILE.shr:sequential for another
# strategy), each optionally followed by @PORT: the UDP port the traffic
# goes to (default 5201, iperf3's, which benches/gen.awk's last two rules
# accept). A port the policy's address rules name makes the packet take
# their path instead of missing every map. The configurations take turns,
# N rounds (default 3) of S seconds (default 3). Prints CSV: round,config,
# port,udp_pps,samples,ns_per_pkt.
#
# Only samples whose task is iperf3 or ksoftirqd are counted (the receiving
# side's softirq runs in one or the other), so other namespaces' traffic on
# the machine stays out.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rounds=3 secs=3 configs=()
while (($#)); do
    case $1 in
    --rounds) rounds=$2; shift ;;
    --secs) secs=$2; shift ;;
    -h | --help) sed -n '2,/^set/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) configs+=("$1") ;;
    esac
    shift
done
((${#configs[@]})) || bench_die "usage: benches/perpacket.sh [--rounds N] [--secs S] CONFIG..."
command -v perf >/dev/null || bench_die "needs perf (linux-perf)"
bench_install_peers
bench_build

bench_veth_pair

echo "round,config,port,udp_pps,samples,ns_per_pkt"
for ((r = 1; r <= rounds; r++)); do
    for config in "${configs[@]}"; do
        file=${config%@*} port=5201
        [[ $config == *@* ]] && port=${config##*@}
        ip netns exec "$sink" nft flush ruleset
        case $file in
        none) ;;
        *.nft) ip netns exec "$sink" nft -f "$file" ;;
        *.shr:*) "$SHRIEKC" apply --netns "$sink" --strategy "${file##*:}" "${file%:*}" >/dev/null ;;
        *) "$SHRIEKC" apply --netns "$sink" --strategy auto "$file" >/dev/null ;;
        esac
        ip netns exec "$sink" iperf3 -s -p "$port" -D -1 >/dev/null 2>&1
        sleep 0.3
        perf record -q -a -g -e cpu-clock -c 250000 -o "$bench_tmp/perf.data" -- \
            ip netns exec "$gen" iperf3 -c 10.77.0.1 -p "$port" -u -b 0 -l 18 -t "$secs" --json \
            >"$bench_tmp/iperf.json" 2>/dev/null
        read -r got pps < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; n=s["packets"]-s["lost_packets"]; print(n, int(n/s["seconds"]))' "$bench_tmp/iperf.json")
        samples=$(perf script -i "$bench_tmp/perf.data" -F comm,ip,sym 2>/dev/null |
            awk 'BEGIN { RS = "" } $1 ~ /^(iperf3|ksoftirqd)/ && /nft_do_chain/ { n++ } END { print n + 0 }')
        printf '%s,%s,%s,%s,%s,%s\n' "$r" "${config%@*}" "$port" "$pps" "$samples" \
            "$(awk -v s="$samples" -v n="$got" 'BEGIN { print (n > 0 ? int(s * 250000 / n) : "-") }')"
    done
done
