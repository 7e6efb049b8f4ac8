#!/bin/sh
# Installs the real peers traced's tests run against (Debian packages):
#   kamailio    - SIP proxy whose siptrace module sends HEP (kamailio package)
#   sipp        - SIP traffic generator (sip-tester package)
#   tshark      - independent packet counting (tshark package)
#   zstd        - inspecting segment files (zstd package)
#   packaging   - building and checking the .deb and the systemd unit: dpkg-dev,
#                 debhelper, gcc, lintian, man-db, adduser, systemd (systemd-analyze),
#                 util-linux (unshare, nsenter: the service boots under systemd as
#                 PID 1 of fresh namespaces), dbus (tracectl talks to systemd over it),
#                 e2fsprogs (a data file system of its own to freeze), iproute2
#   chromium    - browser tests, only with --browser (large)
#
# Idempotent and quiet when everything is present. As root it runs
# `apt-get update` once and installs only what is missing. As another user it
# prints what is missing and exits 0: the tests then skip, except under CI.
set -eu

browser=0
for arg in "$@"; do
	case "$arg" in
	--browser) browser=1 ;;
	-h | --help)
		echo "usage: $0 [--browser]"
		exit 0
		;;
	*)
		echo "$0: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

# have BIN: BIN is on $PATH or in an sbin directory (kamailio is in /usr/sbin).
have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	for d in /usr/local/sbin /usr/sbin /sbin; do
		[ -x "$d/$1" ] && return 0
	done
	return 1
}

missing=""
need() { # need PACKAGE CHECK...
	pkg=$1
	shift
	if ! "$@"; then
		missing="$missing $pkg"
	fi
}

need kamailio have kamailio
need kamailio test -f /usr/lib/x86_64-linux-gnu/kamailio/modules/siptrace.so
need sip-tester have sipp
need tshark have tshark
need zstd have zstd
need dpkg-dev have dpkg-buildpackage
need debhelper have dh
need gcc have gcc
need lintian have lintian
need man-db have man
need adduser have adduser
need systemd have systemd-analyze
need util-linux have unshare
need util-linux have nsenter
need dbus have dbus-daemon
need e2fsprogs have mkfs.ext4
need iproute2 have ip
if [ "$browser" = 1 ]; then
	need chromium sh -c 'command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1'
fi

# Each package once, in order.
pkgs=$(printf '%s\n' $missing | awk 'NF && !seen[$0]++' | tr '\n' ' ')
[ -z "$pkgs" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	hint=""
	[ "$browser" = 1 ] && hint=" --browser"
	echo "missing test dependencies (Debian packages): $pkgs"
	echo "run as root: $0$hint"
	echo "real-peer tests are skipped until then (CI fails instead)"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! apt-get update -q >"$log" 2>&1; then
	cat "$log" >&2
	echo "$0: apt-get update failed" >&2
	exit 1
fi
# shellcheck disable=SC2086 # $pkgs is a word list on purpose
if ! apt-get install -y -q $pkgs >"$log" 2>&1; then
	cat "$log" >&2
	echo "$0: apt-get install $pkgs failed" >&2
	exit 1
fi
