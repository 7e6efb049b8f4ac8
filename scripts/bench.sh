#!/usr/bin/env bash
# Runs traced's benchmarks and writes docs/BENCHMARKS.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # name, package, bench regexp, extra args...
	local name=$1 pkg=$2 re=$3; shift 3
	echo "== $name" >&2
	go test "$pkg" -run '^$' -bench "$re" -benchmem "$@" | grep -E '^(Benchmark|ok|FAIL)' | tee "$tmp/$name.txt" >&2
}

run pipeline ./ingest 'Pipeline' -benchtime 300000x -cpu 1
run handle ./ingest 'HandleHEP' -benchtime 2s -cpu 1
run hep ./ingest/hep . -benchtime 1s
run sip ./ingest/sip . -benchtime 1s
run segment ./segment . -benchtime 1s
run index ./index . -benchtime 1x

model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (scripts/bench.sh). Figures asked for by the issues are read from here, never from timed tests."
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- machine: $model, $(nproc) cores, $mem memory"
	echo "- go: $(go version | cut -d' ' -f3-)"
	echo "- commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
	echo
	pps=$(awk '/BenchmarkPipeline/ { for (i=1;i<=NF;i++) if ($i=="pkts/s") print $(i-1) }' "$tmp/pipeline.txt")
	allocs=$(awk '/BenchmarkPipeline/ { for (i=1;i<=NF;i++) if ($i=="allocs/op") print $(i-1) }' "$tmp/pipeline.txt")
	echo "## Hot path: one HEP packet in, one record stored and indexed"
	echo
	echo "Decode → checks → segment append (block cut, zstd, write) → index (SIP scan, terms, bleve), all on one core"
	echo "(\`-cpu 1\`), realistic SIP dialogs from internal/sipgen (~600-byte SIP, calls of 7 messages with SDP)."
	echo
	echo "| figure | value |"
	echo "|---|---|"
	echo "| packets/s on one core | ${pps:-?} |"
	echo "| allocations per packet | ${allocs:-?} |"
	echo
	for f in pipeline handle hep sip segment index; do
		echo "### $f"
		echo
		echo '```'
		cat "$tmp/$f.txt"
		echo '```'
		echo
	done
} > "$out"
echo "wrote $out" >&2
