# Helpers every part of the bench suite shares: sourced by benches/run.sh
# and by a part run on its own. Nothing here touches the host's ruleset:
# every ruleset is loaded inside a network namespace made here, named
# shriek-bench-PID-N, and deleted on exit.

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_root=$(dirname "$bench_dir")

bench_die() {
    echo "benches: $*" >&2
    exit 2
}

# Install what the suite drives but does not build, where missing: the
# peers (nft, iptables in both flavours), iperf3, hyperfine, GNU time.
bench_install_peers() {
    [[ $(id -u) == 0 ]] || bench_die "needs root: it makes network namespaces"
    local want=() cmd pkg
    for pair in nft:nftables iptables-legacy-restore:iptables iptables-nft-restore:iptables \
        iperf3:iperf3 hyperfine:hyperfine /usr/bin/time:time ip:iproute2 python3:python3 strace:strace; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null || want+=("$pkg")
    done
    if ((${#want[@]})); then
        echo "benches: installing ${want[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null ||
            bench_die "could not install ${want[*]}"
    fi
}

# A fresh network namespace; its name goes to stdout. Deleted on exit. Called
# in a command substitution, so the subshell's own pid makes the name unique.
bench_ns_new() {
    local ns="shriek-bench-$$-$BASHPID"
    ip netns add "$ns" || bench_die "cannot make network namespace $ns"
    ip -n "$ns" link set lo up
    echo "$ns"
}

# The data plane's two hosts: sets `gen` (sends, 10.77.0.2 on v1) and
# `sink` (receives, 10.77.0.1 on v0), two new namespaces joined by a veth
# pair. Each name comes from its own subshell, so the two differ.
bench_veth_pair() {
    gen=$(bench_ns_new)
    sink=$(bench_ns_new)
    ip -n "$sink" link add v0 type veth peer name v1 netns "$gen"
    ip -n "$sink" addr add 10.77.0.1/24 dev v0
    ip -n "$gen" addr add 10.77.0.2/24 dev v1
    ip -n "$sink" link set v0 up
    ip -n "$gen" link set v1 up
}

bench_ns_del() {
    ip netns pids "$1" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$1" 2>/dev/null || true
}

# Every namespace this run made (names carry the shell's pid), on exit.
bench_cleanup() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk -v p="shriek-bench-$$-" 'index($1, p) == 1 { print $1 }'); do
        bench_ns_del "$ns"
    done
    [[ -n ${bench_tmp:-} ]] && rm -rf "$bench_tmp"
}

bench_tmp=$(mktemp -d /tmp/shriek-bench.XXXXXX)
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# gen WORKLOAD FORMAT N [counters]: a policy from benches/gen.awk, on stdout.
bench_gen() {
    awk -v workload="$1" -v format="$2" -v n="$3" -v counters="${4:-on}" -f "$bench_dir/gen.awk"
}

# Wall seconds and peak RSS (KiB) of one command, as "SECONDS KIB", from GNU
# time; "fail fail" when the command fails (its output is kept in
# $bench_tmp/last.err) and "timeout timeout" past BENCH_TIMEOUT seconds.
bench_time() {
    local out="$bench_tmp/time.out" rc=0
    timeout "${BENCH_TIMEOUT:-600}" /usr/bin/time -f '%e %M' -o "$out" "$@" \
        >"$bench_tmp/last.out" 2>"$bench_tmp/last.err" || rc=$?
    if ((rc == 124)); then
        echo "timeout timeout"
    elif ((rc != 0 && rc != ${BENCH_OK_RC:-0})); then
        echo "benches: failed ($rc): $*" >&2
        tail -3 "$bench_tmp/last.err" >&2
        echo "fail fail"
    else
        tail -1 "$out"
    fi
}

# The median of the numbers given; the first word given when none is a
# number (every run failed or timed out).
bench_median() {
    printf '%s\n' "$@" | awk -v first="$1" '/^[0-9.]+$/ { v[++n] = $1 }
        END { if (!n) { print first; exit } asort_n(); print v[int((n + 1) / 2)] }
        function asort_n(  i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        }'
}

# The least wall time, in seconds, of a hyperfine JSON export.
bench_least_s() { awk -F: '/"min"/ { gsub(/[ ,]/, "", $2); print $2; exit }' "$1"; }

# The mean CPU time (user + system), in seconds, of a hyperfine JSON export:
# on a busy machine wall time waits for the CPU, CPU time does not.
bench_cpu_s() { awk -F: '/"user"|"system"/ { gsub(/[ ,]/, "", $2); t += $2 } END { print t }' "$1"; }

# The least of the `(transaction X ms)` figures in a file of `shriekc apply`
# outputs.
bench_least_tx() { sed -n 's/.*(transaction \([0-9.]*\) ms).*/\1/p' "$1" | sort -g | head -1; }

# KiB as MiB, one decimal; anything else as it is.
bench_mib() {
    awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else print k }'
}

# csv FILE HEADER: start a part's result file afresh.
bench_csv() {
    echo "$2" >"$1"
}

# A CSV file as an aligned table on stdout.
bench_table() {
    echo
    column -s, -t <"$1"
    echo
}

# The release shriekc the suite measures, built if needed.
bench_build() {
    if [[ -z ${SHRIEKC:-} ]]; then
        (cd "$bench_root" && cargo build --release -q -p shriekc) || bench_die "cannot build shriekc"
        SHRIEKC=$bench_root/target/release/shriekc
    fi
    export SHRIEKC
}
