#!/usr/bin/env bash
# Runs the Windows build of the cache packages' tests under Wine: the DPAPI
# storage (CryptProtectData / CryptUnprotectData) for real, on Linux.
#
# Usage: scripts/wine-test.sh [go test arguments...]   (default: ./cache/...)
#
# Needs the Debian packages wine64 (and wine) and gcc-mingw-w64-x86-64-win32.
# A fresh Wine prefix is prepared in a temporary folder (wineboot, ~6 s and
# ~700 MB) and removed afterwards; set WINE_TEST_PREFIX to a folder to keep
# and reuse one between runs.
#
# Debian's Wine 8.0 lacks bcryptprimitives.dll, which Go 1.24+ programs on
# Windows load for ProcessPrng (their random source): without it a test
# binary dies with "bcryptprimitives.dll not found". A stand-in DLL
# exporting ProcessPrng on top of Wine's RtlGenRandom (SystemFunction036)
# is built with mingw and put in the prefix's system32.
#
# Wine's DPAPI does not produce Windows's blob format, so under Wine the
# tests prove round trips, failure handling and file handling, not byte
# compatibility with Windows.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wine >/dev/null || missing+=("wine (Debian packages wine64 wine)")
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=("x86_64-w64-mingw32-gcc (Debian package gcc-mingw-w64-x86-64-win32)")
if ((${#missing[@]})); then
	printf 'wine-test: missing %s\n' "${missing[@]}" >&2
	exit 1
fi

work=$(mktemp -d)
if [[ -n "${WINE_TEST_PREFIX:-}" ]]; then
	mkdir -p "$WINE_TEST_PREFIX"
	export WINEPREFIX=$(cd "$WINE_TEST_PREFIX" && pwd)
else
	export WINEPREFIX=$work/prefix
fi
export WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

wineserver_bin=$(command -v wineserver || ls /usr/lib/wine/wineserver* 2>/dev/null | head -1 || true)
cleanup() {
	if [[ -n "$wineserver_bin" ]]; then "$wineserver_bin" -k 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
	echo "wine-test: preparing a Wine prefix in $WINEPREFIX"
	wine wineboot --init >/dev/null 2>&1
	if [[ -n "$wineserver_bin" ]]; then "$wineserver_bin" -w; fi
fi

cat >"$work/prng.c" <<'C'
#include <windows.h>

/* RtlGenRandom, exported by advapi32 under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng as bcryptprimitives.dll exports it on Windows 10+: fills the
   buffer with random bytes and always succeeds. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}
C
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" "$work/prng.c" -ladvapi32
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
echo "wine-test: prefix ready after $((SECONDS - start)) s"

if (($# == 0)); then set -- ./cache/...; fi
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -exec wine -count=1 "$@"
echo "wine-test: done after $((SECONDS - start)) s"
