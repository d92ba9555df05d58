# The bench suite's one policy generator: the same N rules written for each
# tool, so that every tool loads, checks or forwards through the same policy.
#
#   awk -v workload=W -v format=F -v n=N [-v counters=off|counted] -f benches/gen.awk
#
# workload:
#   ports    tcp/udp `dport P`, the verdict alternating every two ports so
#            that `auto` cannot merge neighbours into one interval
#   blended  a busy host: a quarter each of tcp/udp ports, source.port pairs
#            (`saddr HOST tcp dport P`), services (`daddr VIP tcp dport P`,
#            as kube-proxy's) and prefix.port (`saddr NET/24 udp dport P`);
#            no rule overlaps another, so `check` finds nothing
#   overlap  random overlapping rules for the analysis: source prefixes /16
#            to /28 inside 10.0.0.0/8, tcp/udp port ranges of width 0 to
#            5000, accept/drop/reject (deterministic: a fixed seed)
# format: shr (shriekc), nft (`nft -f`, one linear chain), ipt
#         (`iptables-restore`, IPv4 only: iptables has no inet family)
# counters: off writes `counters off` in the shr format (shriekc counts
#         every rule by default); counted gives every rule of the nft format
#         a `counter`, as shriekc's per-rule counters (iptables counts every
#         rule whatever it is told)
#
# ports and blended end with `iif v0 udp dport 5201 accept` and the same for
# tcp: iperf3's port, on the bench's veth. The test traffic (10.77.0.2 ->
# 10.77.0.1) matches no other rule, and the interface keeps these two out of
# every map, so its packets pass every other rule or map lookup first: a
# linear chain's worst case, the one maps are for, and one per-rule counter
# per packet.

function rule(sa, da, proto, port, verdict, iif) {
    if (format == "shr") {
        line = iif == "" ? "" : "iif " iif " "
        if (sa != "") line = "saddr " sa " "
        if (da != "") line = line "daddr " da " "
        printf "    %s%s dport %s %s\n", line, proto, port, verdict
    } else if (format == "nft") {
        line = iif == "" ? "" : "iifname \"" iif "\" "
        if (sa != "") line = "ip saddr " sa " "
        if (da != "") line = line "ip daddr " da " "
        if (counters == "counted") verdict = "counter " verdict
        printf "    %s%s dport %s %s\n", line, proto, port, verdict
    } else {
        line = "-A INPUT"
        if (iif != "") line = line " -i " iif
        if (sa != "") line = line " -s " sa
        if (da != "") line = line " -d " da
        gsub(/-/, ":", port)
        target = verdict == "accept" ? "ACCEPT" : verdict == "drop" ? "DROP" : "REJECT"
        printf "%s -p %s --dport %s -j %s\n", line, proto, port, target
    }
}

# The verdict of the k-th rule of a kind.
function verdict_of(k) { return k % 2 == 1 ? "drop" : "accept" }

function host(a, j) { return a "." int(j / 65536) % 256 "." int(j / 256) % 256 "." j % 256 }

BEGIN {
    if (format == "shr") {
        if (counters == "off") print "counters off"
        print "table bench {\n  chain input hook input policy accept {"
    } else if (format == "nft") {
        print "table inet bench {\n  chain input {\n    type filter hook input priority 0; policy accept;"
    } else {
        print "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]"
    }
    if (workload == "overlap") {
        srand(7)
        for (i = 0; i < n; i++) {
            r = int(rand() * 20)
            with_addr = r != 1
            with_port = r != 0
            sa = ""
            if (with_addr) {
                len = 16 + int(rand() * 13)
                size = 2 ^ (32 - len)
                sa = host(10, int(rand() * 16777216 / size) * size) "/" len
            }
            proto = ""
            if (with_port) {
                proto = int(rand() * 4) == 0 ? "udp" : "tcp"
                lo = int(rand() * 60000)
                w = int(rand() * 6)
                width = w < 2 ? 0 : w == 2 ? 10 : w == 3 ? 100 : w == 4 ? 1000 : 5000
                port = width == 0 ? lo : lo "-" lo + width
            }
            v = int(rand() * 3)
            verdict = v == 0 ? "accept" : v == 1 ? "drop" : "reject"
            if (with_port) {
                rule(sa, "", proto, port, verdict)
            } else if (format == "shr") {
                printf "    saddr %s %s\n", sa, verdict
            } else if (format == "nft") {
                printf "    ip saddr %s %s%s\n", sa, counters == "counted" ? "counter " : "", verdict
            } else {
                printf "-A INPUT -s %s -j %s\n", sa, toupper(verdict)
            }
        }
    } else {
        body = n - 2
        for (i = 0; i < body; i++) {
            if (workload == "ports") {
                port = 1 + int(i / 2)
                rule("", "", i % 2 ? "udp" : "tcp", port + (port >= 5201), verdict_of(int(i / 2)))
                continue
            }
            j = int(i / 4)
            k = i % 4
            if (k == 0) {
                rule("", "", j % 2 ? "udp" : "tcp", 20000 + int(j / 2), verdict_of(int(j / 2)))
            } else if (k == 1) {
                rule(host(172, 16 * 65536 + j), "", "tcp", 1024 + j % 1000, verdict_of(j))
            } else if (k == 2) {
                rule("", host(10, 96 * 65536 + j), "tcp", 80 + j % 3, verdict_of(j))
            } else {
                rule(host(10, 128 * 65536 + j * 256) "/24", "", "udp", 1000 + j % 50, verdict_of(j))
            }
        }
        rule("", "", "udp", 5201, "accept", "v0")
        rule("", "", "tcp", 5201, "accept", "v0")
    }
    if (format == "ipt") print "COMMIT"
    else if (format == "nft") print "  }\n}"
    else print "  }\n}"
}
