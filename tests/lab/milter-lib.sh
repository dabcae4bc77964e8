# SPDX-License-Identifier: BSD-2-Clause
# milter-lib.sh - the milter lab's shared world and helpers (bash).
# Sourced after lib.sh by milter-lab.sh, postfix-lab.sh, sendmail-lab.sh
# and demo.sh; not a test itself (run.sh runs only *-lab.sh).
#
# The world (mlab_world), all inside the caller's loopback-only
# namespace:
#   DNS (ldns-testns on :53)
#     example.test     MX 10 mx.example.test -> 127.0.0.2, a real Postfix
#                      (lab_postfix_mx): alice, bob 250; anybody else
#                      550 5.1.1; grey 450 4.7.1; full 552; blocked 550 5.7.1
#     catchall.test    MX -> 127.0.0.3, fake_smtpd that accepts every RCPT
#     policy.test      MX -> 127.0.0.4, fake_smtpd that refuses every RCPT
#                      with 550 5.7.1 (a policy block: unknown, and the
#                      domain is then cached as "blocks us", so it has a
#                      domain of its own)
#     slow.test        MX -> 127.0.0.5, fake_smtpd that answers RCPT after
#                      MLAB_SLOW_MS (4 s) with 550 5.1.1 (the budget case)
#     nxdomain.test    NXDOMAIN          nullmx.test   MX 0 .
#     servfail.test    SERVFAIL
#   sav-milter (mlab_milter_conf, mlab_milter_start) on a unix socket in
#   $LAB_DIR/milter, mode 0660 group postfix, running as nobody, its
#   stderr (-f) in $LAB_DIR/milter.log: one decision line per MAIL FROM.
#
# Functions are prefixed mlab_; globals MLAB_*.

MLAB_MILTER=${MLAB_MILTER:-$LAB_BUILD/sav-milter}
MLAB_SLOW_MS=${MLAB_SLOW_MS:-4000}
MLAB_CLIENT_IP=${MLAB_CLIENT_IP:-127.0.0.9}

# mlab_world - DNS, the Postfix MX and the fake servers; sets MLAB_DNS_DATA.
mlab_world()
{
	local f
	LAB_DNS_DATA=$LAB_DIR/dns.data
	: >"$LAB_DNS_DATA"
	lab_dns_mx example.test "10 mx.example.test."
	lab_dns_a mx.example.test 127.0.0.2
	lab_dns_mx catchall.test "10 mx.catchall.test."
	lab_dns_a mx.catchall.test 127.0.0.3
	lab_dns_mx policy.test "10 mx.policy.test."
	lab_dns_a mx.policy.test 127.0.0.4
	lab_dns_mx slow.test "10 mx.slow.test."
	lab_dns_a mx.slow.test 127.0.0.5
	lab_dns_mx nullmx.test "0 ."
	lab_dns_rcode nxdomain.test MX NXDOMAIN
	lab_dns_rcode servfail.test MX SERVFAIL
	# a script's own records (mlab_dns_extra, when it defines one)
	if declare -F mlab_dns_extra >/dev/null; then
		mlab_dns_extra
	fi
	lab_dns_fallback
	lab_dns_start "$LAB_DNS_DATA"

	lab_postfix_mx mx 127.0.0.2 example.test alice bob
	lab_postfix_start mx

	f=$LAB_DIR/catchall.script
	printf 'rcpt * 250 2.1.5 Ok\n' >"$f"
	lab_spawn fake-catchall "$LAB_FAKE_SMTPD" -l 127.0.0.3:25 -s "$f" \
		-t "$LAB_DIR/catchall.transcript" -r "$LAB_DIR/catchall.ready"
	f=$LAB_DIR/policy.script
	printf 'rcpt default 550 5.7.1 Client host blocked by local policy\n' >"$f"
	lab_spawn fake-policy "$LAB_FAKE_SMTPD" -l 127.0.0.4:25 -s "$f" \
		-t "$LAB_DIR/policy.transcript" -r "$LAB_DIR/policy.ready"
	f=$LAB_DIR/slow.script
	printf 'delay rcpt %s\nrcpt default 550 5.1.1 User unknown\n' "$MLAB_SLOW_MS" >"$f"
	lab_spawn fake-slow "$LAB_FAKE_SMTPD" -l 127.0.0.5:25 -s "$f" \
		-t "$LAB_DIR/slow.transcript" -r "$LAB_DIR/slow.ready"
	lab_wait_file "$LAB_DIR/catchall.ready" . || lab_die "fake_smtpd (catch-all) did not start"
	lab_wait_file "$LAB_DIR/slow.ready" . || lab_die "fake_smtpd (slow) did not start"
	lab_wait_file "$LAB_DIR/policy.ready" . || lab_die "fake_smtpd (policy) did not start"
}

# mlab_milter_conf FILE [EXTRA-LINE...] - the lab's sav-milter.conf.
# TrustedNetworks is 127.0.0.1 and ::1 only: Postfix presents local
# submissions (non_smtpd_milters) as localhost [127.0.0.1], so they stay
# trusted as with the default 127.0.0.0/8, while the lab's SMTP clients
# connect from MLAB_CLIENT_IP (127.0.0.9) and are probed. Targets are on
# loopback, so AllowPrivateTargets is on.
mlab_milter_conf()
{
	local f=$1 d=$LAB_DIR/milter
	shift
	mkdir -p "$d"
	chmod 755 "$d"
	{
		echo "Socket ${MLAB_SOCKET:-unix:$d/sav.sock}"
		echo "SocketMode 0660"
		echo "SocketGroup postfix"
		echo "UserID nobody"
		echo "PidFile $d/sav.pid"
		echo "CacheFile $d/cache.mdb"
		echo "Resolver 127.0.0.1"
		echo "DNSTimeout 2s"
		echo "AllowPrivateTargets yes"
		echo "HeloName probe.lab.test"
		echo "TrustedNetworks 127.0.0.1/32, ::1/128"
		echo "ProbeWait 2s"
		echo "ProbeTimeout 20s"
		for l in "$@"; do
			echo "$l"
		done
	} >"$f"
}

# mlab_milter_start CONF - start sav-milter -f -c CONF (stderr into
# $LAB_DIR/milter.log) and wait for its socket (unix:PATH or
# inet:PORT@IP); sets MLAB_MILTER_PID.
mlab_milter_start()
{
	local conf=$1 spec sock="" port="" ip=""
	spec=$(sed -n 's/^Socket //p' "$conf")
	case $spec in
	unix:*|local:*)	sock=${spec#*:} ;;
	inet:*)		port=${spec#inet:}; ip=${port#*@}; port=${port%@*} ;;
	esac
	[ -x "$MLAB_MILTER" ] || lab_die "no $MLAB_MILTER (make all)"
	lab_spawn milter "$MLAB_MILTER" -f -c "$conf"
	MLAB_MILTER_PID=$LAB_LASTPID
	local _
	for _ in $(seq 50); do
		if grep -q 'starting:' "$LAB_DIR/milter.log" 2>/dev/null; then
			if [ -n "$sock" ]; then
				[ -S "$sock" ] && return 0
			elif lab_wait_listen tcp "$ip" "$port" 1; then
				return 0
			fi
		fi
		kill -0 "$MLAB_MILTER_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$LAB_DIR/milter.log" >&2
	lab_die "sav-milter did not start"
}

# mlab_milter_stop - TERM and wait (bounded).
mlab_milter_stop()
{
	[ -n "${MLAB_MILTER_PID-}" ] || return 0
	lab_kill "$MLAB_MILTER_PID"
	MLAB_MILTER_PID=""
}

# mlab_decision SENDER [N] - the Nth from last (default 1: the last)
# decision line the milter logged for SENDER (as logged: sender=<SENDER>).
mlab_decision()
{
	local s=$1 n=${2:-1}
	grep -F "sender=<$s> " "$LAB_DIR/milter.log" | tail -n "$n" | head -1
}

# mlab_field LINE KEY - the value of KEY=VALUE in a decision line.
mlab_field()
{
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

# mlab_swaks FROM [SERVER] [TO] [EXTRA...] - one SMTP transaction
# through the front MTA with swaks, from MLAB_CLIENT_IP; prints the reply to MAIL FROM, or
# when MAIL was accepted the first non-2xx/3xx reply after it, or the
# final reply ("250 ..."); swaks' transcript goes to $LAB_DIR/swaks.log.
mlab_swaks()
{
	local from=$1 server=${2:-127.0.0.1:2525} to=${3:-rcpt@dest.test} out
	shift 3 2>/dev/null || shift $#
	out=$(swaks --server "$server" --from "$from" --to "$to" \
		--local-interface "$MLAB_CLIENT_IP" --helo client.lab.test \
		--timeout 40 --hide-informational "$@" 2>&1)
	printf '=== %s\n%s\n' "$from" "$out" >>"$LAB_DIR/swaks.log"
	printf '%s\n' "$out" | awk '
		/^ *-> MAIL FROM/ { m = 1; next }
		m && /^ *<\*\* / { sub(/^ *<\*\* */, ""); print; found = 1; exit }
		m && /^ *<-  / && !/^ *<- +221 / { last = $0 }
		END { if (!found) { sub(/^ *<- */, "", last); print last } }'
}

# mlab_code REPLY - "550 5.1.7" from "550 5.1.7 Sender address ...".
mlab_code()
{
	printf '%s\n' "$1" | awk '{ print $1, $2 }'
}

# mlab_wait_count FILE FIXED-STRING N [TENTHS] - wait (default 5 s) until
# FILE has at least N lines holding FIXED-STRING.
mlab_wait_count()
{
	local file=$1 s=$2 n=$3 t=${4:-50} _
	for _ in $(seq "$t"); do
		[ "$(grep -cF -- "$s" "$file" 2>/dev/null)" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}
