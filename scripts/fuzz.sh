#!/usr/bin/env bash
# Explores every fuzz target for the given time each (default 60s), one after the
# other with one worker, and prints one summary line per target.
# Usage: scripts/fuzz.sh [TIME] [PARALLEL]
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-60s}
par=${2:-1}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		start=$(date +%s)
		log=$(mktemp)
		if go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -parallel "$par" >"$log" 2>&1; then
			result=ok
		else
			result=FAILED
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
		corpus=$(grep -o 'new interesting: [0-9]*' "$log" | tail -1 | cut -d' ' -f3)
		echo "$result $pkg $target $(( $(date +%s) - start ))s execs=${execs:-?} new_interesting=${corpus:-?}"
		[ "$result" = ok ] || cat "$log"
		rm -f "$log"
	done
done
