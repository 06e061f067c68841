#!/usr/bin/env bash
# Runs the Windows build of azid's storage tests under Wine, on Linux: the
# DPAPI file store (CryptProtectData / CryptUnprotectData) for real, with
# persist's lock file and atomic replace, several processes, damaged files,
# a provided key and the unencrypted fallback; plus the packages below it
# whose tests run on Windows.
#
# Usage: scripts/wine-test.sh [go test arguments...]
#        (default: ./cache/ ./internal/msalcache ./internal/persist/jwe)
#
# Needs the Debian packages wine64 (wine adds /usr/bin/wine; either works)
# and gcc-mingw-w64-x86-64-win32, as scripts/ci-setup.sh installs. Fails,
# loudly, when one is missing. A fresh Wine prefix is prepared in a
# temporary folder (wineboot: ~6-30 s, ~700 MB) and removed afterwards;
# set WINE_TEST_PREFIX to a folder to keep and reuse one between runs.
# Each step is bounded in time (WINE_TEST_TIMEOUT seconds for the tests,
# default 150), so a hung Wine fails the run instead of blocking CI.
#
# Debian's Wine 8.0 lacks bcryptprimitives.dll, which Go 1.24+ programs on
# Windows load for ProcessPrng (their random source): without it a test
# binary dies with "bcryptprimitives.dll not found". A stand-in DLL
# exporting ProcessPrng on top of Wine's RtlGenRandom (SystemFunction036)
# is built with mingw and put in the prefix's system32.
#
# Wine's DPAPI does not produce Windows's blob format, so under Wine the
# tests prove round trips, failure handling and file handling, not byte
# compatibility with Windows. Go's os.RemoveAll (hence t.TempDir's
# cleanup) fails under Wine 8 ("Invalid function"): tests meant to run
# here remove their files one by one.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
	printf '\nwine-test: FAILED: %s\n\n' "$*" >&2
	exit 1
}

wine_bin=$(command -v wine || true)
if [[ -z "$wine_bin" && -x /usr/lib/wine/wine64 ]]; then wine_bin=/usr/lib/wine/wine64; fi
missing=()
[[ -n "$wine_bin" ]] || missing+=("wine (Debian packages wine64 wine)")
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=("x86_64-w64-mingw32-gcc (Debian package gcc-mingw-w64-x86-64-win32)")
command -v go >/dev/null || missing+=("go")
command -v timeout >/dev/null || missing+=("timeout (coreutils)")
((${#missing[@]} == 0)) || fail "missing $(printf '%s; ' "${missing[@]}")install them (scripts/ci-setup.sh does)"
wineserver_bin=$(command -v wineserver || ls /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver 2>/dev/null | head -1 || true)

work=$(mktemp -d)
if [[ -n "${WINE_TEST_PREFIX:-}" ]]; then
	mkdir -p "$WINE_TEST_PREFIX"
	WINEPREFIX=$(cd "$WINE_TEST_PREFIX" && pwd)
else
	WINEPREFIX=$work/prefix
fi
# No display: Wine must not try to open windows or install Mono/Gecko.
export WINEPREFIX WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
cleanup() {
	# Stop this prefix's wineserver (and the processes it still runs).
	if [[ -n "$wineserver_bin" ]]; then timeout 20 "$wineserver_bin" -k 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
echo "wine-test: $("$wine_bin" --version 2>/dev/null || echo wine) at $wine_bin"
if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
	echo "wine-test: preparing a Wine prefix in $WINEPREFIX"
	timeout 120 "$wine_bin" wineboot --init >"$work/wineboot.log" 2>&1 || {
		tail -20 "$work/wineboot.log" >&2
		fail "wineboot --init did not finish within 120 s"
	}
	if [[ -n "$wineserver_bin" ]]; then timeout 60 "$wineserver_bin" -w || true; fi
fi
[[ -d "$WINEPREFIX/drive_c/windows/system32" ]] || fail "the Wine prefix $WINEPREFIX has no drive_c/windows/system32"

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
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" "$work/prng.c" -ladvapi32 ||
	fail "building the bcryptprimitives.dll stand-in with mingw"
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
echo "wine-test: prefix ready after $((SECONDS - start)) s"

if (($# == 0)); then set -- ./cache/ ./internal/msalcache ./internal/persist/jwe; fi
limit=${WINE_TEST_TIMEOUT:-150}
# go test's own -timeout makes a hung test binary print its goroutines;
# the outer timeout also covers a Wine that hangs before the tests start.
status=0
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 timeout "$((limit + 30))" \
	go test -exec "$wine_bin" -count=1 -timeout "${limit}s" "$@" || status=$?
if ((status == 124)); then fail "the tests did not finish within $((limit + 30)) s"; fi
((status == 0)) || fail "go test under Wine exited with status $status (see above)"
echo "wine-test: done after $((SECONDS - start)) s"
