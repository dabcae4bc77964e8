#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# probe-silent-lab.sh - one probe deadline shared between MX addresses:
# a first MX that accepts and never greets, or drops our SYN, must leave
# time for the next one, with sav-probe --timeout and with sav-milter's
# ProbeTimeout, inside a loopback-only network namespace.
#
# The world:
#   ldns-testns on 127.0.0.1:53;
#   a real Postfix as the answering MX on 127.0.0.2:25 for every domain
#     below (alice 250; anybody else 550 5.1.1);
#   fake_smtpd "sil1" (127.0.0.10) and "sil2" (127.0.0.11): accept and
#     never greet ("banner none");
#   "hole" on 127.0.0.12:25: a listener with a zero backlog that never
#     accepts, its queue filled with one connection of its own, so the
#     kernel drops every further SYN and a client's connect() hangs as
#     towards a firewalled host (checked before use: on Linux a full
#     accept queue drops the SYN, the client retransmits it until its
#     own time-out); its connection attempts are counted by sampling
#     SYN-SENT sockets towards it (distinct source ports);
#   fake_smtpd "slow" (127.0.0.13): greets after 3 s, then answers
#     (alice 250, anybody else 550 5.1.1); "backup" (127.0.0.14 and
#     127.0.0.15) accepts everything and must never be asked while the
#     slow server is within its share; "stall" (127.0.0.16) greets at
#     once and answers RCPT after 30 s;
#   for the milter: sav-milter behind a Postfix front MTA on
#     127.0.0.1:2525 (swaks from 127.0.0.9), ProbeWait 2s, ProbeTimeout 12s.
#
# Each check asserts the verdict (the last host's real one), the
# connections each host got (fake_smtpd transcripts, Postfix's maillog,
# the SYN sampler), that the silent hosts got their whole share (a lower
# bound on the time, which load cannot break) and that the probe ended
# within its deadline (the probe's own elapsed_ms).

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"
lab_init probe-silent

PROBE=${PROBE:-$LAB_BUILD/sav-probe}
[ -x "$PROBE" ] || lab_die "no $PROBE (make all)"

PF=127.0.0.2 SIL1=127.0.0.10 SIL2=127.0.0.11 HOLE=127.0.0.12 SLOW=127.0.0.13

# ---------------------------------------------------------------------
# DNS

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
lab_dns_a pf.mx.test $PF
lab_dns_a sil1.mx.test $SIL1
lab_dns_a sil2.mx.test $SIL2
lab_dns_a hole.mx.test $HOLE
lab_dns_a slow.mx.test $SLOW
lab_dns_a backup.mx.test 127.0.0.14 127.0.0.15
lab_dns_mx one.test "10 sil1.mx.test." "20 pf.mx.test."
lab_dns_mx drop.test "10 hole.mx.test." "20 pf.mx.test."
lab_dns_mx three.test "10 sil1.mx.test." "20 sil2.mx.test." "30 pf.mx.test."
lab_dns_mx mix.test "10 hole.mx.test." "20 sil1.mx.test." "30 pf.mx.test."
lab_dns_mx slow.test "10 slow.mx.test." "20 backup.mx.test."
lab_dns_mx slowlast.test "10 sil1.mx.test." "20 sil2.mx.test." "30 slow.mx.test."
lab_dns_mx ml.test "10 sil1.mx.test." "20 pf.mx.test."
lab_dns_a stall.mx.test 127.0.0.16
lab_dns_mx stall.test "10 stall.mx.test." "20 pf.mx.test."
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

# ---------------------------------------------------------------------
# Servers

PFDOMS="one.test drop.test three.test mix.test ml.test stall.test"
lab_postfix_mx pf $PF one.test alice
for d in ${PFDOMS#one.test }; do
	printf 'alice@%s ok\n' "$d" >>"$(lab_postfix_dir pf)/conf/vmailbox"
done
lab_postfix_set pf "virtual_mailbox_domains = ${PFDOMS// /, }"
lab_postfix_start pf

export LAB_FAKE_NOWAIT=1
lab_fake_start sil1 $SIL1:25 <<<'banner none'
lab_fake_start sil2 $SIL2:25 <<<'banner none'
lab_fake_start slow $SLOW:25 <<'EOF'
delay greeting 3000
rcpt alice@slow.test 250 2.1.5 Ok
rcpt alice@slowlast.test 250 2.1.5 Ok
rcpt default 550 5.1.1 User unknown
EOF
lab_fake_start backup 127.0.0.14:25 127.0.0.15:25 <<<'rcpt * 250 2.1.5 backup accepts everything'
lab_fake_start stall 127.0.0.16:25 <<<'delay rcpt 30000'
unset LAB_FAKE_NOWAIT
lab_fake_wait

# the SYN-dropping host: zero backlog, filled by one connection of its own
lab_spawn hole perl -MSocket -e '
	my $ip = inet_aton($ARGV[0]);
	$| = 1;
	socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
	setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
	bind($s, pack_sockaddr_in(25, $ip)) or die "bind: $!";
	listen($s, 0) or die "listen: $!";
	socket(my $c, PF_INET, SOCK_STREAM, 0) or die;
	connect($c, pack_sockaddr_in(25, $ip)) or die "fill: $!";
	print "ready\n";
	sleep 3600;' $HOLE
lab_wait_file "$LAB_DIR/hole.log" '^ready' || lab_die "the SYN-dropping listener did not start"
t0=$(lab_now_ms)
timeout 2 bash -c "exec 3<>/dev/tcp/$HOLE/25" 2>/dev/null
rc=$?
lab_check "a connect to the full backlog on $HOLE:25 hangs (the kernel drops the SYN), not refused" \
	"$rc" 124 "$(( $(lab_now_ms) - t0 ))" ">=1900"

# synwatch_start / synwatch_stop - sample the SYN-SENT sockets towards
# the hole every 20 ms; hole_attempts: distinct source ports seen, one
# per connection attempt (each hangs there for its whole connect time)
synwatch_start()
{
	lab_spawn synwatch bash -c '
		while :; do
			ss -Htn state syn-sent "( dst $1 and dport = :25 )" | awk "{ print \$3 }"
			sleep 0.02
		done' synwatch $HOLE
	SYNWATCH_PID=$LAB_LASTPID
}

synwatch_stop()
{
	lab_kill "$SYNWATCH_PID"
}

hole_attempts()
{
	awk 'NF' "$LAB_DIR/synwatch.log" | sort -u | wc -l
}

# ---------------------------------------------------------------------
# Running the probe

NPROBE=0
# sp ARGS... - sav-probe --json -v --resolver 127.0.0.1 --allow-private
# ARGS; sets J, RC, MS (wall time), EL (the probe's elapsed_ms), V, R,
# CODE, IP, and the per-host connection counts before (for conns).
sp()
{
	local t0
	NPROBE=$((NPROBE + 1))
	C0_SIL1=$(lab_fake_conns sil1) C0_SIL2=$(lab_fake_conns sil2)
	C0_SLOW=$(lab_fake_conns slow) C0_BACKUP=$(lab_fake_conns backup)
	C0_PF=$(lab_postfix_connects pf) C0_STALL=$(lab_fake_conns stall)
	SP_ERR=$LAB_DIR/probe-$NPROBE.err
	SP_CMD="sav-probe --json --resolver 127.0.0.1 --allow-private $*"
	t0=$(lab_now_ms)
	timeout 90 "$PROBE" --json -v --resolver 127.0.0.1 --allow-private "$@" \
		>"$LAB_DIR/probe.out" 2>"$SP_ERR"
	RC=$?
	MS=$(( $(lab_now_ms) - t0 ))
	J=$(head -n 1 "$LAB_DIR/probe.out")
	V=$(lab_json_str "$J" verdict)
	R=$(lab_json_str "$J" reason)
	CODE=$(lab_json_num "$J" code)
	IP=$(lab_json_str "$J" ip)
	EL=$(lab_json_num "$J" elapsed_ms)
}

# conns NAME - connections NAME (sil1 sil2 slow backup stall pf) got since the last sp
conns()
{
	case $1 in
	pf)	echo $(( $(lab_postfix_connects pf) - C0_PF )) ;;
	sil1)	echo $(( $(lab_fake_conns sil1) - C0_SIL1 )) ;;
	sil2)	echo $(( $(lab_fake_conns sil2) - C0_SIL2 )) ;;
	slow)	echo $(( $(lab_fake_conns slow) - C0_SLOW )) ;;
	backup)	echo $(( $(lab_fake_conns backup) - C0_BACKUP )) ;;
	stall)	echo $(( $(lab_fake_conns stall) - C0_STALL )) ;;
	esac
}

# expect NAME GOT WANT... - lab_check, plus the command, its output and
# the probe: lines of its trace when it failed
expect()
{
	local f=$LAB_FAIL
	lab_check "$@"
	if [ "$LAB_FAIL" -gt "$f" ]; then
		lab_diag "command: $SP_CMD"
		lab_diag "json: $J"
		lab_diag "exit $RC, ${MS} ms"
		grep -E '^(probe|smtp):' "$SP_ERR" | tail -n 16 | sed 's/^/#   /'
	fi
}

# last_left - the time the probe had left for its last address (its
# own -v line), so what the hosts before it used up
last_left()
{
	sed -n 's/^probe: \([0-9]*\) ms left, all for the last address$/\1/p' "$SP_ERR" | head -1
}

# figures NAME - one line of measured figures per scenario
figures()
{
	lab_diag "$1: verdict $V from [$IP] after ${EL:-?} ms (wall ${MS} ms);" \
		"connections: sil1 $(conns sil1), sil2 $(conns sil2), slow $(conns slow)," \
		"backup $(conns backup), postfix $(conns pf)${2:+, $2}"
}

# no_early NAME - the silent server's transcript: the probe never spoke
# first, and closed every connection it made
no_early()
{
	echo "$(grep -c ' EARLY ' "$LAB_DIR/$1.tr")/$(( $(grep -c ' CONNECT ' "$LAB_DIR/$1.tr") - $(grep -c ' CLOSE' "$LAB_DIR/$1.tr") ))"
}

# ---------------------------------------------------------------------
# 1. A silent first MX, then a real Postfix

sp --timeout 12 alice@one.test
figures "silent + postfix, --timeout 12, alice"
expect "silent MX 10, Postfix MX 20, --timeout 12: the second host's valid, within 12 s" \
	"$V" valid "$R" user-ok "$CODE" 250 "$IP" $PF "$RC" 0 \
	"$(conns sil1)" 1 "$(conns pf)" 1 "$EL" ">=5500" "$EL" "<=12000" "$MS" "<=15000"
expect "the silent host had 6 s to greet (its share of 12 s between two addresses), about 6 s were left for the Postfix" \
	"$(grep -c 'probe: [0-9]* ms left for 2 addresses: [0-9]* ms to greet' "$SP_ERR")" 1 \
	"$(grep -c 'smtp: timeout waiting for greeting' "$SP_ERR")" 1 "$(last_left)" ">=4500"

sp --timeout 12 nobody@one.test
figures "silent + postfix, --timeout 12, nobody"
expect "silent MX 10, Postfix MX 20, --timeout 12: the second host's 550 5.1.1 is invalid" \
	"$V" invalid "$R" user-unknown "$CODE" 550 "$IP" $PF "$RC" 1 \
	"$(conns sil1)" 1 "$(conns pf)" 1 "$EL" ">=5500" "$EL" "<=12000"
lab_is "$(no_early sil1)" 0/0 "the silent host: never spoken to first, every connection closed by the probe"

# ---------------------------------------------------------------------
# 2. A SYN-dropping first MX, then the Postfix

synwatch_start
sp --timeout 12 alice@drop.test
synwatch_stop
figures "SYN-dropping + postfix, --timeout 12" "hole attempts $(hole_attempts)"
expect "SYN-dropping MX 10, Postfix MX 20, --timeout 12: the second host's valid, within 12 s" \
	"$V" valid "$R" user-ok "$IP" $PF "$RC" 0 \
	"$(hole_attempts)" 1 "$(conns pf)" 1 "$EL" ">=5500" "$EL" "<=12000" "$MS" "<=15000" \
	"$(grep -c 'smtp: timeout connecting to' "$SP_ERR")" 1
expect "the SYN-dropping host used only its share: about 6 of the 12 s were left for the Postfix" \
	"$(last_left)" ">=4500"

# ---------------------------------------------------------------------
# 3. Two silent hosts, then the Postfix

sp --timeout 12 alice@three.test
figures "silent, silent, postfix, --timeout 12"
expect "silent, silent, Postfix, --timeout 12: the third host's valid, within 12 s" \
	"$V" valid "$R" user-ok "$IP" $PF "$RC" 0 \
	"$(conns sil1)" 1 "$(conns sil2)" 1 "$(conns pf)" 1 "$EL" ">=7500" "$EL" "<=12000" "$MS" "<=15000"

sp --timeout 20 nobody@three.test
figures "silent, silent, postfix, --timeout 20"
expect "silent, silent, Postfix, --timeout 20: the third host's invalid, within 20 s" \
	"$V" invalid "$R" user-unknown "$CODE" 550 "$IP" $PF "$RC" 1 \
	"$(conns sil1)" 1 "$(conns sil2)" 1 "$(conns pf)" 1 "$EL" ">=12500" "$EL" "<=20000" "$MS" "<=23000"

synwatch_start
sp --timeout 12 nobody@mix.test
synwatch_stop
figures "SYN-dropping, silent, postfix, --timeout 12" "hole attempts $(hole_attempts)"
expect "SYN-dropping, silent, Postfix, --timeout 12: the third host's invalid, within 12 s" \
	"$V" invalid "$R" user-unknown "$IP" $PF "$RC" 1 \
	"$(hole_attempts)" 1 "$(conns sil1)" 1 "$(conns pf)" 1 "$EL" ">=7500" "$EL" "<=12000"
lab_is "$(no_early sil1)$(no_early sil2)" 0/00/0 "the silent hosts: never spoken to first, every connection closed"

# ---------------------------------------------------------------------
# A merely slow first MX (greets after 3 s) is still the one that answers

sp --timeout 12 nobody@slow.test
figures "slow (3 s greeting) + 2 backup addresses, --timeout 12"
expect "MX greeting after 3 s, --timeout 12, three addresses (4 s share): its invalid, backup never asked" \
	"$V" invalid "$R" user-unknown "$IP" $SLOW "$(conns slow)" 1 "$(conns backup)" 0 \
	"$EL" ">=2900" "$EL" "<=12000"

sp nobody@slow.test
figures "slow (3 s greeting) + 2 backup addresses, default 60 s"
expect "MX greeting after 3 s, default timeout: its invalid, backup never asked" \
	"$V" invalid "$R" user-unknown "$IP" $SLOW "$(conns slow)" 1 "$(conns backup)" 0 "$EL" ">=2900"

sp --timeout 20 alice@slowlast.test
figures "silent, silent, slow (3 s greeting), --timeout 20"
expect "silent, silent, then an MX greeting after 3 s, --timeout 20: its valid" \
	"$V" valid "$R" user-ok "$IP" $SLOW "$(conns sil1)" 1 "$(conns sil2)" 1 "$(conns slow)" 1 \
	"$EL" ">=15000" "$EL" "<=20000"

# A first MX that greets and then stalls at RCPT may take more than its
# share (8 s of 12), but leaves the next one at least 4 s

sp --timeout 12 nobody@stall.test
figures "greets then stalls at RCPT + postfix, --timeout 12" "stall $(conns stall)"
expect "MX 10 greets, then stalls at RCPT, --timeout 12: cut at 8 s, the Postfix MX 20's invalid" \
	"$V" invalid "$R" user-unknown "$IP" $PF "$(conns stall)" 1 "$(conns pf)" 1 \
	"$(grep -c 'smtp: timeout waiting for RCPT reply' "$SP_ERR")" 1 \
	"$EL" ">=7500" "$EL" "<=12000" "$(last_left)" ">=3000"

# ---------------------------------------------------------------------
# 4. The milter: ProbeWait 2 s, ProbeTimeout 12 s, behind a Postfix front

CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "ClientProbeRate 0"
sed -i 's/^ProbeTimeout .*/ProbeTimeout 12s/' "$CONF"
mlab_milter_start "$CONF"
lab_postfix_front front 127.0.0.1:2525 "unix:$SOCK"
lab_postfix_start front

c0_sil1=$(lab_fake_conns sil1) c0_pf=$(lab_postfix_connects pf)
t0=$(lab_now_ms)
got=$(mlab_swaks nobody@ml.test)
ms=$(( $(lab_now_ms) - t0 ))
line=$(mlab_decision nobody@ml.test)
lab_diag "milter, first transaction: '$got' after $ms ms"
lab_check "milter: silent MX 10, Postfix MX 20: the first transaction gets 451 4.4.3 (budget) after ProbeWait" \
	"$got" "~^451 4\\.4\\.3 .*\\(budget\\)" "$(mlab_field "$line" reason)" budget "$ms" "<=6000"
# the background probe: the silent host's share (6 s), then the Postfix
lab_wait_file "$(lab_postfix_log pf)" 'reject: RCPT from .*<nobody@ml\.test>' 150 ||
	lab_diag "the Postfix MX never saw the RCPT for nobody@ml.test"
bg=$(( $(lab_now_ms) - t0 ))
lab_diag "milter: the background probe reached the Postfix MX after $bg ms"
lab_check "milter: the background probe asked the second host after the first's share, within ProbeTimeout" \
	"$bg" ">=5500" "$bg" "<=14000" "$(( $(lab_fake_conns sil1) - c0_sil1 ))" 1 \
	"$(( $(lab_postfix_connects pf) - c0_pf ))" 1
sleep 1
got=$(mlab_swaks nobody@ml.test)
line=$(mlab_decision nobody@ml.test)
lab_diag "milter, retry: '$got'; $line"
lab_check "milter: the retry is answered from the cache with the second host's verdict: 550 5.1.7, no new connection" \
	"$got" "~^550 5\\.1\\.7" "$(mlab_field "$line" verdict)" invalid "$(mlab_field "$line" cache)" hit \
	"$(( $(lab_fake_conns sil1) - c0_sil1 ))" 1 "$(( $(lab_postfix_connects pf) - c0_pf ))" 1

lab_diag "$NPROBE sav-probe runs"
lab_summary
