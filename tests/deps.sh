#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# deps.sh - make sure the Debian packages the build and the tests need
# are installed. As root: installs what is missing (noninteractive;
# Postfix preseeded to "No configuration" so it sets nothing up).
# Otherwise: prints the exact apt-get line and fails.
PKGS="build-essential pkg-config libmilter-dev libldns-dev ldnsutils check liblmdb-dev lmdb-utils
libidn2-dev postfix swaks miltertest iproute2 mandoc m4 procps
libssl-dev openssl libhiredis-dev redis-server redis-tools clang-14 libclang-rt-14-dev clang-tools-14
python3 cppcheck"
missing=""
for p in $PKGS; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$s" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
line="apt-get install -y$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages. As root, run:" >&2
	echo "  apt-get update && DEBIAN_FRONTEND=noninteractive $line" >&2
	exit 1
fi
echo "deps: installing:$missing"
printf '%s\n' "postfix postfix/main_mailer_type select No configuration" \
	"postfix postfix/mailname string lab.test" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -q $missing || { echo "deps: apt-get install failed" >&2; exit 1; }
