#!/usr/bin/env bash
# The headline table of issue 13 from a run's CSV: each row shriekc beside
# the peer it is measured against, the ratio, and the goal.
#
#   benches/summary.sh DIR    (benches/run.sh runs it last, into DIR/summary.md)
set -euo pipefail
dir=${1:?usage: benches/summary.sh DIR}

# cell FILE KEYCOLS... : the value of column $want in the row whose first
# columns are the keys, from a CSV.
cell() {
    local file=$1 want=$2
    shift 2
    [[ -f $file ]] || { echo "-"; return; }
    awk -F, -v want="$want" -v keys="$*" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; nk = split(keys, k, "|"); next }
        { ok = 1; for (i = 1; i <= nk; i++) if ($i != k[i]) ok = 0; if (ok) { print $col[want]; found = 1; exit } }
        END { if (!found) print "-" }' "$file"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f×", a / b; else print "-" }'; }

c=$dir/control.csv d=$dir/dataplane.csv a=$dir/analysis.csv
# The largest size run (100k in a full run, less in a quick one), and 10k
# where it was run.
big=$(cat "$c" "$d" "$a" 2>/dev/null | awk -F, '$3 ~ /^[0-9]+$/ && $3 > m { m = $3 } $2 ~ /^[0-9]+$/ && $2 > m { m = $2 } END { print m + 0 }')
mid=$(grep -q ',10000,' "$d" 2>/dev/null && echo 10000 || echo "$big")
k() { awk -v n="$1" 'BEGIN { print (n >= 1000 ? n / 1000 "k" : n) }'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

echo "| what | shriekc | peer | ratio | goal |"
echo "|---|---:|---:|---:|---|"
for w in ports blended; do
    s=$(cell "$c" seconds "$w|shriekc auto|$big") p=$(cell "$c" seconds "$w|iptables-legacy-restore|$big")
    row "apply $(k $big) $w rules, \`auto\`, whole command" "$s s" "\`iptables-legacy-restore\` $p s" "$(ratio "$s" "$p")" "≤ 1.0×"
done
for w in ports blended; do
    s=$(cell "$c" seconds "$w|shriekc sequential|$big") p=$(cell "$c" seconds "$w|nft -f|$big")
    row "apply $(k $big) $w rules, sequential, whole command" "$s s" "\`nft -f\` $p s" "$(ratio "$s" "$p")" "≤ 0.8×"
done
# Like for like: shriekc counts every rule, plain `nft -f` none.
for w in ports blended; do
    s=$(cell "$c" seconds "$w|shriekc sequential|$big") p=$(cell "$c" seconds "$w|nft -f (counters)|$big")
    row "apply $(k $big) $w rules, sequential, like for like: both count every rule" "$s s" "\`nft -f\`, a \`counter\` per rule, $p s" "$(ratio "$s" "$p")" "(≤ 0.8×)"
    s=$(cell "$c" seconds "$w|shriekc sequential (counters off)|$big") p=$(cell "$c" seconds "$w|nft -f|$big")
    row "apply $(k $big) $w rules, sequential, like for like: neither counts" "\`counters off\` $s s" "\`nft -f\` $p s" "$(ratio "$s" "$p")" "(≤ 0.8×)"
done
for t in sequential auto; do
    s=$(cell "$c" peak_rss_mib "blended|shriekc $t|$big") p=$(cell "$c" peak_rss_mib "blended|nft -f|$big")
    row "peak memory, apply $(k $big) blended rules, $t" "$s MiB" "\`nft -f\` $p MiB" "$(ratio "$s" "$p")" "≤ 0.25×"
done
s=$(cell "$a" seconds "shriekc check --format json|$big") p=$(cell "$a" seconds "nft -c -f|$big")
row "exact analysis of $(k $big) overlapping rules, JSON" "$s s, $(cell "$a" peak_rss_mib "shriekc check --format json|$big") MiB" \
    "\`nft -c -f\` $p s, $(cell "$a" peak_rss_mib "nft -c -f|$big") MiB" "$(ratio "$s" "$p")" "≤ 1.0×"
t=$(cell "$a" seconds "shriekc check --format text|$big")
row "the same findings as text ($(cell "$a" findings "shriekc check --format json|$big") findings)" "$t s" "its own JSON run $s s" "$(ratio "$t" "$s")" "≤ 2×"
# The packet rates: from the interleaved rounds (dataplane-rounds.csv) where
# they ran, the median of the rounds' ratios, each against the mean of its
# round's two no-ruleset runs, with their range; else the suite's one run.
rd=$dir/dataplane-rounds.csv
# rounds WORKLOAD CONFIG: "MEDIAN_PPS MEDIAN_NONE_PPS MEDIAN_RATIO MIN MAX ROUNDS RULES",
# or nothing.
rounds() {
    [[ -f $rd ]] || return 0
    awk -F, -v w="$1" -v c="$2" '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        NR == 1 || $5 !~ /^[0-9]+$/ { next }
        $2 == "none" { none[$1] += $5; nn[$1]++ }
        $2 == w && $3 == c { got[$1] = $5; rules = $4 }
        END {
            for (r in got) if (nn[r]) {
                n++; p[n] = got[r]; z[n] = none[r] / nn[r]; q[n] = p[n] / z[n]
                if (n == 1 || q[n] < lo) lo = q[n]
                if (n == 1 || q[n] > hi) hi = q[n]
            }
            if (n) printf "%.0f %.0f %.2f %.2f %.2f %d %d\n", median(p, n), median(z, n), median(q, n), lo, hi, n, rules
        }' "$rd"
}
# rate_row WHAT WORKLOAD CONFIG RULES GOAL [EXTRA PEER TEXT]: WHAT's %s is
# the number of rules.
rate_row() {
    local what=$1 w=$2 c=$3 n=$4 goal=$5 extra=${6:-} got s p q lo hi m
    got=$(rounds "$w" "$c")
    if [[ -n $got ]]; then
        read -r s p q lo hi m n <<<"$got"
        # shellcheck disable=SC2059
        row "$(printf "$what" "$(k "$n")") (median of $m interleaved rounds)" "$s" "no rules $p$extra" \
            "${q}× (${lo}–${hi}×)" "$goal"
    else
        s=$(cell "$d" udp_pps "$w|$c|$n") p=$(cell "$d" udp_pps "none|none|$n")
        # shellcheck disable=SC2059
        row "$(printf "$what" "$(k "$n")")" "$s" "no rules $p$extra" "$(ratio "$s" "$p")" "$goal"
    fi
}
rate_row "packets/s, %s blended rules, \`auto\`" blended auto "$big" "≥ 0.9×"
s=$(cell "$d" udp_pps "ports|auto|$mid") n=$(cell "$d" udp_pps "ports|nft|$mid")
rate_row "packets/s, %s port rules, \`auto\`" ports auto "$mid" "≥ 0.9× of no rules" \
    "; nft linear chain at $(k "$mid") $n (one run: $(ratio "$s" "$n") of nft)"
if [[ -n $(rounds blended auto@1000) ]]; then
    rate_row "packets/s, %s blended rules, \`auto\`, traffic to udp 1000 (a port the prefix rules name)" \
        blended auto@1000 "$big" "–"
fi
if [[ -n $(rounds floor floor) ]]; then
    rate_row "packets/s, iperf3's two rules alone (\`floor\`)" floor floor 2 "–"
fi
exit 0
