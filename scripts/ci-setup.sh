#!/usr/bin/env bash
# Installs the real components the tests use, on a fresh Debian machine:
# the Azure CLI, Chromium, gnome-keyring on D-Bus, redis-server, Wine (for
# the Windows DPAPI tests), Azurite, Node and Python's azure-identity. Tests start the services themselves,
# on loopback ports and private buses of their own, and fail (never skip)
# when a component is missing. Already-installed components are left alone,
# so a developer machine pays only once.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have az || need+=(azure-cli)
have chromium || need+=(chromium)
have gnome-keyring-daemon || need+=(gnome-keyring)
have dbus-daemon || need+=(dbus)
have secret-tool || need+=(libsecret-tools)
have redis-server || need+=(redis-server)
have wine || need+=(wine64 wine)
have x86_64-w64-mingw32-gcc || need+=(gcc-mingw-w64-x86-64-win32)
# azid serve's interop tests: Python's azure-identity (Debian's, run with
# /usr/bin/python3) and Node for @azure/identity (the test installs the
# pinned package itself, into a folder of its own).
/usr/bin/python3 -c 'import azure.identity' >/dev/null 2>&1 || need+=(python3-azure)
have node || need+=(nodejs)
have npm || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
	echo "ci-setup: installing ${need[*]}"
	sudo_cmd=""
	[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
	$sudo_cmd apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# Azurite, from npm, into a fixed prefix the tests look in (AZURITE_DIR).
azurite_dir=${AZURITE_DIR:-/opt/azurite}
if [ ! -x "$azurite_dir/node_modules/.bin/azurite-blob" ]; then
	echo "ci-setup: installing azurite into $azurite_dir"
	mkdir -p "$azurite_dir"
	(cd "$azurite_dir" && npm install --no-audit --no-fund --loglevel=error azurite >/dev/null)
fi
echo "ci-setup: components ready"
