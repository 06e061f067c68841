#!/usr/bin/env bash
# Type-checks and vets every package, tests included, for the platforms CI
# does not run on: macOS (Keychain storage, amd64 and arm64) and Windows
# (DPAPI storage), without cgo, as a user's cross-compiled build would be.
# scripts/wine-test.sh then runs the Windows tests.
#
# Usage: scripts/cross-vet.sh [packages...]   (default: ./...)
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# == 0)); then set -- ./...; fi
status=0
for target in darwin/amd64 darwin/arm64 windows/amd64; do
	echo "cross-vet: GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go vet $*"
	GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go vet "$@" || status=1
done
if ((status != 0)); then
	echo "cross-vet: FAILED (see above)" >&2
fi
exit $status
