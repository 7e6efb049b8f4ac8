#!/bin/sh
# Prints the package version, from git:
#   a tag vX.Y.Z on HEAD               X.Y.Z
#   N commits after the tag vX.Y.Z     X.Y.Z+N.gHASH
#   no tag yet                         0.0.0~gitYYYYMMDD.N.gHASH  (N: commits in HEAD)
# A working tree with uncommitted changes adds .dirty (X.Y.Z+dirty for a tag).
# Every form starts with a digit and sorts after the versions of earlier commits.
# Outside a git checkout: 0.0.0~unknown.
set -eu
cd "$(dirname "$0")"
# A checkout owned by another user (sudo sh install.sh) is read all the same.
git() { command git -c safe.directory='*' "$@"; }
if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo 0.0.0~unknown
	exit 0
fi
dirty=""
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=dirty
fi
if d=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
	# vX.Y.Z-N-gHASH
	hash=${d##*-}
	rest=${d%-*}
	n=${rest##*-}
	tag=${rest%-*}
	v=${tag#v}
	if [ "$n" = 0 ]; then
		[ -n "$dirty" ] && v="$v+dirty"
	else
		v="$v+$n.$hash"
		[ -n "$dirty" ] && v="$v.dirty"
	fi
else
	date=$(git log -1 --format=%cd --date=format:%Y%m%d)
	n=$(git rev-list --count HEAD)
	hash=g$(git rev-parse --short=12 HEAD)
	v="0.0.0~git$date.$n.$hash"
	[ -n "$dirty" ] && v="$v.dirty"
fi
echo "$v"
