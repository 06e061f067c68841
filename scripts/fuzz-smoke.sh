#!/usr/bin/env bash
# Runs every fuzz target in the main module for a short time, so CI notices a
# parser that a few seconds of fuzzing can break. Usage: fuzz-smoke.sh [seconds]
set -euo pipefail
secs=${1:-10}
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target (${secs}s)"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="${secs}s" "$pkg" >/tmp/fuzz-$$.log 2>&1 || {
			cat /tmp/fuzz-$$.log
			exit 1
		}
	done
done
rm -f /tmp/fuzz-$$.log
