#!/usr/bin/env bash
# Packet rate through a policy of N port rules, with per-rule counters on
# and off, for each strategy, beside an empty ruleset: 64-byte UDP packets
# (iperf3, 18-byte payload) across a veth pair between two network
# namespaces; the figure is what the receiving side took in per second.
#
#   bench/packet-rate.sh [RULES] [SECONDS]      (as root; defaults 10000 and 5)
#
# Every packet is taken by the last of the N rules (the others accept other
# ports), so a sequential chain makes it pass every rule, the worst case and
# the one a verdict map is for, and with counters on exactly one per-rule
# counter (or map element counter) runs per packet. Run it on a quiet machine.
set -euo pipefail
rules=${1:-10000}
secs=${2:-5}
shriekc=${SHRIEKC:-$(dirname "$0")/../target/release/shriekc}
tag="shriek-rate-$$"
gen="$tag-gen"
sink="$tag-sink"
dir=$(mktemp -d)
cleanup() {
    ip netns pids "$sink" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$gen" 2>/dev/null || true
    ip netns del "$sink" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$gen"
ip netns add "$sink"
ip -n "$sink" link add v0 type veth peer name v1 netns "$gen"
ip -n "$sink" addr add 10.77.0.1/24 dev v0
ip -n "$gen" addr add 10.77.0.2/24 dev v1
for ns in "$gen" "$sink"; do ip -n "$ns" link set lo up; done
ip -n "$sink" link set v0 up
ip -n "$gen" link set v1 up

policy() { # counters(on|off)
    echo "counters $1"
    echo "table rate {"
    echo "  chain input hook input policy accept {"
    for ((i = 0; i < rules - 1; i++)); do
        echo "    udp dport $((10000 + i % 50000)) accept"
    done
    # iperf3's data port, last: a sequential chain's worst case.
    echo "    udp dport 5201 accept"
    echo "  }"
    echo "}"
}

rate() { # prints received packets per second
    ip netns exec "$sink" iperf3 -s -D -1 >/dev/null 2>&1
    sleep 0.3
    ip netns exec "$gen" iperf3 -c 10.77.0.1 -u -b 0 -l 18 -t "$secs" --json |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["end"]["sum"]; print(int((s["packets"]-s["lost_packets"])/s["seconds"]))'
}

printf '%-40s %12s\n' "ruleset" "packets/s"
printf '%-40s %12s\n' "empty" "$(rate)"
for counters in on off; do
    policy "$counters" >"$dir/p.shr"
    for strategy in sequential dispatch auto; do
        "$shriekc" apply --strategy "$strategy" --netns "$sink" "$dir/p.shr" >/dev/null
        printf '%-40s %12s\n' "$rules rules, $strategy, counters $counters" "$(rate)"
    done
done
