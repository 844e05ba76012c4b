#!/usr/bin/env bash
# compare.sh runs the side-by-side benchmarks several times and prints, for each group, Weir's
# median beside each peer's and the ratio weir/peer: of ns/op (above 1 means Weir is slower) and,
# for the groups that report it, of decisions/s or jobs/s (above 1 means Weir does more a second).
#
#   ./compare.sh                 # every pair, 5 rounds
#   COUNT=10 BENCH=Take ./compare.sh
#   REDIS_URL=redis://127.0.0.1:6379/0 BENCH=Redis ./compare.sh
#   REDIS_URL=redis://127.0.0.1:6379/0 BENCH=Queue BENCHTIME=3s ./compare.sh   # longer rounds
#   SAMECPU=0 REDIS_URL=redis://127.0.0.1:6379/0 BENCH=Redis ./compare.sh     # all on CPU 0
#
# SAMECPU=N runs the benchmarks, and the redis-server that REDIS_URL reaches (it must run on this
# machine), on CPU N alone, and gives the server its CPUs back at the end. Where Redis and the
# benchmark sit on different CPUs, every round trip pays two cross-CPU wakeups, which on a small VM
# can dwarf what a script costs; see README.md.
#
# The test binary is built once and run COUNT times, each run one round of every benchmark, so
# that whatever else the machine is doing spreads over all of them alike instead of landing on
# whichever ran at the wrong moment. The Redis groups need REDIS_URL; without it they skip.
#
# The raw output is kept in bench/results-<time>.txt (ignored by git) so that it can be fed to
# benchstat later.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-5}
pattern=${BENCH:-.}
out=${OUT:-results-$(date +%Y%m%d-%H%M%S).txt}

if [[ -z ${REDIS_URL:-} ]]; then
	echo "REDIS_URL is not set: the Redis groups will skip (e.g. REDIS_URL=redis://127.0.0.1:6379/0)" >&2
fi

tmp=$(mktemp -d)
restore=
trap 'rm -rf "$tmp"; [[ -z $restore ]] || eval "$restore"' EXIT
pin=()
if [[ -n ${SAMECPU:-} ]]; then
	pid=$(redis-cli -u "${REDIS_URL:?SAMECPU needs REDIS_URL}" info server | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }')
	if [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null) != redis-server* ]]; then
		echo "SAMECPU: the server at REDIS_URL is not a redis-server on this machine (process_id ${pid:-unknown})" >&2
		exit 2
	fi
	was=$(taskset -pc "$pid" | awk -F': ' '{ print $2 }')
	taskset -pc "$SAMECPU" "$pid" >/dev/null
	restore="taskset -pc '$was' $pid >/dev/null"
	pin=(taskset -c "$SAMECPU")
	echo "SAMECPU: redis-server (pid $pid, CPUs $was) and the benchmarks on CPU $SAMECPU" >&2
fi
go test -c -o "$tmp/bench.test" .
: >"$out"
for ((i = 1; i <= count; i++)); do
	${pin[@]+"${pin[@]}"} "$tmp/bench.test" -test.run '^$' -test.bench "$pattern" -test.benchmem -test.count 1 ${BENCHTIME:+-test.benchtime "$BENCHTIME"} | tee -a "$out"
done

# A group is a benchmark name without its last element; its members are the last elements. The
# one named weir or weir-* is compared with every other member of its group.
awk -v count="$count" '
function median(arr, key,    i, j, t, m, a) {
	m = arr[key, 0]
	for (i = 1; i <= m; i++) a[i] = arr[key, i] + 0
	for (i = 2; i <= m; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
/^Benchmark/ && / ns\/op/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name) # the -GOMAXPROCS suffix
	n = split(name, part, "/")
	if (n < 2) next
	impl = part[n]; group = substr(name, 1, length(name) - length(impl) - 1); key = group SUBSEP impl
	for (i = 3; i <= NF; i++) {
		if ($i == "ns/op") ns[key, ++ns[key, 0]] = $(i - 1)
		if ($i ~ /^[a-z]+\/s$/) { ds[key, ++ds[key, 0]] = $(i - 1); unit[group] = $i } # decisions/s, jobs/s
		if ($i == "allocs/op") allocs[key] = $(i - 1)
	}
	if (!(group in seen)) { seen[group] = 1; groups[++ngroups] = group }
	if (!(key in member)) { member[key] = 1; members[group, ++nmembers[group]] = impl }
	if (impl ~ /^weir(-|$)/) weir[group] = impl
}
END {
	printf "\nmedians of %s run(s); ratio = weir / peer\n\n", count
	printf "%-26s %-12s %12s   %-12s %12s   %7s   %s\n", "benchmark", "weir", "ns/op", "peer", "ns/op", "ratio", "allocs/op weir/peer"
	for (g = 1; g <= ngroups; g++) {
		group = groups[g]
		if (!(group in weir)) continue
		wk = group SUBSEP weir[group]; w = median(ns, wk)
		for (m = 1; m <= nmembers[group]; m++) {
			peer = members[group, m]; pk = group SUBSEP peer
			if (peer == weir[group]) continue
			p = median(ns, pk)
			printf "%-26s %-12s %12.1f   %-12s %12.1f   %6.2fx   %s/%s\n", group, weir[group], w, peer, p, w / p, allocs[wk], allocs[pk]
			if (ds[wk, 0] && ds[pk, 0]) thru[++nthru] = sprintf("%-26s %-12s %12.0f   %-12s %12.0f   %6.2fx   %s", group, weir[group], median(ds, wk), peer, median(ds, pk), median(ds, wk) / median(ds, pk), unit[group])
		}
	}
	if (nthru) {
		printf "\nthroughput: medians of decisions/s or jobs/s; ratio = weir / peer (above 1 means Weir does more a second)\n\n"
		printf "%-26s %-12s %12s   %-12s %12s   %7s   %s\n", "benchmark", "weir", "per second", "peer", "per second", "ratio", "unit"
		for (t = 1; t <= nthru; t++) print thru[t]
	}
}' "$out"
