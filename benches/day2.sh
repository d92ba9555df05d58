#!/usr/bin/env bash
# Day-2 apply (issue 9): a one-rule change to a large policy, against the
# first apply of it, sequential and auto, in a network namespace of its own.
#
# For each strategy it measures, with hyperfine (the minimum of RUNS runs,
# because the figure a quiet machine gives is the one that compares):
#   first      `shriekc apply` of the policy into an empty namespace
#   change     `shriekc apply` of the same policy with one rule changed
#              (a port moved in the middle), on top of the first apply,
#              which left its day-2 cache (runtime/src/cache.rs)
#   no cache   the same change with SHRIEKC_NO_CACHE=1: the live tables
#              dumped whole, as before the cache
# and, from the same runs of `shriekc apply` (which prints its transaction's
# time), the transaction alone: from sending the batch to the kernel's answer.
# On standard error, one more change with SHRIEKC_PHASES set: where its time
# goes (parse and resolve, the analysis beside reading and lowering, when
# the reading of the live tables, on its own thread from the start, ended,
# then planning, the transaction and keeping the cache).
# Beside them, the peers: `nft -f` of `shriekc compile` output, loaded whole,
# `nft list table` of the applied policy, which reads what a day-2 apply
# must read, and nft's own one-rule change, `nft replace rule` of the
# middle rule with a verdict by its handle, its transaction alone (the
# batch's `sendmsg`, which the kernel answers once it has committed, timed
# by strace): the kernel's floor for changing one rule of that table.
#
# Usage (as root): benches/day2.sh [RULES] [RUNS]   (defaults 100000 and 5;
# benches/run.sh runs it as its `day2` part)
# Prints a Markdown table for BENCHMARKS.md. Not a test: run it on a machine
# as quiet as you can get, and say how quiet it was.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/lib.sh
rules=${1:-100000}
runs=${2:-5}
bench_install_peers
bench_build
bin=$SHRIEKC
ns=$(bench_ns_new)
work=$bench_tmp

# The `ports` workload of benches/gen.awk: RULES rules alternating
# `tcp`/`udp dport N`, the verdict alternating with the port so that `auto`
# cannot merge neighbours into one interval (its maps hold RULES elements);
# the changed policy moves the middle rule to a port no other rule uses.
# (Flipping a verdict instead can let `auto` merge three neighbours into an
# interval, which changes the map's kind and so makes the map again: `plan`
# says so.) One file name for both: a table records the policy file that
# made it.
bench_gen ports shr "$rules" >"$work/base.shr"
awk -v mid=$((rules / 2 + 3)) 'NR == mid { sub(/dport [0-9]+/, "dport 65001") } { print }' \
    "$work/base.shr" >"$work/changed.shr"

in_ns() { ip netns exec "$ns" "$@"; }
clear_ns() { in_ns nft delete table inet bench 2>/dev/null || true; }
apply_base() { cp "$work/base.shr" "$work/day2.shr" && "$bin" apply --netns "$ns" --strategy "$1" "$work/day2.shr" >/dev/null; }
export -f apply_base clear_ns in_ns
export bin ns work
# hyperfine through bash (which sees the functions above), its start-up
# time subtracted: bench JSON PREPARE COMMAND.
bench() {
    hyperfine --shell=bash -r "$runs" -w 0 --export-json "$1" --prepare "$2" "$3" >/dev/null
}

# nft's own one-rule change on the applied policy: the least, in
# milliseconds, of RUNS `nft replace rule` of the middle rule that has a
# verdict (by its handle, with its own text) as strace times the batch's
# `sendmsg`. A rule with a verdict, because the kernel validates the
# whole table at the commit of any rule holding one.
peer_replace_tx() {
    local line chain handle text i
    line=$(in_ns nft -a list table inet bench | awk '
        /^\tchain / { chain = $2 }
        /(accept|drop) .*# handle [0-9]+$/ { n++; c[n] = chain; l[n] = $0 }
        END { m = int((n + 1) / 2); print c[m] "\t" l[m] }')
    chain=${line%%$'\t'*}
    text=${line#*$'\t'}
    handle=${text##*# handle }
    text=${text% # handle *}
    printf 'replace rule inet bench %s handle %s %s\n' "$chain" "$handle" "${text#"${text%%[![:space:]]*}"}" >"$work/replace.nft"
    for ((i = 0; i < runs; i++)); do
        in_ns strace -T -e trace=sendmsg nft -f "$work/replace.nft" 2>&1 >/dev/null |
            sed -n 's/.*NFT_MSG_NEWRULE.*<\([0-9.]*\)>$/\1/p'
    done | sort -g | head -1 | awk '{ printf "%.2f ms", $1 * 1000 }'
}

printf '| strategy | rules | first apply (CPU) | first tx | one-rule change (CPU) | change tx | change / first | change, no cache (CPU) | `nft -f` whole (CPU) | `nft list table` (CPU) | `nft replace rule` tx |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for strategy in sequential auto; do
    # First apply: an empty namespace each run.
    bench "$work/first.json" "clear_ns; cp $work/base.shr $work/day2.shr" \
        "$bin apply --netns $ns --strategy $strategy $work/day2.shr >>$work/first.out"
    # The change: the base policy applied first, outside the timing.
    bench "$work/change.json" "clear_ns; apply_base $strategy; cp $work/changed.shr $work/day2.shr" \
        "$bin apply --netns $ns --strategy $strategy $work/day2.shr >>$work/change.out"
    bench "$work/nocache.json" "clear_ns; apply_base $strategy; cp $work/changed.shr $work/day2.shr" \
        "SHRIEKC_NO_CACHE=1 $bin apply --netns $ns --strategy $strategy $work/day2.shr >>$work/nocache.out"
    # A delta, not a table replaced whole nor nothing at all.
    if grep -q "replaced\|no changes" "$work/change.out"; then
        echo "day2.sh: the change did not apply as a delta:" >&2
        cat "$work/change.out" >&2
        exit 1
    fi
    # The peer: nft -f of the compiled policy, into an empty namespace.
    "$bin" compile --strategy "$strategy" "$work/base.shr" >"$work/base.nft"
    bench "$work/nft.json" clear_ns "in_ns nft -f $work/base.nft"
    bench "$work/list.json" "clear_ns; apply_base $strategy" \
        "in_ns nft list table inet bench >/dev/null"
    replace_tx=$(peer_replace_tx)
    first=$(bench_least_s "$work/first.json")
    change=$(bench_least_s "$work/change.json")
    printf '| %s | %d | %.2f s (%.2f s) | %.1f ms | %.2f s (%.2f s) | %.2f ms | %.2f× | %.2f s (%.2f s) | %.2f s (%.2f s) | %.2f s (%.2f s) | %s |\n' \
        "$strategy" "$rules" "$first" "$(bench_cpu_s "$work/first.json")" "$(bench_least_tx "$work/first.out")" \
        "$change" "$(bench_cpu_s "$work/change.json")" "$(bench_least_tx "$work/change.out")" \
        "$(awk -v a="$change" -v b="$first" 'BEGIN { print a / b }')" \
        "$(bench_least_s "$work/nocache.json")" "$(bench_cpu_s "$work/nocache.json")" \
        "$(bench_least_s "$work/nft.json")" "$(bench_cpu_s "$work/nft.json")" \
        "$(bench_least_s "$work/list.json")" "$(bench_cpu_s "$work/list.json")" "$replace_tx"
    tail -1 "$work/change.out" | sed 's/^/  last change: /' >&2
    # Where one more change's time goes (SHRIEKC_PHASES: milliseconds from
    # the start of the command), for the notes under the table.
    clear_ns
    apply_base "$strategy"
    cp "$work/changed.shr" "$work/day2.shr"
    SHRIEKC_PHASES=1 "$bin" apply --netns "$ns" --strategy "$strategy" "$work/day2.shr" 2>&1 >/dev/null |
        sed -n 's/^phases/  change, phases/p' >&2
    rm -f "$work"/*.out
    clear_ns
done
echo "(the least of $runs runs each; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
