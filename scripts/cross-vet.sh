#!/usr/bin/env bash
# Type-checks and vets every package, tests included, for the platforms CI
# does not run on: macOS (Keychain storage, amd64 and arm64) and Windows
# (DPAPI storage), without cgo, as a user's cross-compiled build would be.
# scripts/wine-test.sh then runs the Windows tests.
#
# Usage: scripts/cross-vet.sh [packages...]   (default: ./... of the root
# module, then of the cache/redis module, which users link too)
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=(.)
if (($# == 0)); then
	set -- ./...
	dirs=(. cache/redis)
fi
status=0
for dir in "${dirs[@]}"; do
	for target in darwin/amd64 darwin/arm64 windows/amd64; do
		echo "cross-vet: (in $dir) GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go vet $*"
		(cd "$dir" && GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go vet "$@") || status=1
	done
done
if ((status != 0)); then
	echo "cross-vet: FAILED (see above)" >&2
fi
exit $status
