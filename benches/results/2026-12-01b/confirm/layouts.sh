#!/usr/bin/env bash
# The hand-made layouts priced before the 05:15 run (stop 27), from
# `shriekc compile` output of benches/gen.awk's 100k policies:
#   layouts.sh SEQ.nft > BLOCKED.nft   sequential, each rule's `meta l4proto`
#       moved to one `meta l4proto tcp|udp jump` into a chain per protocol
#       (rules of two protocols are disjoint, so their order across the two
#       does not matter; within each, the policy's order is kept)
#   layouts.sh --two-level AUTO.nft > TWO.nft   auto, 100k blended: the port
#       map's lookup also sends the ports the address rules name to a chain
#       holding only the lookups of the kinds that name that port (services
#       tcp 80-82, hosts tcp 1024-2023, prefixes udp 1000-1049), so a packet
#       to a port no address rule names takes one lookup
set -euo pipefail
if [[ $1 == --two-level ]]; then
    awk '
    /^table inet bench \{$/ && !hdr { print; print "\tchain l2_svc {\n\t}\n\tchain l2_host {\n\t}\n\tchain l2_pfx {\n\t}"; hdr = 1; next }
    /map input_dport \{/ { inport = 1 }
    inport && /elements = \{/ {
        extra = ""
        for (p = 80; p <= 82; p++) extra = extra "tcp . " p " : jump l2_svc,\n\t\t\t     "
        for (p = 1024; p <= 2023; p++) extra = extra "tcp . " p " : jump l2_host,\n\t\t\t     "
        for (p = 1000; p <= 1049; p++) extra = extra "udp . " p " : jump l2_pfx,\n\t\t\t     "
        sub(/elements = \{ /, "elements = { " extra)
        inport = 0
    }
    /^\t\tmeta l4proto tcp ip saddr \. th dport vmap/ { host = $0; sub(/meta l4proto tcp /, "", host); next }
    /^\t\tmeta l4proto udp ip saddr & / { pfx = $0; sub(/meta l4proto udp /, "", pfx); next }
    /^\t\tmeta l4proto tcp ip daddr \. th dport vmap/ { svc = $0; sub(/meta l4proto tcp /, "", svc); next }
    /^\t}$/ && inchain { print; printf "\tchain l2_svc {\n%s\n\t}\n\tchain l2_host {\n%s\n\t}\n\tchain l2_pfx {\n%s\n\t}\n", svc, host, pfx; inchain = 0; next }
    /^\tchain input \{/ { inchain = 1 }
    { print }' "$2"
else
    awk '
    /^\t\tmeta l4proto (tcp|udp) / { p = $3; sub(/meta l4proto (tcp|udp) /, ""); blk[p] = blk[p] $0 "\n"; next }
    /^\t}$/ && !done { print "\t\tmeta l4proto tcp jump input_tcp\n\t\tmeta l4proto udp jump input_udp"; print
        printf "\tchain input_tcp {\n%s\t}\n\tchain input_udp {\n%s\t}\n", blk["tcp"], blk["udp"]; done = 1; next }
    { print }' "$1"
fi
