#!/bin/sh
# Installs traced, the SIP trace server, on Debian 12 or Ubuntu 22.04 and later.
#
#   sudo sh install.sh              install (or upgrade to) the traced_*.deb beside this
#                                   script; in a checkout without one, build it first (Go)
#   sudo sh install.sh --uninstall  remove traced, keeping its data and /etc/default/traced
#   sudo sh install.sh --purge      remove traced with its data, settings and user
#
# Running it again with the same package changes nothing. The package creates
# the traced user, enables the traced service and starts it when systemd runs.
set -eu

usage() {
	sed -n '2,10s/^# \{0,1\}//p' "$0"
}

action=install
for arg in "$@"; do
	case "$arg" in
	--uninstall | uninstall) action=remove ;;
	--purge | purge) action=purge ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "install.sh: unknown argument: $arg" >&2
		usage >&2
		exit 2
		;;
	esac
done

say() { echo "install.sh: $*"; }
die() {
	echo "install.sh: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo sh $0)"
command -v dpkg >/dev/null 2>&1 || die "this is not a Debian or Ubuntu system (no dpkg)"
export DEBIAN_FRONTEND=noninteractive

status=$(dpkg-query -W -f='${db:Status-Status} ${Version}' traced 2>/dev/null || true)

case "$action" in
remove)
	case "$status" in
	installed*)
		dpkg --remove traced
		say "traced removed; its data (/var/lib/traced) and settings (/etc/default/traced) are kept"
		;;
	*) say "traced is not installed" ;;
	esac
	exit 0
	;;
purge)
	if [ -n "$status" ] && [ "${status%% *}" != not-installed ]; then
		dpkg --purge traced
		say "traced purged: package, data, settings and user removed"
	else
		say "traced is not installed"
	fi
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
arch=$(dpkg --print-architecture)

# The newest traced_<version>_<arch>.deb beside this script.
newest=""
newest_version=""
for f in "$here"/traced_*_"$arch".deb; do
	[ -f "$f" ] || continue
	v=$(dpkg-deb --field "$f" Version)
	if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest_version"; then
		newest=$f
		newest_version=$v
	fi
done

apt_updated=0
apt_install() {
	if [ "$apt_updated" = 0 ]; then
		apt-get update -q >/dev/null
		apt_updated=1
	fi
	apt-get install -y -q "$@"
}

# None: build one from this checkout (into bin/, as `make deb` does).
if [ -z "$newest" ]; then
	if [ ! -f "$here/go.mod" ] || [ ! -f "$here/packaging/deb/build.sh" ]; then
		die "no traced_*_$arch.deb beside $0, and this is not a traced checkout to build one from"
	fi
	GO=${GO:-}
	if [ -z "$GO" ]; then
		if command -v go >/dev/null 2>&1; then
			GO=go
		elif [ -x /usr/local/go/bin/go ]; then
			GO=/usr/local/go/bin/go
		else
			die "no traced_*_$arch.deb beside $0 and Go is not installed to build one (https://go.dev/doc/install)"
		fi
	fi
	missing=""
	command -v dpkg-buildpackage >/dev/null 2>&1 || missing="$missing dpkg-dev"
	command -v dh >/dev/null 2>&1 || missing="$missing debhelper"
	command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
	command -v git >/dev/null 2>&1 || missing="$missing git"
	if [ -n "$missing" ]; then
		say "installing the package build tools:$missing"
		# shellcheck disable=SC2086 # a word list
		apt_install $missing >/dev/null
	fi
	say "building the package from $here"
	built=$(GO=$GO sh "$here/packaging/deb/build.sh") || die "building the package failed"
	newest=$(printf '%s\n' "$built" | tail -n 1)
	newest_version=$(dpkg-deb --field "$newest" Version)
fi

case "$status" in
"installed $newest_version")
	say "traced $newest_version is already installed"
	exit 0
	;;
installed*)
	old=${status#installed }
	if dpkg --compare-versions "$newest_version" lt "$old"; then
		die "traced $old is installed, newer than $newest_version: not downgrading (remove it first)"
	fi
	say "upgrading traced $old to $newest_version"
	;;
*) say "installing traced $newest_version" ;;
esac

# dpkg installs it when its dependencies are there; otherwise apt brings them.
if ! dpkg -s adduser >/dev/null 2>&1; then
	apt_install adduser >/dev/null
fi
dpkg --install "$newest"
say "done: settings in /etc/default/traced, status with: tracectl status"
