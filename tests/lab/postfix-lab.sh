#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# postfix-lab.sh - sav-milter end to end behind a real Postfix front MTA
# (smtpd_milters on the milter's unix socket, mode 0660 group postfix),
# probing a real Postfix remote MX and fake servers, driven by swaks,
# all inside a loopback-only namespace (milter-lib.sh's world).
#
# For every verdict class, with milter_protocol 6 and 2: the SMTP
# reply swaks saw (basic and enhanced code) and the milter's
# decision line. Then:
#   - the budget: a sender whose server answers after 4 s, with
#     ProbeWait 2 s, gets 451 4.4.3 (reason budget); once the probe has
#     finished in the background, the retry gets the real verdict (550)
#     from the cache;
#   - monitor mode: an invalid sender is accepted and the queued message
#     carries the X-SAV-Verdict header;
#   - local submission through non_smtpd_milters is never refused;
#   - the milter killed mid-transaction: Postfix applies
#     milter_default_action = tempfail, the client gets 451 4.7.1; a
#     restart removes the stale socket and mail flows again;
#   - per-client rate: ClientProbeRate 3: the 4th new sender from one client within
#     the minute gets 451 4.7.1 (reason rate-limited) and is never
#     probed; a cached sender is still answered; another client is not
#     affected.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v swaks >/dev/null || lab_die "swaks is not installed (make deps)"
lab_init postfix
mlab_world

CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
# every transaction comes from MLAB_CLIENT_IP, with far more than 30 new
# senders a minute: no per-client limit until its own section
mlab_milter_conf "$CONF" "ClientProbeRate 0"
mlab_milter_start "$CONF"

lab_postfix_front front 127.0.0.1:2525 "unix:$SOCK"
# held messages stay in the queue, so the monitor header can be read
FRONT=$(lab_postfix_dir front)
printf 'hold@dest.test HOLD\n' >"$FRONT/conf/hold"
lab_postfix_set front "smtpd_recipient_restrictions = check_recipient_access texthash:$FRONT/conf/hold, permit" \
	"non_smtpd_milters = unix:$SOCK"
lab_postfix_start front
lab_diag "Postfix $(postconf -d -h mail_version 2>/dev/null), $(swaks --version 2>/dev/null | head -1)"

# case SENDER REPLY-ERE VERDICT ACTION [REASON] - one transaction
case_()
{
	local from=$1 want=$2 verdict=$3 action=$4 reason=${5-} tag=$6 got line
	got=$(mlab_swaks "$from")
	line=$(mlab_decision "${from#<>}")
	if [ -n "$reason" ]; then
		lab_check "$tag <$from>: $want, verdict=$verdict reason=$reason action=$action" \
			"$got" "~^$want" "$(mlab_field "$line" verdict)" "$verdict" \
			"$(mlab_field "$line" action)" "$action" "$(mlab_field "$line" reason)" "$reason"
	else
		lab_check "$tag <$from>: $want, verdict=$verdict action=$action" \
			"$got" "~^$want" "$(mlab_field "$line" verdict)" "$verdict" \
			"$(mlab_field "$line" action)" "$action"
	fi
}

run_cases()
{
	local p=$1 tag="protocol $1:"
	lab_postfix_set front "milter_protocol = $p"
	postfix -c "$FRONT/conf" reload >/dev/null 2>&1
	sleep 0.5
	lab_is "$(postconf -c "$FRONT/conf" -h milter_protocol)" "$p" "$tag front Postfix speaks milter protocol $p"
	case_ alice@example.test "250 " valid accept user-ok "$tag"
	lab_is "$(mlab_field "$(mlab_decision alice@example.test)" client)" "[$MLAB_CLIENT_IP]" \
		"$tag the milter sees the SMTP client's address"
	case_ nobody@example.test "550 5\\.1\\.7 Sender address <nobody@example\\.test> rejected" invalid reject user-unknown "$tag"
	case_ u@nxdomain.test "550 5\\.1\\.8 " bad-domain reject nxdomain "$tag"
	case_ u@nullmx.test "550 5\\.7\\.27 " bad-domain reject null-mx "$tag"
	case_ anyone@catchall.test "250 " catch-all accept catch-all "$tag"
	case_ someone@policy.test "250 " unknown accept policy-block "$tag"
	case_ full@example.test "250 " valid accept mailbox-full "$tag"
	case_ grey@example.test "450 4\\.1\\.7 .*\\(greylisted\\)" tempfail tempfail greylisted "$tag"
	case_ u@servfail.test "451 4\\.4\\.3 " tempfail tempfail servfail "$tag"
	case_ "<>" "250 " skipped accept null-sender "$tag"
	# the remote text stays out of the reply by default
	local got
	got=$(mlab_swaks nobody@example.test)
	lab_check "$tag reject text is generic: no remote text" "$got" "~\\(user-unknown\\)$"
}

run_cases 6
run_cases 2

# Postfix logged the milter's reply as its own
lab_like "$(grep 'milter-reject: MAIL from' "$(lab_postfix_log front)" | grep -F '<nobody@example.test>' | head -1)" \
	'550 5\.1\.7 Sender address <nobody@example\.test> rejected: sender verification failed \(user-unknown\)' \
	"Postfix logs milter-reject with the milter's reply"

# --- malformed senders -------------------------------------------------------
# Postfix refuses the worst itself (501); what it passes on, the milter refuses
got=$(mlab_swaks 'a@b@example.test')
line=$(mlab_decision 'a@b@example.test')
if [ -n "$line" ]; then
	lab_check "address: a@b@c: refused 550 5.1.7 by the milter" "$got" "~^550 5\\.1\\.7" \
		"$(mlab_field "$line" verdict)" bad-syntax
else
	lab_check "address: a@b@c: refused by Postfix before the milter" "$got" "~^5"
fi

# --- concurrency and SIGHUP -------------------------------------------------------
# 24 transactions at once (fresh senders: each a real probe), with SIGHUPs
# fired meanwhile: every one gets its own right answer, none is dropped
pids=""
for i in $(seq 12); do
	mlab_swaks "ok$i@catchall.test" >"$LAB_DIR/par-ok$i.out" &
	pids="$pids $!"
	mlab_swaks "no$i@example.test" >"$LAB_DIR/par-no$i.out" &
	pids="$pids $!"
done
for i in $(seq 5); do
	kill -HUP "$MLAB_MILTER_PID"
	sleep 0.05
done
# only these: a bare wait would wait for the lab's servers too
# shellcheck disable=SC2086
wait $pids
good=0
for i in $(seq 12); do
	grep -q '^250 ' "$LAB_DIR/par-ok$i.out" && good=$((good + 1))
	grep -q '^550 5\.1\.7 ' "$LAB_DIR/par-no$i.out" && good=$((good + 1))
done
lab_check "24 concurrent transactions with SIGHUPs meanwhile: all answered right, milter alive" \
	"$good" 24 "$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive \
	"$(grep -c 'configuration reloaded' "$LAB_DIR/milter.log")" ">=1"

# --- budget ---------------------------------------------------------------------
t0=$(lab_now_ms)
got=$(mlab_swaks late@slow.test)
ms=$(( $(lab_now_ms) - t0 ))
line=$(mlab_decision late@slow.test)
lab_check "budget: a server slower than ProbeWait (2 s) gets 451 4.4.3 in time" \
	"$got" "~^451 4\\.4\\.3 .*\\(budget\\)" "$(mlab_field "$line" reason)" budget "$ms" "<=4000"
lab_diag "first answer after $ms ms"
# wait for the background probe to finish (the server answers each RCPT
# after 4 s; after the 550 the probe's QUIT goes behind its pipelined
# catch-all RCPT, whose reply and the 221 it waits for 1 s at most): the
# probe's connection has ended
lab_wait_file "$LAB_DIR/slow.transcript" 'S: 550 5\.1\.1' 100 || lab_diag "the slow server never answered RCPT"
lab_wait_file "$LAB_DIR/slow.transcript" '^1 CLOSE' 50 || lab_diag "the background probe never hung up"
sleep 0.5
got=$(mlab_swaks late@slow.test)
line=$(mlab_decision late@slow.test)
lab_check "budget: the retry after the background probe gets the real verdict from the cache" \
	"$got" "~^550 5\\.1\\.7" "$(mlab_field "$line" verdict)" invalid "$(mlab_field "$line" cache)" hit
lab_is "$(grep -c 'C: RCPT TO:<late@slow.test>' "$LAB_DIR/slow.transcript")" 1 \
	"budget: one probe for the two transactions"

# --- monitor mode ----------------------------------------------------------------
n=$(grep -c 'configuration reloaded' "$LAB_DIR/milter.log")
cp "$CONF" "$CONF.enforce"
echo "Mode monitor" >>"$CONF"
kill -HUP "$MLAB_MILTER_PID"
mlab_wait_count "$LAB_DIR/milter.log" 'configuration reloaded' $((n + 1)) || lab_diag "no reload seen"
got=$(mlab_swaks nobody@example.test 127.0.0.1:2525 hold@dest.test)
qid=$(grep -F '=== nobody@example.test' -A40 "$LAB_DIR/swaks.log" | grep -o 'queued as [0-9A-Za-z]*' | tail -1 | awk '{ print $3 }')
hdr=""
[ -n "$qid" ] && hdr=$(postcat -c "$FRONT/conf" -hq "$qid" 2>/dev/null | grep '^X-SAV-Verdict:')
lab_check "monitor mode: invalid sender accepted, queued with the verdict header" \
	"$got" "~^250 " "$hdr" "X-SAV-Verdict: verdict=invalid reason=user-unknown action=reject mode=monitor"
line=$(mlab_decision nobody@example.test)
lab_check "monitor mode: logged action=reject mode=monitor" \
	"$(mlab_field "$line" action)" reject "$(mlab_field "$line" mode)" monitor
postsuper -c "$FRONT/conf" -d ALL hold >/dev/null 2>&1
cp "$CONF.enforce" "$CONF"
kill -HUP "$MLAB_MILTER_PID"
mlab_wait_count "$LAB_DIR/milter.log" 'configuration reloaded' $((n + 2)) || lab_diag "no reload seen"

# --- local submission through non_smtpd_milters --------------------------------
printf 'Subject: local\n\nhello\n' | sendmail -C "$FRONT/conf" -f nobody@nxdomain.test hold@dest.test
lab_wait_file "$LAB_DIR/milter.log" 'sender=<nobody@nxdomain.test> ' 100
line=$(mlab_decision nobody@nxdomain.test)
lab_check "milter: local submission (localhost [127.0.0.1] to non_smtpd_milters) is skipped, never refused" \
	"$(mlab_field "$line" verdict)" skipped "$(mlab_field "$line" reason)" trusted-network \
	"$(mlab_field "$line" action)" accept "$(mlab_field "$line" client)" "[127.0.0.1]"
postsuper -c "$FRONT/conf" -d ALL >/dev/null 2>&1

# --- the milter killed mid-transaction -------------------------------------------
# a probe that takes longer than the kill: the milter dies while Postfix waits
mlab_swaks killed@slow.test >"$LAB_DIR/killed.out" &
swpid=$!
lab_wait_file "$LAB_DIR/slow.transcript" 'C: RCPT TO:<killed@slow.test>' 50
{ kill -KILL "$MLAB_MILTER_PID"; wait "$MLAB_MILTER_PID"; } 2>/dev/null
wait "$swpid"
got=$(cat "$LAB_DIR/killed.out")
lab_check "milter killed mid-transaction: milter_default_action=tempfail gives 451 4.7.1" \
	"$got" "~^451 4\\.7\\.1 "
lab_like "$(mlab_swaks alice@example.test)" "^451 4\\.7\\.1 " "milter down: every transaction gets 451 4.7.1"
lab_is "$([ -S "$SOCK" ] && echo stale)" stale "the killed milter left its socket behind"
MLAB_MILTER_PID=""
mv "$LAB_DIR/milter.log" "$LAB_DIR/milter.log.1"
mlab_milter_start "$CONF"
lab_like "$(mlab_swaks alice@example.test)" "^250 " "restarted over the stale socket: mail flows again"

# --- per-client probe rate ---------------------------------------------------------
# ClientProbeRate 3 (a restart: limits do not change on SIGHUP); fresh
# senders, so each one is a probe of the Postfix MX
mlab_milter_stop
mv "$LAB_DIR/milter.log" "$LAB_DIR/milter.log.2"
mlab_milter_conf "$LAB_DIR/rate.conf" "ClientProbeRate 3"
mlab_milter_start "$LAB_DIR/rate.conf"
MXLOG=$(lab_postfix_log mx)
good=0
for i in 1 2 3; do
	got=$(mlab_swaks "rate$i@example.test")
	line=$(mlab_decision "rate$i@example.test")
	case $got in "550 5.1.7 "*) good=$((good + 1)) ;; esac
	[ "$(mlab_field "$line" cache)" = miss ] && good=$((good + 1))
done
lab_wait_file "$MXLOG" 'rate3@example\.test' 50 || lab_diag "the MX never logged rate3@example.test"
lab_check "client rate: ClientProbeRate 3: three new unknown senders from one client are probed and refused" \
	"$good" 6 "$(grep -c 'RCPT from.*<rate[123]@example\.test>' "$MXLOG")" 3
got=$(mlab_swaks nobody@example.test)
line=$(mlab_decision nobody@example.test)
lab_check "client rate: at the limit, a cached sender is still answered (550 5.1.7, cache=hit)" \
	"$got" "~^550 5\\.1\\.7 " "$(mlab_field "$line" cache)" hit
lab_dns_mark
t0=$(lab_now_ms)
got=$(mlab_swaks rate4@example.test)
ms=$(( $(lab_now_ms) - t0 ))
line=$(mlab_decision rate4@example.test)
lab_check "client rate: the 4th new sender from the client gets 451 4.7.1, reason=rate-limited" \
	"$got" "~^451 4\\.7\\.1 .*\\(rate-limited\\)" "$(mlab_field "$line" verdict)" tempfail \
	"$(mlab_field "$line" reason)" rate-limited "$(mlab_field "$line" action)" tempfail \
	"$(mlab_field "$line" client)" "[$MLAB_CLIENT_IP]"
lab_diag "rate-limited answer after $ms ms (the whole SMTP transaction)"
# a probe, had one started, would have asked DNS for example.test by now
sleep 0.5
lab_check "client rate: the refused sender was never probed: no DNS query for its domain, nothing at the MX" \
	"$(lab_dns_queries_since example.test)" 0 "$(grep -c 'rate4@example\.test' "$MXLOG")" 0
lab_is "$(grep -cF "limit: client $MLAB_CLIENT_IP: 3 of the 3 probes it started within a minute found no valid sender" \
	"$LAB_DIR/milter.log")" 1 "client rate: the milter logs the client's limit once"
got=$(MLAB_CLIENT_IP=127.0.0.10 mlab_swaks rate4@example.test)
line=$(mlab_decision rate4@example.test)
lab_check "client rate: another client is not affected: the same sender is probed and refused (550 5.1.7)" \
	"$got" "~^550 5\\.1\\.7 " "$(mlab_field "$line" reason)" user-unknown \
	"$(mlab_field "$line" client)" "[127.0.0.10]"

lab_summary
