#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# postfix-rate-lab.sh - ClientProbeRate behind a real Postfix front MTA:
# what one SMTP client may make sav-milter probe, with a real Postfix as
# the senders' MX, driven by swaks, inside a loopback-only namespace.
#
# The world: DNS (ldns-testns) example.test MX -> 127.0.0.2, a Postfix
# MX whose mailboxes are alice, bob and r1 .. r40 (everybody else 550
# 5.1.1), with g1 .. g5 greylisted (450 4.7.1); the front Postfix on
# 127.0.0.1:2525 with sav-milter on its unix socket, ClientProbeRate 3.
#
#   - a relay (one client address) sending from 20 distinct existing
#     senders within the minute is never tempfailed: every one is
#     probed and accepted; 5 greylisted senders after them do not count
#     either, and its next existing sender is still probed and accepted;
#   - a forger (another client) sending from senders that do not exist:
#     the first 3 are probed and refused (550 5.1.7); after them every
#     new sender, an existing one too, gets 451 4.7.1 (reason
#     rate-limited) with no DNS query and no connection at the MX; the
#     milter logs the client's limit once;
#   - ClientProbeRateCounts all (the old way): the relay's 4th new
#     existing sender within the minute gets 451 4.7.1.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v swaks >/dev/null || lab_die "swaks is not installed (make deps)"
lab_init postfix-rate

RELAY_IP=127.0.0.12
FORGER_IP=127.0.0.13

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
lab_dns_mx example.test "10 mx.example.test."
lab_dns_a mx.example.test 127.0.0.2
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

# shellcheck disable=SC2046
lab_postfix_mx mx 127.0.0.2 example.test alice bob $(seq -f 'r%g' 40)
MXDIR=$(lab_postfix_dir mx)
for i in 1 2 3 4 5; do
	printf 'g%d@example.test 450 4.7.1 Greylisted, please try again later\n' "$i"
done >>"$MXDIR/conf/rcpt_access"
lab_postfix_start mx
MXLOG=$(lab_postfix_log mx)

CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "ClientProbeRate 3"
mlab_milter_start "$CONF"
lab_postfix_front front 127.0.0.1:2525 "unix:$SOCK"
lab_postfix_start front
lab_diag "Postfix $(postconf -d -h mail_version 2>/dev/null), $(swaks --version 2>/dev/null | head -1)"

# relay_sends IP FIRST LAST - senders rFIRST .. rLAST@example.test from
# the client at IP; prints "accepted probed limited"
relay_sends()
{
	local ip=$1 i got line acc=0 probed=0 lim=0
	for i in $(seq "$2" "$3"); do
		got=$(MLAB_CLIENT_IP=$ip mlab_swaks "r$i@example.test")
		line=$(mlab_decision "r$i@example.test")
		case $got in "250 "*) acc=$((acc + 1)) ;; esac
		[ "$(mlab_field "$line" verdict)" = valid ] && [ "$(mlab_field "$line" cache)" = miss ] &&
			probed=$((probed + 1))
		[ "$(mlab_field "$line" reason)" = rate-limited ] && lim=$((lim + 1))
	done
	echo "$acc $probed $lim"
}

# --- a relay whose senders exist ------------------------------------------------
c0=$(lab_postfix_connects mx)
t0=$(lab_now_ms)
read -r acc probed lim <<<"$(relay_sends $RELAY_IP 1 20)"
ms=$(( $(lab_now_ms) - t0 ))
# no bound on the time: any 4 of the 20 within one minute (each takes
# well under 15 s) would be limited if existing senders counted, as the
# ClientProbeRateCounts all section below shows
lab_diag "20 relay transactions in $ms ms"
lab_check "relay: 20 new existing senders from one client (ClientProbeRate 3) are all probed and accepted" \
	"$acc" 20 "$probed" 20 "$lim" 0 "$(( $(lab_postfix_connects mx) - c0 ))" 20

got=""
for i in 1 2 3 4 5; do
	got="$got$(MLAB_CLIENT_IP=$RELAY_IP mlab_swaks "g$i@example.test" | awk '{ print $1 }') "
done
lab_check "relay: 5 greylisted senders get 450 each, probed (the MX answered 450 five times)" \
	"$got" "450 450 450 450 450 " \
	"$(grep -c 'RCPT from.*: 450 4\.7\.1 <g[1-5]@example\.test>' "$MXLOG")" 5 \
	"$(mlab_field "$(mlab_decision g5@example.test)" reason)" greylisted
read -r acc probed lim <<<"$(relay_sends $RELAY_IP 21 21)"
lab_check "relay: its next existing sender is still probed and accepted: greylisting did not count" \
	"$acc" 1 "$probed" 1 "$lim" 0
lab_is "$(grep -cF "limit: client $RELAY_IP" "$LAB_DIR/milter.log")" 0 \
	"relay: the milter never logged a limit for it"

# --- a forger whose senders do not exist ---------------------------------------------
good=0
for i in 1 2 3; do
	got=$(MLAB_CLIENT_IP=$FORGER_IP mlab_swaks "forged$i@example.test")
	line=$(mlab_decision "forged$i@example.test")
	case $got in "550 5.1.7 "*) good=$((good + 1)) ;; esac
	[ "$(mlab_field "$line" cache)" = miss ] && [ "$(mlab_field "$line" reason)" = user-unknown ] &&
		good=$((good + 1))
done
lab_wait_file "$MXLOG" 'forged3@example\.test' 50 || lab_diag "the MX never logged forged3@example.test"
lab_check "forger: 3 new senders that do not exist are probed and refused (550 5.1.7)" \
	"$good" 6 "$(grep -c 'RCPT from.*<forged[123]@example\.test>' "$MXLOG")" 3

lab_dns_mark
c0=$(lab_postfix_connects mx)
good=0
for s in forged4 forged5 r22; do
	got=$(MLAB_CLIENT_IP=$FORGER_IP mlab_swaks "$s@example.test")
	line=$(mlab_decision "$s@example.test")
	lab_check "forger: $s@example.test gets 451 4.7.1, reason=rate-limited" \
		"$got" "~^451 4\\.7\\.1 .*\\(rate-limited\\)" "$(mlab_field "$line" verdict)" tempfail \
		"$(mlab_field "$line" reason)" rate-limited "$(mlab_field "$line" client)" "[$FORGER_IP]"
done
# a probe, had one started, would have asked DNS for example.test by now
sleep 0.5
lab_check "forger: the refused senders were never probed: no DNS query, no connection, nothing at the MX" \
	"$(lab_dns_queries_since example.test)" 0 "$(( $(lab_postfix_connects mx) - c0 ))" 0 \
	"$(grep -cE '(forged[45]|r22)@example\.test' "$MXLOG")" 0
lab_is "$(grep -cF "limit: client $FORGER_IP: 3 of the 3 probes it started within a minute found no valid sender" \
	"$LAB_DIR/milter.log")" 1 "forger: the milter logs the client's limit once"
read -r acc probed lim <<<"$(relay_sends $RELAY_IP 22 22)"
lab_check "the relay is not affected: r22 (refused to the forger) is probed and accepted for it" \
	"$acc" 1 "$probed" 1 "$lim" 0

# --- ClientProbeRateCounts all: every probe counts --------------------------------------
# limits change only on a restart
mlab_milter_stop
mv "$LAB_DIR/milter.log" "$LAB_DIR/milter.log.1"
mlab_milter_conf "$LAB_DIR/all.conf" "ClientProbeRate 3" "ClientProbeRateCounts all"
mlab_milter_start "$LAB_DIR/all.conf"
read -r acc probed lim <<<"$(relay_sends $RELAY_IP 23 26)"
lab_check "ClientProbeRateCounts all: the relay's 4th new existing sender gets 451 (rate-limited)" \
	"$acc" 3 "$probed" 3 "$lim" 1
lab_is "$(grep -cF "limit: client $RELAY_IP started 3 probes within a minute (ClientProbeRate)" \
	"$LAB_DIR/milter.log")" 1 "ClientProbeRateCounts all: the milter logs the relay's limit"

lab_summary
