#!/usr/bin/env bash
# compare.sh runs the side-by-side benchmarks several times and prints, for each pair, Weir's
# median beside its peer's and the ratio weir/peer (above 1 means Weir is slower).
#
#   ./compare.sh                 # every pair, -count 5
#   COUNT=10 BENCH=Take ./compare.sh
#
# The raw `go test` output is kept in bench/results-<time>.txt (ignored by git) so that it can be
# fed to benchstat later.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-5}
pattern=${BENCH:-.}
out=${OUT:-results-$(date +%Y%m%d-%H%M%S).txt}

go test -run '^$' -bench "$pattern" -benchmem -count "$count" | tee "$out"

# Pairs are the sub-benchmarks of one group: the one named weir-* against the other.
awk '
function median(key,    i, j, t, m, a) {
	m = runs[key]
	for (i = 1; i <= m; i++) a[i] = ns[key, i] + 0
	for (i = 2; i <= m; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
/^Benchmark/ && / ns\/op/ {
	name = $1
	sub(/-[0-9]+$/, "", name) # the -GOMAXPROCS suffix
	if (split(name, part, "/") != 2) next
	group = part[1]; impl = part[2]; key = group SUBSEP impl
	for (i = 3; i <= NF; i++) {
		if ($i == "ns/op") ns[key, ++runs[key]] = $(i - 1)
		if ($i == "allocs/op") allocs[key] = $(i - 1)
	}
	if (!(group in seen)) { seen[group] = 1; groups[++ngroups] = group }
	if (impl ~ /^weir-/) weir[group] = impl; else peer[group] = impl
}
END {
	printf "\nmedians of %s run(s); ratio = weir / peer\n\n", '"$count"'
	printf "%-22s %-12s %12s   %-12s %12s   %7s   %s\n", "benchmark", "weir", "ns/op", "peer", "ns/op", "ratio", "allocs/op weir/peer"
	for (g = 1; g <= ngroups; g++) {
		group = groups[g]
		if (!(group in weir) || !(group in peer)) continue
		w = median(group SUBSEP weir[group]); p = median(group SUBSEP peer[group])
		printf "%-22s %-12s %12.1f   %-12s %12.1f   %6.2fx   %s/%s\n", group, weir[group], w, peer[group], p, w / p,
			allocs[group SUBSEP weir[group]], allocs[group SUBSEP peer[group]]
	}
}' "$out"
