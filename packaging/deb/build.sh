#!/bin/sh
# Builds traced_<version>_<arch>.deb with Debian's tools (dpkg-buildpackage and
# debhelper, from packaging/deb/debian): the Go binaries, tracectl's bash
# completion, their man pages (rendered from the commands' own flag sets) and the copyright file
# (from the linked Go modules' licenses) are made first, then dh packages them
# with the systemd unit, its generator, /etc/default/traced and the sysctl file.
#
# Environment: DEB_VERSION (default: packaging/deb/version.sh, from git),
# DEB_OUT (default: bin/), GO (default: go).
# Needs: go, gcc, dpkg-dev, debhelper (scripts/install-test-deps.sh installs them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
GO=${GO:-go}
version=${DEB_VERSION:-$(sh "$here/version.sh")}
out=${DEB_OUT:-$root/bin}
arch=$(dpkg --print-architecture)

for tool in dpkg-buildpackage dh gcc "$GO"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build.sh: $tool is missing (apt-get install dpkg-dev debhelper gcc; Go for go)" >&2
		exit 1
	fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/traced-$version"
mkdir -p "$stage/build" "$out"
cp -r "$here/debian" "$stage/debian"
cp "$root/packaging/systemd/traced.service" "$stage/debian/traced.service"
cp -r "$root/packaging/default" "$root/packaging/sysctl" "$root/packaging/systemd" "$stage/"

# Dates from the commit, so that the same commit builds the same package.
git() { command git -C "$root" -c safe.directory='*' "$@"; }
if epoch=$(git log -1 --format=%ct 2>/dev/null); then :; else epoch=$(date +%s); fi
export SOURCE_DATE_EPOCH="$epoch"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

cd "$root"
# Position-independent executables with full RELRO (BIND_NOW), linked against
# the C library, as Debian hardens its binaries.
ldflags="-s -w -bindnow -X main.version=$version"
CGO_ENABLED=1 "$GO" build -buildmode=pie -ldflags "$ldflags" -o "$stage/build/" ./cmd/traced ./cmd/tracectl
mandate=$(date -u -d "@$epoch" +%Y-%m-%d)
MANPAGE_DATE=$mandate "$GO" run -tags genman -ldflags "-X main.version=$version" ./cmd/traced >"$stage/build/traced.8"
MANPAGE_DATE=$mandate "$GO" run -tags genman -ldflags "-X main.version=$version" ./cmd/tracectl >"$stage/build/tracectl.1"
mkdir -p "$stage/build/completions"
"$stage/build/tracectl" completion bash >"$stage/build/completions/tracectl"
"$GO" run ./packaging/debcopyright "$here/copyright.head" ./cmd/traced ./cmd/tracectl >"$stage/debian/copyright"

cat >"$stage/debian/changelog" <<CHANGELOG
traced ($version) unstable; urgency=medium

  * Built from git commit $commit.

 -- traced maintainers <maintainers@users.noreply.h-seed-083b2e4e.example>  $(date -u -R -d "@$epoch")
CHANGELOG

cd "$stage"
log="$work/dpkg-buildpackage.log"
if ! dpkg-buildpackage -b -uc -us -d >"$log" 2>&1; then
	cat "$log" >&2
	echo "build.sh: dpkg-buildpackage failed" >&2
	exit 1
fi
deb="traced_${version}_${arch}.deb"
mv "$work/$deb" "$out/$deb"
echo "$out/$deb"
