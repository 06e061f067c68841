#!/usr/bin/env bash
# Fails when the repository tracks a compiled binary (an ELF, Mach-O or PE
# file, such as a test binary left by "go test -c") or any file over 1 MB:
# they bloat every clone and every module zip users download.
# Usage: scripts/check-files.sh
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$((1024 * 1024))
status=0
while IFS= read -r -d '' f; do
	[[ -f "$f" ]] || continue # deleted in the work tree
	size=$(wc -c <"$f")
	if ((size > limit)); then
		echo "check-files: $f is $size bytes (over 1 MB); keep large files out of the repository" >&2
		status=1
	fi
	magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
	case "$magic" in
	# ELF; Mach-O (both byte orders, 32 and 64 bits, universal); PE's
	# DOS header as Go and most linkers write it.
	7f454c46 | cffaedfe | cefaedfe | feedfacf | feedface | cafebabe | 4d5a9000)
		echo "check-files: $f is a compiled binary; remove it (git rm --cached) and let .gitignore keep it out" >&2
		status=1
		;;
	esac
done < <(git ls-files -z)
exit $status
