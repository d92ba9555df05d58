#!/usr/bin/env bash
# Two shriekc binaries side by side, in the same minutes: the first apply of
# RULES ports and blended rules, sequential and auto, into a fresh network
# namespace each run, and a one-rule change on top of the first apply (the
# `ports` change of benches/day2.sh), the binaries taking turns run by run.
#
#   benches/ab.sh BEFORE AFTER [RULES] [RUNS]   (defaults 100000 and 3)
#
# Prints CSV (case, binary, wall seconds, peak MiB, CPU seconds: user +
# system), the median of RUNS runs for each, from GNU time. AB_WORKLOADS
# ("ports blended"), AB_STRATEGIES ("sequential auto") and AB_KINDS ("first
# change") pick the cases. Run it as root on
# a machine as quiet as you can get; a figure taken under load compares only
# with one taken in the same minutes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(($# >= 2)) || bench_die "usage: benches/ab.sh BEFORE AFTER [RULES] [RUNS]"
before=$1 after=$2 rules=${3:-100000} runs=${4:-3}
bench_install_peers
ns=$(bench_ns_new)
work=$bench_tmp

for w in ports blended; do
    bench_gen "$w" shr "$rules" >"$work/$w.shr"
    awk -v mid=$((rules / 2 + 3)) 'NR == mid { sub(/dport [0-9]+/, "dport 65001") } { print }' \
        "$work/$w.shr" >"$work/$w-changed.shr"
done

clear_ns() { ip netns exec "$ns" nft delete table inet bench 2>/dev/null || true; }
# One timed command as "WALL PEAK_KIB CPU".
timed() {
    /usr/bin/time -f '%e %M %U %S' -o "$work/t" "$@" >/dev/null 2>"$work/err" ||
        { echo "ab.sh: failed: $*" >&2; tail -3 "$work/err" >&2; exit 1; }
    awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$work/t"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "case,binary,wall_s,peak_mib,cpu_s"
read -ra workloads <<<"${AB_WORKLOADS:-ports blended}"
read -ra strategies <<<"${AB_STRATEGIES:-sequential auto}"
read -ra kinds <<<"${AB_KINDS:-first change}"
for w in "${workloads[@]}"; do
    for s in "${strategies[@]}"; do
        for kind in "${kinds[@]}"; do
            declare -A wall=() peak=() cpu=()
            for ((i = 0; i < runs; i++)); do
                for b in before after; do
                    bin=${!b}
                    clear_ns
                    cp "$work/$w.shr" "$work/policy.shr"
                    if [[ $kind == change ]]; then
                        "$bin" apply --netns "$ns" --strategy "$s" "$work/policy.shr" >/dev/null 2>&1
                        cp "$work/$w-changed.shr" "$work/policy.shr"
                    fi
                    read -r t m c < <(timed "$bin" apply --netns "$ns" --strategy "$s" "$work/policy.shr")
                    wall[$b]+="$t " peak[$b]+="$m " cpu[$b]+="$c "
                done
            done
            for b in before after; do
                # shellcheck disable=SC2086
                printf '%s,%s,%s,%s,%s\n' "apply $kind $s $w" "$b" "$(median ${wall[$b]})" \
                    "$(bench_mib "$(median ${peak[$b]})" | cut -d. -f1)" "$(median ${cpu[$b]})"
            done
            unset wall peak cpu
        done
    done
done
clear_ns
echo "(median of $runs runs each, $rules rules; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)" >&2
