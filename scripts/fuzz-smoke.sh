#!/usr/bin/env bash
# Runs every fuzz target in the main module and the cache/redis module for a
# fixed number of executions, so CI notices a parser that a short burst of
# fuzzing can break.
# Usage: fuzz-smoke.sh [executions per target]
#
# The budget is a count, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can report a spurious "context deadline exceeded" when the
# deadline hits a worker mid-call (go.dev/issue/75804, fixed in Go 1.27).
# Minimising new corpus entries is capped too: it is corpus hygiene, and it
# can otherwise outlast the budget.
set -euo pipefail
execs=${1:-50000}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
root=$PWD
for mod in . cache/redis; do
	cd "$root/$mod"
	for pkg in $(go list ./...); do
		for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
			echo "fuzz: $pkg $target (${execs} executions)"
			go test -run='^$' -fuzz="^${target}\$" -fuzztime="${execs}x" -fuzzminimizetime=200x "$pkg" >"$log" 2>&1 || {
				cat "$log"
				exit 1
			}
		done
	done
done
