#!/usr/bin/env bash
# Runs traced's benchmarks and writes docs/BENCHMARKS.md with the machine and the date.
#
# Parts (BENCH_PARTS, comma-separated; default all):
#   micro    go test benchmarks of the hot path (one core)
#   sender   hepload alone, pinned to one core, against a discarding sink
#   load     the real traced under hepload: every rate of BENCH_RATES over every transport, a fresh traced each
#   long     one rate for a long time, RSS sampled
#   archive  a large archive built directly, then traced's time to ready and search latency on it
#
# Parameters (environment):
#   BENCH_DURATION=60s        load per rate
#   BENCH_RATES=20000,40000,60000,80000,100000   packets/s
#   BENCH_TRANSPORTS=udp,tcp
#   BENCH_CONNS=1             hepload UDP sockets or TCP connections
#   BENCH_LONG=10m            long run duration, at BENCH_LONG_RATE=20000 over BENCH_LONG_TRANSPORT=udp,
#                             RSS sampled every BENCH_LONG_SAMPLE=10s
#   BENCH_ARCHIVE=10000000    messages in the large archive (over 24 hours)
#   BENCH_ARCHIVE_DIR=        keep the archive here and reuse it when it matches (default: a temporary directory)
#   BENCH_QUERIES=300         searches of each kind on the archive
#   BENCH_SEED=1
#   BENCH_OUT=docs/BENCHMARKS.md
#   BENCH_JSON=bin/bench-load.json   every figure of the load parts, samples included
#
# BENCH_QUICK=1 (make bench-quick) is the development mode: no micro-benchmarks, 10 s per rate at 20 000 and
# 40 000 packets/s, a 1 minute long run, a 1 000 000 message archive, written to bin/BENCHMARKS-quick.md
# and bin/bench-quick.json.
# Any parameter given still wins. A full run takes about 35 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${BENCH_QUICK:-}" == 1 ]]; then
	: "${BENCH_PARTS:=sender,load,long,archive}" "${BENCH_DURATION:=10s}" "${BENCH_RATES:=20000,40000}"
	: "${BENCH_LONG:=1m}" "${BENCH_ARCHIVE:=1000000}" "${BENCH_QUERIES:=100}" "${BENCH_OUT:=bin/BENCHMARKS-quick.md}"
	: "${BENCH_JSON:=bin/bench-quick.json}"
fi
: "${BENCH_PARTS:=micro,sender,load,long,archive}"
: "${BENCH_DURATION:=60s}" "${BENCH_RATES:=20000,40000,60000,80000,100000}" "${BENCH_TRANSPORTS:=udp,tcp}"
: "${BENCH_CONNS:=1}" "${BENCH_LONG:=10m}" "${BENCH_LONG_RATE:=20000}" "${BENCH_LONG_TRANSPORT:=udp}"
: "${BENCH_LONG_SAMPLE:=10s}" "${BENCH_ARCHIVE:=10000000}" "${BENCH_ARCHIVE_DIR:=}" "${BENCH_QUERIES:=300}"
: "${BENCH_SEED:=1}" "${BENCH_OUT:=docs/BENCHMARKS.md}" "${BENCH_JSON:=bin/bench-load.json}"

out=$BENCH_OUT
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
has() { [[ ",$BENCH_PARTS," == *",$1,"* ]]; }
loadfail=0

run() { # name, package, bench regexp, extra args...
	local name=$1 pkg=$2 re=$3; shift 3
	echo "== $name" >&2
	go test "$pkg" -run '^$' -bench "$re" -benchmem "$@" | grep -E '^(Benchmark|ok|FAIL)' | tee "$tmp/$name.txt" >&2
}

micro=(pipeline handle hep sip segment index stats qos capture)
if has micro; then
	run pipeline ./ingest 'Pipeline' -benchtime 300000x -cpu 1
	run handle ./ingest 'HandleHEP' -benchtime 2s -cpu 1
	run hep ./ingest/hep . -benchtime 1s
	run sip ./ingest/sip . -benchtime 1s
	run segment ./segment . -benchtime 1s
	run index ./index . -benchtime 1x
	run stats ./stats . -benchtime 1s -cpu 1
	run qos ./qos . -benchtime 1s
	run capture ./capture . -benchtime 1s
fi

loadparts=$(tr ',' '\n' <<<"$BENCH_PARTS" | grep -vx micro | paste -sd, - || true)
if [[ -n "$loadparts" ]]; then
	[[ -x bin/traced ]] || { echo "bin/traced missing: run make build" >&2; exit 1; }
	mkdir -p "$(dirname "$BENCH_JSON")"
	go build -o "$tmp/hepload" ./cmd/hepload
	go build -o "$tmp/loadbench" ./internal/loadbench/cmd/loadbench
	mkdir -p "$tmp/work"
	archive_dir=()
	[[ -n "$BENCH_ARCHIVE_DIR" ]] && archive_dir=(-archive-dir "$BENCH_ARCHIVE_DIR")
	echo "== load ($loadparts)" >&2
	# A part that fails is noted in the report; the document is still written.
	"$tmp/loadbench" -traced bin/traced -hepload "$tmp/hepload" -work "$tmp/work" -parts "$loadparts" \
		-duration "$BENCH_DURATION" -rates "$BENCH_RATES" -transports "$BENCH_TRANSPORTS" -conns "$BENCH_CONNS" \
		-long "$BENCH_LONG" -long-rate "$BENCH_LONG_RATE" -long-transport "$BENCH_LONG_TRANSPORT" \
		-long-sample "$BENCH_LONG_SAMPLE" -archive "$BENCH_ARCHIVE" "${archive_dir[@]}" -queries "$BENCH_QUERIES" \
		-seed "$BENCH_SEED" -md "$tmp/load.md" -json "$BENCH_JSON" -logs "$(dirname "$BENCH_JSON")/bench-logs" || loadfail=$?
fi

model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
mkdir -p "$(dirname "$out")"
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (scripts/bench.sh). Figures asked for by the issues are read from here, never from timed tests."
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- machine: $model, $(nproc) cores, $mem memory"
	echo "- go: $(go version | cut -d' ' -f3-)"
	echo "- commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
	echo "- parts: $BENCH_PARTS"
	echo
	if has micro; then
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
		for f in "${micro[@]}"; do
			echo "### $f"
			echo
			echo '```'
			cat "$tmp/$f.txt"
			echo '```'
			echo
		done
	fi
	if [[ -f "$tmp/load.md" ]]; then
		cat "$tmp/load.md"
	fi
} > "$out"
echo "wrote $out" >&2
if [[ $loadfail != 0 ]]; then
	echo "loadbench failed (exit $loadfail): see the notes in $out" >&2
	exit 1
fi
