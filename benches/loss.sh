#!/usr/bin/env bash
# Datagrams dropped at the firewall while a policy is re-applied (issue 9:
# "no counted packet may be lost"). A client streams UDP to port 6003 as
# fast as Python sends (about 400,000 a second here), which every version
# of the policy accepts, through a veth pair into a namespace whose input
# hook holds the policy and a table of this script's own counting port 6003
# at priority -300 (before the policy) and 300 (after it). With the stream
# stopped, the difference of the two is what the policy dropped, exactly.
#
# Two scenarios, each re-applied SWITCHES times:
#   rebuild  10,000 address rules and a rule with a set of ports holding a
#            range (`udp dport { 6003, 41000-41001 }`), switched between
#            `auto` and `sequential`: each switch lays the table out again,
#            and the rule's set is made anew.
#   merge    two runs of port rules, split by an address rule or not: the
#            second run's map merges into the first, which gains its
#            elements (the streamed port among them), and splits again.
#   hashed   single ports only (a hashed map in `auto`), switched between
#            `auto` and `sequential` 10 x SWITCHES times: each switch to
#            `sequential` deletes the map that held the streamed port.
#
# Usage (as root): benches/loss.sh [SWITCHES] [ROUNDS]   (defaults 20 and 3)
# SHRIEKC names the binary; SHRIEKC_OLD, when set, a second one that takes
# turns with it (an A/B in the same minutes). Prints CSV:
#   scenario,binary,datagrams,dropped_at_firewall
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/lib.sh
switches=${1:-20}
rounds=${2:-3}
bench_build
work=$bench_tmp

{
    printf 'table live {\n  chain input hook input policy drop {\n    tcp dport 22 accept\n'
    printf '    udp dport { 6003, 41000, 41001 } accept\n'
    for i in $(seq 0 9999); do
        echo "    saddr 10.$((i / 250 + 100)).$((i % 250)).1 tcp dport $((20000 + i)) accept"
    done
    printf '    udp dport 6010 accept\n    udp dport 6011 accept\n    udp dport 6012 accept\n'
    printf '    udp dport 6013 accept\n  }\n}\n'
} >"$work/rebuild.shr"
cat >"$work/split.shr" <<'EOF'
table live {
  chain input hook input policy drop {
    tcp dport 22 accept
    udp dport 7001 accept
    udp dport 7002 accept
    udp dport 7003-7004 accept
    udp dport 7005 accept
    saddr 10.66.0.1 drop
    udp dport 6003 accept
    udp dport 6010 accept
    udp dport 6011-6012 accept
    udp dport 6013 accept
    tcp dport 80 accept
  }
}
EOF
grep -v 'saddr 10.66.0.1' "$work/split.shr" >"$work/merged.shr"
# One run of single ports: a hashed map in `auto`.
grep -v 'saddr 10.66.0.1' "$work/split.shr" | sed 's/7003-7004/7003/; s/6011-6012/6011/' \
    >"$work/hashed.shr"

# The sender: datagrams to 6003 until killed.
cat >"$work/send.py" <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    for _ in range(200):
        s.sendto(b"x", ("10.77.0.1", 6003))
EOF

# scenario BINARY NAME LABEL: one CSV line.
scenario() {
    local bin=$1 name=$2 label=$3 gen sink i sp seen passed
    bench_veth_pair
    ip netns exec "$sink" nft -f - <<'EOF'
table inet count {
  chain pre { type filter hook input priority -300; udp dport 6003 counter; }
  chain post { type filter hook input priority 300; udp dport 6003 counter; }
}
EOF
    # Its notes (the strategy the table records differs) go to a log.
    in_sink() { "$bin" apply --force --netns "$sink" "$@" "$work/live.shr" >/dev/null 2>>"$work/apply.err"; }
    case $name in
        rebuild) cp "$work/rebuild.shr" "$work/live.shr" && in_sink --strategy auto ;;
        merge) cp "$work/split.shr" "$work/live.shr" && in_sink --strategy auto ;;
        hashed) cp "$work/hashed.shr" "$work/live.shr" && in_sink --strategy auto ;;
    esac
    ip netns exec "$gen" python3 "$work/send.py" &
    sp=$!
    sleep 0.3
    local n=$switches
    [[ $name == hashed ]] && n=$((10 * switches))
    for i in $(seq 1 "$n"); do
        case $name in
            rebuild | hashed)
                if ((i % 2)); then in_sink --strategy sequential; else in_sink --strategy auto; fi
                ;;
            merge)
                if ((i % 2)); then cp "$work/merged.shr" "$work/live.shr"; else cp "$work/split.shr" "$work/live.shr"; fi
                in_sink --strategy auto
                ;;
        esac
    done
    sleep 0.2
    kill "$sp"
    wait "$sp" 2>/dev/null || true
    sleep 0.3
    read -r seen passed < <(ip netns exec "$sink" nft list table inet count |
        awk '/packets/ { print $6 }' | paste -sd' ')
    echo "$name,$label,$seen,$((seen - passed))"
    bench_ns_del "$gen"
    bench_ns_del "$sink"
}

echo "scenario,binary,datagrams,dropped_at_firewall"
for _ in $(seq 1 "$rounds"); do
    for name in rebuild merge hashed; do
        [[ -n ${SHRIEKC_OLD:-} ]] && scenario "$SHRIEKC_OLD" "$name" old
        scenario "$SHRIEKC" "$name" new
    done
done
