# SPDX-License-Identifier: BSD-2-Clause
# lib.sh - shared functions for the sav-milter integration lab (bash).
#
# Source it from a bash script:
#
#	. "$(dirname "$0")/lib.sh"
#	lab_isolate "$0" "$@"	# re-run this script inside a fresh loopback-only netns
#	lab_init probe		# temp dir, EXIT trap that kills and stops everything
#	lab_dns_start "$LAB_DIR/dns.data"
#	lab_postfix_mx mx1 127.0.0.2 example.test alice bob
#	lab_is "$(some command)" "want" "smtp: something"
#	lab_summary		# "lab: N passed, M failed", non-zero on failure
#
# Everything the lab starts runs inside a network namespace that has only
# `lo` up: nothing can leave the machine, and ports 25 and 53
# are free. lab_isolate creates the namespace (unique name), writes
# /etc/netns/<name>/resolv.conf so that programs that read resolv.conf ask
# the lab's DNS on 127.0.0.1, runs the script inside with LAB_NETNS set,
# and on the way out kills every process still in the namespace and
# deletes it. Inside, lab_init makes a temp dir and installs an EXIT trap
# (lab_cleanup) that stops each Postfix instance (inside the namespace, as
# Postfix requires), kills every process started with lab_spawn (by
# process group, so forked children go too) and removes the temp dir
# (kept when LAB_KEEP=1, for debugging).
#
# Conventions:
#  - every function is prefixed lab_; globals are LAB_*;
#  - servers log to $LAB_DIR/<name>.log; their pids are kept in LAB_PIDS;
#  - waits are bounded loops (lab_wait_listen, lab_wait_file), never
#    "sleep and hope";
#  - assertions print TAP-like lines "ok N - name" and
#    "not ok N - name: got X, want Y", and count; lab_summary prints the
#    final "lab: N passed, M failed" line that run.sh adds up.
#
# Requires root (network namespaces, Postfix, port 25/53), iproute2 (ip,
# ss), ldnsutils (ldns-testns, drill), postfix, and for some callers swaks.

LAB_PASS=0
LAB_FAIL=0
LAB_N=0
LAB_PIDS=""
LAB_POSTFIX=""
LAB_DIR=""
LAB_SRC=${LAB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LAB_BUILD=${LAB_BUILD:-$LAB_SRC/build}

# ---------------------------------------------------------------------
# Messages

# lab_diag TEXT... - a diagnostic line ("# ..."), to stdout so it stays
# next to the assertion it explains.
lab_diag()
{
	printf '# %s\n' "$*"
}

# lab_die TEXT... - print and exit 1 (the EXIT trap cleans up).
lab_die()
{
	printf 'lab: fatal: %s\n' "$*" >&2
	exit 1
}

# lab_now_ms - monotonic-enough wall clock in milliseconds.
lab_now_ms()
{
	local s
	s=$(date +%s%N)
	echo $((s / 1000000))
}

# ---------------------------------------------------------------------
# Network namespace

# lab_netns_create NAME - add the namespace, bring lo up, point
# resolv.conf at 127.0.0.1 (ip netns exec bind-mounts /etc/netns/NAME/*).
lab_netns_create()
{
	local ns=$1
	ip netns add "$ns" || return 1
	ip netns exec "$ns" ip link set lo up || { ip netns del "$ns"; return 1; }
	mkdir -p "/etc/netns/$ns" &&
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "/etc/netns/$ns/resolv.conf" &&
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "/etc/netns/$ns/hosts"
}

# lab_netns_delete NAME - kill every process still in the namespace
# (TERM, then KILL after 3 s), delete it and its /etc/netns files.
lab_netns_delete()
{
	local ns=$1 pids
	[ -n "$ns" ] || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		for _ in $(seq 30); do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -z "$pids" ] && break
			sleep 0.1
		done
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "/etc/netns/$ns"
	return 0
}

# lab_in_netns - true when running inside a lab namespace.
lab_in_netns()
{
	[ -n "${LAB_NETNS-}" ]
}

# lab_isolate SCRIPT [ARGS...] - unless already inside a lab namespace,
# create one with a unique name, run "bash SCRIPT ARGS" inside it with
# LAB_NETNS set, delete the namespace, and exit with the script's
# status. Inside a namespace it returns at once. Call it at the top of
# a lab script: lab_isolate "$0" "$@".
lab_isolate()
{
	local script=$1 rc
	shift
	lab_in_netns && return 0
	[ "$(id -u)" = 0 ] || lab_die "network namespaces need root"
	LAB_NS_OUTER="savlab-$(basename "$script" .sh | tr -cd 'a-z0-9-' | cut -c1-16)-$$"
	lab_netns_create "$LAB_NS_OUTER" || lab_die "cannot create netns $LAB_NS_OUTER"
	trap 'lab_netns_delete "$LAB_NS_OUTER"' EXIT
	trap 'exit 130' INT TERM HUP
	ip netns exec "$LAB_NS_OUTER" env LAB_NETNS="$LAB_NS_OUTER" \
		LAB_SRC="$LAB_SRC" LAB_BUILD="$LAB_BUILD" bash "$script" "$@"
	rc=$?
	exit $rc
}

# ---------------------------------------------------------------------
# Temp dir, processes, cleanup

# lab_init NAME - make $LAB_DIR (mode 755: Postfix daemons drop
# privileges and must read their maps there) and install the cleanup
# trap. Must run inside the namespace.
lab_init()
{
	local name=${1:-lab}
	lab_in_netns || lab_die "lab_init outside a lab namespace (call lab_isolate first)"
	LAB_DIR=$(mktemp -d "/tmp/savlab-$name.XXXXXX") || lab_die "mktemp failed"
	chmod 755 "$LAB_DIR"
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM HUP
}

# lab_cleanup - the EXIT trap: stop Postfix instances, kill spawned
# process groups, remove the temp dir. Safe to call twice.
lab_cleanup()
{
	local conf pid alive
	for conf in $LAB_POSTFIX; do
		postfix -c "$conf" stop >/dev/null 2>&1
	done
	LAB_POSTFIX=""
	for pid in $LAB_PIDS; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 30); do
		alive=""
		for pid in $LAB_PIDS; do
			kill -0 "$pid" 2>/dev/null && alive="$alive $pid"
		done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for pid in $alive; do
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	done
	LAB_PIDS=""
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		if [ "${LAB_KEEP-}" = 1 ]; then
			echo "# lab: kept $LAB_DIR" >&2
		else
			rm -rf "$LAB_DIR"
		fi
	fi
	LAB_DIR=""
}

# lab_spawn NAME CMD [ARGS...] - start CMD in the background in its own
# process group (setsid), output to $LAB_DIR/NAME.log; sets LAB_LASTPID
# and remembers it for cleanup.
lab_spawn()
{
	local name=$1
	shift
	setsid "$@" >"$LAB_DIR/$name.log" 2>&1 </dev/null &
	LAB_LASTPID=$!
	LAB_PIDS="$LAB_PIDS $LAB_LASTPID"
}

# lab_kill PID - stop one spawned process group now (TERM, then KILL
# after 2 s) and forget it.
lab_kill()
{
	local pid=$1 rest p
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rest=""
	for p in $LAB_PIDS; do
		[ "$p" = "$pid" ] || rest="$rest $p"
	done
	LAB_PIDS=$rest
}

# ---------------------------------------------------------------------
# Waiting

# lab_wait_listen PROTO IP PORT [TENTHS] - wait (default 5 s) until a
# socket listens on IP:PORT (PROTO tcp or udp; a 0.0.0.0 listener counts
# for any IP). Uses ss, so it does not connect: a readiness check must not
# show up in a fake server's transcript.
lab_wait_listen()
{
	local proto=$1 ip=$2 port=$3 n=${4:-50} flag
	case $proto in tcp) flag=-Hltn ;; udp) flag=-Hlun ;; *) return 2 ;; esac
	for _ in $(seq "$n"); do
		if ss $flag 2>/dev/null | awk -v a="$ip:$port" -v b="0.0.0.0:$port" \
			'$4 == a || $4 == b { f = 1 } END { exit !f }'; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# lab_wait_port IP PORT [TENTHS] - wait (default 5 s) until a TCP
# connect to IP:PORT succeeds (bash /dev/tcp; nc is not installed). This
# DOES connect: use lab_wait_listen for servers whose connections are
# counted.
lab_wait_port()
{
	local ip=$1 port=$2 n=${3:-50}
	for _ in $(seq "$n"); do
		if timeout 1 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# lab_wait_file FILE REGEX [TENTHS] - wait (default 5 s) until FILE has a
# line matching the extended REGEX.
lab_wait_file()
{
	local file=$1 re=$2 n=${3:-50}
	for _ in $(seq "$n"); do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# lab_add_addr IP - add an extra address to lo (127.0.0.0/8 is already
# there; use this for the private-target cases, e.g. 10.99.0.1).
lab_add_addr()
{
	ip addr add "$1/32" dev lo 2>/dev/null || ip addr show dev lo | grep -q " $1/"
}

# ---------------------------------------------------------------------
# Fake DNS: ldns-testns

# Zone data for ldns-testns is written with these helpers into
# $LAB_DNS_DATA (default $LAB_DIR/dns.data), first match wins:
#   lab_dns_mx DOMAIN "10 mx1.d.test" "20 mx2.d.test"   MX answer ("0 ." null MX)
#   lab_dns_a HOST IP...  /  lab_dns_aaaa HOST IP...     address answers
#   lab_dns_rcode NAME TYPE RCODE                         NXDOMAIN (with SOA),
#                                                         NODATA (NOERROR, SOA),
#                                                         SERVFAIL, REFUSED
#   lab_dns_fallback                                      last: any other A is
#                                                         NXDOMAIN, any AAAA NODATA
# A name/type with no entry gets no reply at all: a clean client time-out.

# lab_dns_entry QNAME QTYPE RCODE [ANSWER-RR...] - one raw entry.
lab_dns_entry()
{
	local qname=$1 qtype=$2 rcode=$3 rr
	shift 3
	{
		echo "ENTRY_BEGIN"
		echo "MATCH opcode qtype qname"
		echo "ADJUST copy_id"
		echo "REPLY QR AA RD RA $rcode"
		echo "SECTION QUESTION"
		echo "$qname IN $qtype"
		echo "SECTION ANSWER"
		for rr in "$@"; do
			echo "$rr"
		done
		if [ "$rcode" = NXDOMAIN ] || { [ "$rcode" = NOERROR ] && [ $# -eq 0 ]; }; then
			echo "SECTION AUTHORITY"
			echo "test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300"
		fi
		echo "ENTRY_END"
	} >>"${LAB_DNS_DATA:-$LAB_DIR/dns.data}"
}

# lab_dns_rrset TYPE NAME VALUE... - one NOERROR entry with a record of
# TYPE per VALUE; lab_dns_mx/a/aaaa are its named forms.
lab_dns_rrset()
{
	local type=$1 n=${2%.}. v rrs=()
	shift 2
	for v in "$@"; do
		rrs+=("$n 300 IN $type $v")
	done
	lab_dns_entry "$n" "$type" NOERROR "${rrs[@]}"
}

lab_dns_mx()
{
	lab_dns_rrset MX "$@"
}

lab_dns_a()
{
	lab_dns_rrset A "$@"
}

lab_dns_aaaa()
{
	lab_dns_rrset AAAA "$@"
}

lab_dns_rcode()
{
	local rc=$3
	[ "$rc" = NODATA ] && rc=NOERROR
	lab_dns_entry "${1%.}." "$2" "$rc"
}

lab_dns_fallback()
{
	local t
	for t in A AAAA; do
		{
			echo "ENTRY_BEGIN"
			echo "MATCH opcode qtype"
			echo "ADJUST copy_id copy_query"
			if [ $t = A ]; then
				echo "REPLY QR AA RD RA NXDOMAIN"
			else
				echo "REPLY QR AA RD RA NOERROR"
			fi
			echo "SECTION QUESTION"
			echo "fallback.test. IN $t"
			echo "SECTION AUTHORITY"
			echo "test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300"
			echo "ENTRY_END"
		} >>"${LAB_DNS_DATA:-$LAB_DIR/dns.data}"
	done
}

# lab_dns_start DATAFILE [FORKS] - ldns-testns on port 53 (all of lo; pid in LAB_DNS_PID),
# verbose, so every query shows up in $LAB_DIR/dns.log as
# "query N: id X: UDP n bytes: NAME<TAB>IN<TAB>TYPE". It is single-threaded:
# an entry with sleep= stalls every other query, so prefer entries that
# do not match (no reply: a clean client time-out) for slow DNS, or pass
# FORKS extra server processes (killed with the process group).
lab_dns_start()
{
	local data=$1 forks=${2:-0}
	[ -r "$data" ] || lab_die "no DNS data file $data"
	if [ "$forks" -gt 0 ]; then
		lab_spawn dns ldns-testns -v -p 53 -f "$forks" "$data"
	else
		lab_spawn dns ldns-testns -v -p 53 "$data"
	fi
	LAB_DNS_PID=$LAB_LASTPID
	lab_wait_listen udp 127.0.0.1 53 || { cat "$LAB_DIR/dns.log" >&2; lab_die "ldns-testns did not start"; }
	lab_wait_listen tcp 127.0.0.1 53 || lab_die "ldns-testns (tcp) did not start"
}

# lab_dns_queries NAME [TYPE] - how many queries for NAME (any case, no
# trailing dot needed) of TYPE (any type when omitted) ldns-testns saw.
lab_dns_queries()
{
	LAB_DNS_MARK=0 lab_dns_queries_since "$@"
}

# lab_dns_mark - remember the current end of the DNS log; then
# lab_dns_queries_since NAME [TYPE] counts only queries after the mark,
# and lab_dns_total_since every query after it, whatever the name.
lab_dns_mark()
{
	LAB_DNS_MARK=$(grep -c '^query [0-9]*: ' "$LAB_DIR/dns.log")
}

lab_dns_queries_since()
{
	local name=${1%.} type=${2-}
	awk -v n="$name." -v t="$type" -v m="${LAB_DNS_MARK:-0}" '
		/^query [0-9]+: / {
			if (++k <= m) next
			q = $0; sub(/.*bytes: /, "", q); split(q, f, "\t")
			if ((n == "." || tolower(f[1]) == tolower(n)) && (t == "" || f[3] == t)) c++
		}
		END { print c + 0 }' "$LAB_DIR/dns.log"
}

lab_dns_total_since()
{
	lab_dns_queries_since "" ""
}

# ---------------------------------------------------------------------
# Postfix
#
# Each instance NAME lives in $LAB_DIR/pf-NAME/{conf,spool,data} with
# its log in $LAB_DIR/pf-NAME/maillog (maillog_file; Postfix prints
# errors nowhere else here). lab_postfix_conf writes the common part;
# lab_postfix_mx and lab_postfix_front add the role; lab_postfix_start
# starts it and waits for the listener. Extra settings: call
# lab_postfix_set NAME key=value... before starting.

# lab_postfix_dir NAME - the instance directory.
lab_postfix_dir()
{
	echo "$LAB_DIR/pf-$1"
}

# lab_postfix_log NAME - path of the instance's maillog.
lab_postfix_log()
{
	echo "$LAB_DIR/pf-$1/maillog"
}

# lab_postfix_conf NAME LISTEN MYHOSTNAME - the common main.cf and a
# minimal master.cf with one smtpd on LISTEN (e.g. 127.0.0.2:25). No
# DNS (smtp_dns_support_level=disabled, no peer name lookups), no
# delivery (everything goes to discard), no chroot.
lab_postfix_conf()
{
	local name=$1 listen=$2 host=$3 d
	d=$(lab_postfix_dir "$name")
	mkdir -p "$d/conf" "$d/spool" "$d/data" || return 1
	chown postfix "$d/data"
	cat >"$d/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = lab-$name
maillog_file_prefixes = $LAB_DIR
maillog_file = $d/maillog
myhostname = $host
mydomain = lab.test
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
# a probe never delivers a message, so it never gives back the flow
# control token its MAIL took: after ~100 probes every MAIL would wait
# in_flow_delay (1 s)
in_flow_delay = 0
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
biff = no
default_transport = discard:lab-$name-default
relay_transport = discard:lab-$name-relay
local_transport = discard:lab-$name-local
virtual_transport = discard:lab-$name-virtual
smtpd_milters =
non_smtpd_milters =
smtpd_banner = \$myhostname ESMTP lab
smtpd_error_sleep_time = 0
EOF
	cat >"$d/conf/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command
$listen inet    n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# lab_postfix_set NAME KEY=VALUE... - change main.cf settings.
lab_postfix_set()
{
	local name=$1
	shift
	postconf -c "$(lab_postfix_dir "$name")/conf" -e "$@"
}

# lab_postfix_mx NAME IP DOMAIN [USER...] - a "remote MX" Postfix for
# DOMAIN on IP:25. Mailboxes (virtual, texthash): each USER
# (default: alice bob), plus these fault users:
#   grey@DOMAIN     450 4.7.1 greylisted (check_recipient_access)
#   full@DOMAIN     552 5.2.2 mailbox full
#   blocked@DOMAIN  550 5.7.1 policy refusal
# Everybody else gets Postfix's own
#   550 5.1.1 <x@DOMAIN>: Recipient address rejected: User unknown in virtual mailbox table
# The instance is written, not started: call lab_postfix_start NAME.
lab_postfix_mx()
{
	local name=$1 ip=$2 domain=$3 d u
	shift 3
	[ $# -gt 0 ] || set -- alice bob
	d=$(lab_postfix_dir "$name")
	lab_postfix_conf "$name" "$ip:25" "mx.$domain" || return 1
	: >"$d/conf/vmailbox"
	for u in "$@" grey full blocked; do
		printf '%s@%s ok\n' "$u" "$domain" >>"$d/conf/vmailbox"
	done
	cat >"$d/conf/rcpt_access" <<EOF
grey@$domain 450 4.7.1 Greylisted, please try again later
full@$domain 552 5.2.2 Mailbox full
blocked@$domain 550 5.7.1 Client host blocked by local policy
EOF
	postconf -c "$d/conf" -e "mynetworks = 127.0.0.1/32"
	cat >>"$d/conf/main.cf" <<EOF
virtual_mailbox_domains = $domain
virtual_mailbox_maps = texthash:$d/conf/vmailbox
smtpd_reject_unlisted_recipient = yes
unknown_virtual_mailbox_reject_code = 550
smtpd_recipient_restrictions = check_recipient_access texthash:$d/conf/rcpt_access, reject_unauth_destination
EOF
}

# lab_postfix_front NAME LISTEN MILTERS - a front MTA (the one that runs
# sav-milter) on LISTEN (e.g. 127.0.0.1:2525) with smtpd_milters=MILTERS
# (e.g. inet:127.0.0.1:10026 or unix:/path). Accepts mail for any
# domain from anywhere in 127/8 and discards it after queueing;
# milter_default_action=tempfail. Written, not started.
lab_postfix_front()
{
	local name=$1 listen=$2 milters=$3 d
	d=$(lab_postfix_dir "$name")
	lab_postfix_conf "$name" "$listen" "front.lab.test" || return 1
	cat >>"$d/conf/main.cf" <<EOF
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 5s
milter_command_timeout = 30s
EOF
	# postconf -e replaces the common part's empty smtpd_milters instead
	# of appending a second one; smtpd refuses to start unless some
	# restriction list can reject relaying (every lab client is in
	# mynetworks, 127.0.0.0/8, so everything is relayed)
	postconf -c "$d/conf" -e "smtpd_milters = $milters" \
		"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
		"smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination"
}

# lab_postfix_start NAME - start the instance and wait for its listener.
lab_postfix_start()
{
	local name=$1 d listen ip port
	d=$(lab_postfix_dir "$name")
	listen=$(awk '$2 == "inet" { print $1; exit }' "$d/conf/master.cf")
	ip=${listen%:*}
	port=${listen##*:}
	if ! postfix -c "$d/conf" start >"$d/start.log" 2>&1; then
		cat "$d/start.log" "$d/maillog" >&2 2>/dev/null
		lab_die "postfix $name did not start"
	fi
	LAB_POSTFIX="$LAB_POSTFIX $d/conf"
	lab_wait_listen tcp "$ip" "$port" 100 || {
		cat "$d/maillog" >&2 2>/dev/null
		lab_die "postfix $name: nothing listens on $listen"
	}
}

# lab_postfix_stop NAME - stop one instance now.
lab_postfix_stop()
{
	local d c rest
	d=$(lab_postfix_dir "$1")
	postfix -c "$d/conf" stop >/dev/null 2>&1
	rest=""
	for c in $LAB_POSTFIX; do
		[ "$c" = "$d/conf" ] || rest="$rest $c"
	done
	LAB_POSTFIX=$rest
}

# lab_postfix_connects NAME - how many SMTP connections the instance has
# logged so far ("connect from" lines in its maillog).
lab_postfix_connects()
{
	lab_maillog_connects "$(lab_postfix_log "$1")"
}

lab_maillog_connects()
{
	local n
	n=$(grep -c 'smtpd\[[0-9]*\]: connect from ' "$1" 2>/dev/null)
	echo "${n:-0}"
}

# ---------------------------------------------------------------------
# Fake SMTP server: build/tests/fake_smtpd (script language: see the top
# comment of tests/tools/fake_smtpd.c)

LAB_FAKE_SMTPD=${LAB_FAKE_SMTPD:-$LAB_BUILD/tests/fake_smtpd}
LAB_FAKES=""

# lab_fake_start NAME ADDR:PORT... - start fake_smtpd NAME listening on
# each ADDR:PORT with the script read from standard input (may be empty:
# the defaults), transcript in $LAB_DIR/NAME.tr; waits until it listens.
# Several may start first and be waited for at once: LAB_FAKE_NOWAIT=1
# lab_fake_start ...; then lab_fake_wait. LAB_FAKE_OPTS adds options
# (words without blanks), e.g. LAB_FAKE_OPTS="-C cert.pem -K key.pem".
lab_fake_start()
{
	local name=$1 a args=()
	shift
	[ -x "$LAB_FAKE_SMTPD" ] || lab_die "no $LAB_FAKE_SMTPD (make all)"
	cat >"$LAB_DIR/$name.script"
	for a in "$@"; do
		args+=(-l "$a")
	done
	rm -f "$LAB_DIR/$name.ready"
	# shellcheck disable=SC2086
	lab_spawn "$name" "$LAB_FAKE_SMTPD" "${args[@]}" -s "$LAB_DIR/$name.script" \
		-t "$LAB_DIR/$name.tr" -r "$LAB_DIR/$name.ready" ${LAB_FAKE_OPTS-}
	: >>"$LAB_DIR/$name.tr"
	LAB_FAKES="$LAB_FAKES $name"
	[ "${LAB_FAKE_NOWAIT-}" = 1 ] || lab_fake_wait "$name"
}

# lab_fake_wait [NAME...] - wait until each (default: every) fake
# server has written its ready file.
lab_fake_wait()
{
	local n
	# shellcheck disable=SC2086
	[ $# -gt 0 ] || set -- $LAB_FAKES
	for n in "$@"; do
		lab_wait_file "$LAB_DIR/$n.ready" . || {
			cat "$LAB_DIR/$n.log" >&2
			lab_die "fake_smtpd $n did not start"
		}
	done
}

# lab_fake_conns NAME - connections NAME has accepted (or refused) so far.
lab_fake_conns()
{
	grep -Ec '^[0-9]+ (CONNECT|REFUSED) ' "$LAB_DIR/$1.tr"
}

# lab_fake_cmds NAME ERE - client lines (as logged, escaped) of NAME
# that match ERE, e.g. lab_fake_cmds f1 '^RCPT TO:'.
lab_fake_cmds()
{
	sed -n 's/^[0-9][0-9]* C: //p' "$LAB_DIR/$1.tr" | grep -E -- "$2"
}

# lab_fake_ncmds NAME ERE - how many such lines.
lab_fake_ncmds()
{
	lab_fake_cmds "$1" "$2" | wc -l
}

# lab_conns_total - connections seen so far by every fake server and
# every Postfix instance: take it before and after a step to prove the
# step connected nowhere.
lab_conns_total()
{
	local n=0 f c
	for f in $LAB_FAKES; do
		n=$((n + $(lab_fake_conns "$f")))
	done
	for c in $LAB_POSTFIX; do
		n=$((n + $(lab_maillog_connects "${c%/conf}/maillog")))
	done
	echo "$n"
}

# ---------------------------------------------------------------------
# Tarpits (perl from perl-base; for hosts that must eat time)

# lab_tarpit NAME PORT MODE - listen on 0.0.0.0:PORT (every 127/8
# address; use a port no other server uses). MODE:
#   silent     accept every connection, never send a byte, keep it open;
#              each accepted connection logs "accept LOCAL-IP" to
#              $LAB_DIR/NAME.log (lab_tarpit_hits counts distinct IPs)
#   blackhole  listen with a zero backlog and fill the queue with one
#              connection of its own: every further SYN is dropped, so a
#              client's connect() hangs as with a firewalled host
lab_tarpit()
{
	local name=$1 port=$2 mode=$3
	lab_spawn "$name" perl -MSocket -e '
		my ($port, $mode) = @ARGV;
		$| = 1;
		socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
		setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
		bind($s, pack_sockaddr_in($port, INADDR_ANY)) or die "bind: $!";
		if ($mode eq "blackhole") {
			listen($s, 0) or die "listen: $!";
			socket(my $c, PF_INET, SOCK_STREAM, 0) or die;
			connect($c, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) or die "fill: $!";
			print "ready blackhole\n";
			sleep 3600;
			exit 0;
		}
		listen($s, 128) or die "listen: $!";
		print "ready silent\n";
		my @keep;
		while (accept(my $c, $s)) {
			my ($p, $a) = unpack_sockaddr_in(getsockname($c));
			print "accept ", inet_ntoa($a), "\n";
			push @keep, $c;
		}' "$port" "$mode"
	lab_wait_file "$LAB_DIR/$name.log" '^ready' || lab_die "tarpit $name did not start"
}

# lab_tarpit_hits NAME - distinct local addresses the silent tarpit
# NAME accepted connections on.
lab_tarpit_hits()
{
	grep '^accept ' "$LAB_DIR/$1.log" | sort -u | wc -l
}

# lab_synwatch_start NAME PORT / lab_synwatch_stop NAME - sample (every
# 50 ms) the connections in SYN-SENT towards PORT; afterwards
# lab_synwatch_hits NAME is the number of distinct destination addresses
# seen. With a blackhole each attempt stays in SYN-SENT for the whole
# connect time-out, so sampling sees every one.
lab_synwatch_start()
{
	local name=$1 port=$2
	lab_spawn "$name" bash -c '
		while :; do
			ss -Htn state syn-sent "( dport = :$1 )" | awk "{ print \$4 }"
			sleep 0.05
		done' synwatch "$port"
	LAB_SYNWATCH_PID=$LAB_LASTPID
}

lab_synwatch_stop()
{
	lab_kill "$LAB_SYNWATCH_PID"
}

lab_synwatch_hits()
{
	awk 'NF { sub(/:[0-9]+$/, "", $1); print $1 }' "$LAB_DIR/$1.log" | sort -u | wc -l
}

# ---------------------------------------------------------------------
# JSON (sav-probe --json prints one flat object per line; no jq here)

# lab_json_str JSON KEY - the value of a string member (escapes kept).
lab_json_str()
{
	printf '%s\n' "$1" | sed -n 's/.*"'"$2"'":"\(\([^"\\]\|\\.\)*\)".*/\1/p' | head -1
}

# lab_json_num JSON KEY - the value of a number or true/false member.
lab_json_num()
{
	printf '%s\n' "$1" | sed -n 's/.*"'"$2"'":\([-0-9.a-z]*\).*/\1/p' | head -1
}

# ---------------------------------------------------------------------
# Assertions

# lab_ok NAME / lab_not_ok NAME WHY - record one result.
lab_ok()
{
	LAB_N=$((LAB_N + 1))
	LAB_PASS=$((LAB_PASS + 1))
	printf 'ok %d - %s\n' "$LAB_N" "$1"
}

lab_not_ok()
{
	LAB_N=$((LAB_N + 1))
	LAB_FAIL=$((LAB_FAIL + 1))
	printf 'not ok %d - %s: %s\n' "$LAB_N" "$1" "$2"
}

# lab_is GOT WANT NAME - equal strings; lab_like GOT ERE NAME - GOT
# matches the extended regex; lab_le GOT MAX NAME / lab_ge GOT MIN NAME -
# integer bounds. One-fact forms of lab_check.
lab_is()
{
	lab_check "$3" "$1" "$2"
}

lab_like()
{
	lab_check "$3" "$1" "~$2"
}

lab_le()
{
	lab_check "$3" "$1" "<=$2"
}

lab_ge()
{
	lab_check "$3" "$1" ">=$2"
}

# lab_check NAME GOT WANT [GOT WANT]... - one result for several facts.
# WANT is a plain string (equality), or "~ERE" (extended regex), or
# "!~ERE" (does not match), or "<=N" / ">=N" (integer bounds). All mismatches go into the one
# "not ok" line: "got X, want Y; got ..."
lab_check()
{
	local name=$1 got want why="" bad
	shift
	while [ $# -ge 2 ]; do
		got=$1 want=$2 bad=""
		shift 2
		case $want in
		"!~"*)	! printf '%s\n' "$got" | grep -Eq -- "${want#"!~"}" || bad="no /${want#"!~"}/" ;;
		"~"*)	printf '%s\n' "$got" | grep -Eq -- "${want#"~"}" || bad="/${want#"~"}/" ;;
		"<="*)	{ [ -n "$got" ] && [ "$got" -le "${want#"<="}" ]; } 2>/dev/null || bad=$want ;;
		">="*)	{ [ -n "$got" ] && [ "$got" -ge "${want#">="}" ]; } 2>/dev/null || bad=$want ;;
		*)	[ "$got" = "$want" ] || bad="'$want'" ;;
		esac
		[ -n "$bad" ] && why="$why${why:+; }got '$got', want $bad"
	done
	[ $# -eq 0 ] || why="$why${why:+; }odd number of arguments to lab_check"
	if [ -z "$why" ]; then
		lab_ok "$name"
	else
		lab_not_ok "$name" "$why"
	fi
}

# lab_summary - print "lab: N passed, M failed"; return 1 on any failure
# or when nothing was tested.
lab_summary()
{
	echo "lab: $LAB_PASS passed, $LAB_FAIL failed"
	[ "$LAB_FAIL" -eq 0 ] && [ "$LAB_PASS" -gt 0 ]
}
