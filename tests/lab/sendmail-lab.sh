#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# sendmail-lab.sh - sav-milter end to end behind Sendmail,
# with the same core cases as postfix-lab.sh: the SMTP reply swaks saw
# and the milter's decision line.
#
# Sendmail is not installed: Debian's packages (sendmail-bin,
# sendmail-base, sendmail-cf, m4, libwrap0) are fetched with apt-get
# download and unpacked with dpkg -x into
# /var/cache/sav-lab/sendmail-<version>, kept across runs. The daemon
# runs inside the lab's loopback-only namespace, in a private UTS
# namespace with a fully qualified host name (Sendmail looks its own
# name up before reading its configuration). When the packages cannot be
# fetched or unpacked, the script says "skipped: <why>", passes nothing
# and fails nothing.
#
# Sendmail specifics checked: it passes the queue id in macro i at MAIL
# (Postfix does not), and with F=T a dead milter tempfails (451 4.3.2)
# instead of letting mail through unchecked.

. "$(dirname "$0")/lib.sh"

SM_CACHE=${SM_CACHE:-/var/cache/sav-lab}
SM_PKGS="sendmail-bin sendmail-base sendmail-cf m4 libwrap0"

skip()
{
	echo "sendmail-lab: skipped: $*"
	echo "lab: 0 passed, 0 failed"
	exit 0
}

# sm_fetch - make sure the unpacked tree exists; prints its root. Runs
# outside the namespace (apt-get download needs Debian's archive).
sm_fetch()
{
	local ver dir tmp d
	ver=$(apt-cache policy sendmail-bin 2>/dev/null | awk '/Candidate:/ { print $2 }')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "no sendmail-bin candidate in apt's lists" >&2
		return 1
	fi
	dir=$SM_CACHE/sendmail-$ver
	if [ -f "$dir/.complete" ]; then
		echo "$dir"
		return 0
	fi
	mkdir -p "$SM_CACHE" || return 1
	(
		flock -w 300 9 || { echo "cannot lock $SM_CACHE" >&2; exit 1; }
		[ -f "$dir/.complete" ] && exit 0
		tmp=$(mktemp -d "$SM_CACHE/.sendmail.XXXXXX") || exit 1
		trap 'rm -rf "$tmp"' EXIT
		mkdir -p "$tmp/debs" "$tmp/tree/root"
		# shellcheck disable=SC2086
		(cd "$tmp/debs" && apt-get download -q $SM_PKGS) >"$tmp/download.log" 2>&1 ||
			{ tail -3 "$tmp/download.log" >&2; exit 1; }
		for d in "$tmp"/debs/*.deb; do
			dpkg -x "$d" "$tmp/tree/root" || { echo "dpkg -x $d failed" >&2; exit 1; }
		done
		[ -x "$tmp/tree/root/usr/libexec/sendmail/sendmail" ] || { echo "no sendmail binary in the packages" >&2; exit 1; }
		# setgid smmsp/mail: the loader would ignore LD_LIBRARY_PATH
		chmod g-s "$tmp/tree/root/usr/libexec/sendmail/sendmail"
		touch "$tmp/tree/.complete"
		rm -rf "$dir"
		mv "$tmp/tree" "$dir"
	) 9>"$SM_CACHE/sendmail.lock" || return 1
	[ -f "$dir/.complete" ] && echo "$dir"
}

if ! lab_in_netns; then
	[ "$(id -u)" = 0 ] || skip "needs root"
	SM_DIR=$(sm_fetch 2>"/tmp/savlab-smfetch.$$") || { why=$(tail -1 "/tmp/savlab-smfetch.$$"); rm -f "/tmp/savlab-smfetch.$$"; skip "cannot fetch or unpack Sendmail: ${why:-unknown error}"; }
	rm -f "/tmp/savlab-smfetch.$$"
	export SM_DIR
fi
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v swaks >/dev/null || lab_die "swaks is not installed (make deps)"
command -v unshare >/dev/null || skip "no unshare (util-linux)"
lab_init sendmail
mlab_world

# An inet socket: Sendmail refuses a unix socket below a world-writable
# directory (/tmp), and this exercises sav-milter's inet: form.
CONF=$LAB_DIR/sav-milter.conf
MLAB_SOCKET=inet:10031@127.0.0.1 mlab_milter_conf "$CONF"
mlab_milter_start "$CONF"

# --- Sendmail ------------------------------------------------------------------
SMROOT=$SM_DIR/root
SM=$LAB_DIR/sm
mkdir -p "$SM/mqueue" "$SM/clientmqueue" "$SM/run"
chmod 700 "$SM/mqueue"
: >"$SM/aliases"
: >"$SM/local-host-names"
printf 'hosts files\naliases files\n' >"$SM/service.switch"
cat >"$SM/lab.mc" <<EOF
divert(-1)dnl
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`smlab.lab.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM/service.switch')dnl
define(\`QUEUE_DIR', \`$SM/mqueue')dnl
define(\`confPID_FILE', \`$SM/run/sendmail.pid')dnl
define(\`STATUS_FILE', \`$SM/run/statistics')dnl
define(\`ALIAS_FILE', \`$SM/aliases')dnl
define(\`confCW_FILE', \`-o $SM/local-host-names')dnl
define(\`confDELIVERY_MODE', \`queue')dnl
define(\`confDONT_BLAME_SENDMAIL', \`GroupWritableDirPathSafe')dnl
define(\`confMILTER_LOG_LEVEL', \`9')dnl
define(\`confREFUSE_LA', \`10000')dnl
define(\`confQUEUE_LA', \`10000')dnl
define(\`confDELAY_LA', \`0')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`promiscuous_relay')dnl
DAEMON_OPTIONS(\`Port=2526, Addr=127.0.0.1, Name=MTA-lab')dnl
INPUT_MAIL_FILTER(\`sav-milter', \`S=inet:10031@127.0.0.1, F=T, T=C:5s;S:10s;R:10s;E:30s')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
CF=$SMROOT/usr/share/sendmail/cf
M4=$SMROOT/usr/bin/m4
[ -x "$M4" ] || M4=$(command -v m4)
"$M4" -D_CF_DIR_="$CF/" "$CF/m4/cf.m4" "$SM/lab.mc" >"$SM/lab.cf" 2>"$SM/m4.log" ||
	{ cat "$SM/m4.log" >&2; lab_die "m4 could not build sendmail.cf"; }
grep -q '^O InputMailFilters=sav-milter' "$SM/lab.cf" || lab_die "lab.cf has no InputMailFilters"

export LD_LIBRARY_PATH=$SMROOT/usr/lib/x86_64-linux-gnu:$SMROOT/lib/x86_64-linux-gnu
lab_spawn sendmail unshare --uts sh -c "hostname smlab.lab.test && exec '$SMROOT/usr/libexec/sendmail/sendmail' -C '$SM/lab.cf' -bD -X '$SM/transcript.log'"
lab_wait_listen tcp 127.0.0.1 2526 100 || { cat "$LAB_DIR/sendmail.log" >&2; lab_die "Sendmail did not start listening"; }
lab_diag "Sendmail $(basename "$SM_DIR" | sed 's/^sendmail-//') (Debian package, unpacked in $SM_DIR)"

SRV=127.0.0.1:2526
smcase()
{
	local from=$1 want=$2 verdict=$3 action=$4 got line
	got=$(mlab_swaks "$from" "$SRV")
	line=$(mlab_decision "${from#<>}")
	lab_check "sendmail: <$from>: $want, verdict=$verdict action=$action" \
		"$got" "~^$want" "$(mlab_field "$line" verdict)" "$verdict" "$(mlab_field "$line" action)" "$action"
}

smcase alice@example.test "250 " valid accept
smcase nobody@example.test "550 5\\.1\\.7 " invalid reject
smcase u@nxdomain.test "550 5\\.1\\.8 " bad-domain reject
smcase u@nullmx.test "550 5\\.7\\.27 " bad-domain reject
smcase anyone@catchall.test "250 " catch-all accept
smcase someone@policy.test "250 " unknown accept
smcase grey@example.test "450 4\\.1\\.7 " tempfail tempfail
smcase u@servfail.test "451 4\\.4\\.3 " tempfail tempfail
smcase "<>" "250 " skipped accept

line=$(mlab_decision alice@example.test)
lab_check "sendmail passes the queue id at MAIL: logged qid=, client=" \
	"$(mlab_field "$line" qid)" "~^[A-Za-z0-9]{8,}$" "$(mlab_field "$line" client)" "[$MLAB_CLIENT_IP]"

# the milter gone: with F=T Sendmail tempfails
mlab_milter_stop
got=$(mlab_swaks bob@example.test "$SRV")
lab_like "$got" "^4[0-9][0-9] 4\\." "sendmail with F=T and the milter down: 4xx"

kill -TERM "$(head -1 "$SM/run/sendmail.pid" 2>/dev/null)" 2>/dev/null
lab_summary
