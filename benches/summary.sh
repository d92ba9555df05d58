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
s=$(cell "$d" udp_pps "blended|auto|$big") p=$(cell "$d" udp_pps "none|none|$big")
row "packets/s, $(k $big) blended rules, \`auto\`" "$s" "no rules $p" "$(ratio "$s" "$p")" "≥ 0.9×"
s=$(cell "$d" udp_pps "ports|auto|$mid") p=$(cell "$d" udp_pps "none|none|$mid") n=$(cell "$d" udp_pps "ports|nft|$mid")
row "packets/s, $(k $mid) port rules, \`auto\`" "$s" "no rules $p; nft linear chain $n" "$(ratio "$s" "$p"); $(ratio "$s" "$n") of nft" "≥ 0.9× of no rules"
