#!/usr/bin/env bash
# A one-rule change that splits a map (issue 9, runtime/src/apply/beside.rs):
# `saddr 10.99.0.1 drop` comes in the middle of a large `ports` policy under
# `auto`, so the run's one map splits in two and half its elements move to
# a new map while a rule comes. `apply` makes the map that stays anew beside
# the old one (its rules replaced, the old map deleted after the packets in
# flight), so that no packet meets the old rules with the new elements.
#
# It measures, with hyperfine (the least of RUNS runs), each on top of the
# base policy applied first, outside the timing:
#   split      `shriekc apply` of the policy with the rule added
#   after      `shriekc apply` of a port moved in the split policy, on top
#              of the split: the map that stays goes by its staged name now,
#              which the day-2 cache keeps as it keeps any map
# and, from the same runs, the staging transaction (the map made anew) and
# the batch's, as `shriekc apply` prints them. Beside them, the peer:
# `nft -f` of `shriekc compile` output of the split policy, the table
# replaced whole in one transaction (what nft offers for such a change; it
# zeroes every counter). On standard error, one more split with
# SHRIEKC_PHASES set.
#
# Usage (as root): benches/split.sh [RULES] [RUNS]   (defaults 100000 and 3;
# benches/run.sh runs it as its `split` part)
# Prints a Markdown table for BENCHMARKS.md. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

source benches/lib.sh
rules=${1:-100000}
runs=${2:-3}
bench_install_peers
bench_build
bin=$SHRIEKC
ns=$(bench_ns_new)
work=$bench_tmp

mid=$((rules / 2 + 3))
bench_gen ports shr "$rules" >"$work/base.shr"
awk -v mid=$mid 'NR == mid { print "    saddr 10.99.0.1 drop" } { print }' \
    "$work/base.shr" >"$work/split.shr"
awk -v at=$((rules / 4 + 3)) 'NR == at { sub(/dport [0-9]+/, "dport 65002") } { print }' \
    "$work/split.shr" >"$work/after.shr"

in_ns() { ip netns exec "$ns" "$@"; }
clear_ns() { in_ns nft delete table inet bench 2>/dev/null || true; }
# apply_as FILE: FILE applied as the one policy file, outside the timing.
apply_as() { cp "$work/$1" "$work/p.shr" && "$bin" apply --force --netns "$ns" --strategy auto "$work/p.shr" >/dev/null; }
# The least of the staging transaction's figures in FILE (`in a transaction
# of its own (X ms)`).
least_staging() { sed -n 's/.*of its own (\([0-9.]*\) ms).*/\1/p' "$1" | sort -g | head -1; }

export -f apply_as clear_ns in_ns
export bin ns work
bench() {
    hyperfine --shell=bash -r "$runs" -w 0 --export-json "$1" --prepare "$2" "$3" >/dev/null
}

bench "$work/split.json" "clear_ns; apply_as base.shr; cp $work/split.shr $work/p.shr" \
    "$bin apply --force --netns $ns --strategy auto $work/p.shr >>$work/split.out"
if ! grep -q "made anew beside the old" "$work/split.out"; then
    echo "split.sh: the split made no map anew:" >&2
    cat "$work/split.out" >&2
    exit 1
fi
bench "$work/after.json" "clear_ns; apply_as base.shr; apply_as split.shr; cp $work/after.shr $work/p.shr" \
    "$bin apply --force --netns $ns --strategy auto $work/p.shr >>$work/after.out"
"$bin" compile --strategy auto "$work/split.shr" >"$work/split.nft"
bench "$work/nft.json" "clear_ns; apply_as base.shr" "in_ns nft -f $work/split.nft"

printf '| rules | split (CPU) | staging tx | batch tx | port change after it (CPU) | its tx | `nft -f` whole (CPU) |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
printf '| %d | %.2f s (%.2f s) | %s ms | %s ms | %.2f s (%.2f s) | %s ms | %.2f s (%.2f s) |\n' \
    "$rules" "$(bench_least_s "$work/split.json")" "$(bench_cpu_s "$work/split.json")" \
    "$(least_staging "$work/split.out")" "$(bench_least_tx "$work/split.out")" \
    "$(bench_least_s "$work/after.json")" "$(bench_cpu_s "$work/after.json")" \
    "$(bench_least_tx "$work/after.out")" \
    "$(bench_least_s "$work/nft.json")" "$(bench_cpu_s "$work/nft.json")"
clear_ns
apply_as base.shr
cp "$work/split.shr" "$work/p.shr"
SHRIEKC_PHASES=1 "$bin" apply --force --netns "$ns" --strategy auto "$work/p.shr" 2>&1 >/dev/null |
    sed -n 's/^phases/  split, phases/p' >&2
clear_ns
echo "(the least of $runs runs each; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
