#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# probe-lab.sh - sav-probe against hostile and ordinary DNS and SMTP
# servers, inside a loopback-only network namespace.
#
# The world:
#   ldns-testns on 127.0.0.1:53 with one zone per case (below);
#   a real Postfix as the remote MX for pf.test on 127.0.0.2:25
#     (alice, bob 250; grey 450 4.7.1; full 552 5.2.2; blocked 550 5.7.1;
#     anybody else 550 5.1.1);
#   fake_smtpd instances on 127.0.0.10 and up, one per behaviour;
#   "guard", a fake_smtpd that accepts everything on addresses that must
#     never be contacted (127.0.0.1, 10.99.0.1, the A records of domains
#     whose MX must not be used);
#   perl tarpits on ports 2600 (silent) and 2601 (blackhole) for the resource-cap
#   scenarios (at most 5 addresses, 2 sessions, one deadline).
#
# Each scenario runs `sav-probe --json --resolver 127.0.0.1 ...` and
# checks the verdict (and reason, code, exit status where meaningful),
# then what went on the wire: the fake servers' transcripts, Postfix's
# maillog, and the DNS server's query log. Scenario names start with
# their area: dns, smtp, address, injection, length, target filter,
# limits, cache, domain fact.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
lab_init probe

PROBE=${PROBE:-$LAB_BUILD/sav-probe}
[ -x "$PROBE" ] || lab_die "no $PROBE (make all)"

# ---------------------------------------------------------------------
# DNS

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
mx1()	# DOMAIN IP: one MX host "mx.DOMAIN" with one A record
{
	lab_dns_mx "$1" "10 mx.$1."
	lab_dns_a "mx.$1" "$2"
}

# A: DNS outcomes
lab_dns_rcode nx.test MX NXDOMAIN
lab_dns_rcode nodata.test MX NODATA
lab_dns_a nodata.test 127.0.0.11
lab_dns_rcode nothing.test MX NODATA
lab_dns_rcode nothing.test A NODATA
lab_dns_rcode nothing.test AAAA NODATA
lab_dns_mx mxnx.test "10 gone.mxnx.test."
lab_dns_rcode gone.mxnx.test A NXDOMAIN
lab_dns_rcode gone.mxnx.test AAAA NXDOMAIN
lab_dns_mx hostsf.test "10 mx.hostsf.test."
lab_dns_rcode mx.hostsf.test A SERVFAIL
lab_dns_rcode mx.hostsf.test AAAA SERVFAIL
lab_dns_a hostsf.test 127.0.0.12
lab_dns_rcode servfail.test MX SERVFAIL
lab_dns_a servfail.test 127.0.0.12
lab_dns_a timeout.test 127.0.0.12	# MX: no entry, no reply
lab_dns_mx nullmx.test "0 ."
lab_dns_a nullmx.test 127.0.0.13
lab_dns_mx nullmix.test "0 ." "10 mx.nullmix.test."
lab_dns_a mx.nullmix.test 127.0.0.13
lab_dns_a nullmix.test 127.0.0.13
lab_dns_mx numeric.test "10 127.0.0.1."
lab_dns_a 127.0.0.1 127.0.0.1
lab_dns_mx equal.test "10 a.equal.test." "10 b.equal.test."
lab_dns_a a.equal.test 127.0.0.14
lab_dns_a b.equal.test 127.0.0.15
lab_dns_mx prio.test "20 hi.prio.test." "10 lo.prio.test."
lab_dns_a hi.prio.test 127.0.0.16
lab_dns_a lo.prio.test 127.0.0.17
mx1 xn--bcher-kva.test 127.0.0.18	# bücher.test
mx1 xn--strae-oqa.test 127.0.0.18	# straße.test, IDNA2008
mx1 strasse.test 127.0.0.19		# straße.test, IDNA2003 (wrong)
# B: SMTP behaviours
mx1 pf.test 127.0.0.2
mx1 bigline.test 127.0.0.20
mx1 endless.test 127.0.0.21
mx1 barelf.test 127.0.0.22
mx1 garbage.test 127.0.0.23
mx1 binary.test 127.0.0.24
mx1 silent.test 127.0.0.25
mx1 c421.test 127.0.0.26
mx1 midcut.test 127.0.0.27
lab_dns_mx g554.test "10 mx1.g554.test." "20 mx2.g554.test."
lab_dns_a mx1.g554.test 127.0.0.28
lab_dns_a mx2.g554.test 127.0.0.29
mx1 ehlo502.test 127.0.0.30
mx1 nullref.test 127.0.0.31
mx1 nullretry.test 127.0.0.48
mx1 nullboth.test 127.0.0.49
mx1 catchall.test 127.0.0.32
mx1 stepall.test 127.0.0.50		# catch-all without PIPELINING
mx1 stepnone.test 127.0.0.51		# 550 to all without PIPELINING
mx1 spamhaus.test 127.0.0.33
lab_dns_mx b20a.test "10 mx1.b20a.test." "20 mx2.b20a.test."
lab_dns_a mx1.b20a.test 127.0.0.34
lab_dns_a mx2.b20a.test 127.0.0.35
lab_dns_mx b20b.test "10 mx1.b20b.test." "20 mx2.b20b.test."
lab_dns_a mx1.b20b.test 127.0.0.36
lab_dns_a mx2.b20b.test 127.0.0.37
lab_dns_mx b20c.test "10 mx1.b20c.test." "20 mx2.b20c.test."
lab_dns_a mx1.b20c.test 127.0.0.38	# nothing listens there
lab_dns_a mx2.b20c.test 127.0.0.35
lab_dns_mx b20d.test "10 mx1.b20d.test." "20 mx2.b20d.test."
lab_dns_a mx1.b20d.test 127.0.0.39	# never greets
lab_dns_a mx2.b20d.test 127.0.0.35
mx1 reset.test 127.0.0.44
lab_dns_mx sess.test "10 mx1.sess.test." "20 mx2.sess.test." "30 mx3.sess.test."
lab_dns_a mx1.sess.test 127.0.0.45
lab_dns_a mx2.sess.test 127.0.0.46
lab_dns_a mx3.sess.test 127.0.0.47
mx1 trickle.test 127.0.0.43
# C, D
mx1 quoted.test 127.0.0.40
mx1 route.test 127.0.0.41
mx1 r1.test 127.0.0.42
mx1 r2.test 127.0.0.42
lab_dns_a r1.test 127.0.0.42
lab_dns_a r2.test 127.0.0.42
mx1 priv.test 10.99.0.1
mx1 loop.test 127.0.0.1
lab_dns_mx mapped.test "10 mx.mapped.test."
lab_dns_rcode mx.mapped.test A NODATA
lab_dns_aaaa mx.mapped.test ::ffff:127.0.0.1
# 50 MX hosts with 20 addresses each, all on the tarpit ports
for dom in silent50.test blackhole50.test; do
	mxs=()
	for i in $(seq 50); do
		mxs+=("10 h$i.$dom.")
	done
	lab_dns_mx "$dom" "${mxs[@]}"
	for i in $(seq 50); do
		ips=()
		for j in $(seq 20); do
			ips+=("127.$([ $dom = silent50.test ] && echo 1 || echo 2).$i.$j")
		done
		lab_dns_a "h$i.$dom" "${ips[@]}"
	done
done
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

# ---------------------------------------------------------------------
# SMTP servers

lab_postfix_mx pf 127.0.0.2 pf.test alice bob
lab_postfix_start pf

lab_add_addr 10.99.0.1 || lab_die "cannot add 10.99.0.1 to lo"
export LAB_FAKE_NOWAIT=1
lab_fake_start guard 127.0.0.1:25 127.0.0.12:25 127.0.0.13:25 127.0.0.19:25 \
	127.0.0.42:25 10.99.0.1:25 <<<'rcpt * 250 2.1.5 guard accepts everything'
lab_fake_start implicit 127.0.0.11:25 <<<'rcpt u@nodata.test 250 2.1.5 Ok'
lab_fake_start eqa 127.0.0.14:25 <<<'rcpt u@equal.test 250 2.1.5 Ok'
lab_fake_start eqb 127.0.0.15:25 <<<'rcpt u@equal.test 250 2.1.5 Ok'
lab_fake_start prhi 127.0.0.16:25 <<<'rcpt u@prio.test 250 2.1.5 Ok'
lab_fake_start prlo 127.0.0.17:25 <<<'rcpt u@prio.test 250 2.1.5 Ok'
lab_fake_start idn 127.0.0.18:25 <<'EOF'
rcpt u@xn--bcher-kva.test 250 2.1.5 Ok
rcpt u@xn--strae-oqa.test 250 2.1.5 Ok
EOF
lab_fake_start bigline 127.0.0.20:25 <<<'giant-line 65536 greeting'
for i in 1 2 3; do
	lab_fake_start "sess$i" "127.0.0.$((44 + i)):25" <<<'rcpt default 451 4.3.0 Temporary lookup failure'
done
lab_fake_start endless 127.0.0.21:25 <<<'endless-multiline ehlo'
lab_fake_start barelf 127.0.0.22:25 <<'EOF'
bare-lf
rcpt u@barelf.test 250 2.1.5 Ok
EOF
lab_fake_start garbage 127.0.0.23:25 <<<'garbage SSH-2.0-OpenSSH_9.2p1 Debian-2'
lab_fake_start binary 127.0.0.24:25 <<<'garbage \x00\xff\x1b[2J\x1b]0;pwned\x07%n%s\x80\xfe'
lab_fake_start silent 127.0.0.25:25 <<<'banner none'
lab_fake_start c421 127.0.0.26:25 <<<'421-at greeting'
lab_fake_start midcut 127.0.0.27:25 <<<'disconnect-after ehlo'
lab_fake_start g554a 127.0.0.28:25 <<<'banner 554 5.7.1 mx1 no service for you'
lab_fake_start g554b 127.0.0.29:25 <<<'banner 554 5.7.1 mx2 no service for you'
lab_fake_start ehlo502 127.0.0.30:25 <<'EOF'
ehlo 502 5.5.2 Error: command not recognized
rcpt u@ehlo502.test 250 2.1.5 Ok
EOF
lab_fake_start nullref 127.0.0.31:25 <<'EOF'
ehlo 250-fake.test|250 8BITMIME
mail <> 550 5.7.1 Null sender refused
rcpt * 250 2.1.5 Ok
EOF
# RetrySender: <> refused, the retry sender accepted / refused too
lab_fake_start nullretry 127.0.0.48:25 <<'EOF'
ehlo 250-fake.test|250 8BITMIME
mail <> 550 5.7.1 Null sender refused
mail default 250 2.1.0 Ok
rcpt u@nullretry.test 250 2.1.5 Ok
EOF
lab_fake_start nullboth 127.0.0.49:25 <<'EOF'
ehlo 250-fake.test|250 8BITMIME
mail <> 550 5.7.1 Null sender refused
mail default 553 5.7.1 Sender address rejected
rcpt * 250 2.1.5 Ok
EOF
lab_fake_start catchall 127.0.0.32:25 <<'EOF'
batch
rcpt * 250 2.1.5 Ok
EOF
lab_fake_start stepall 127.0.0.50:25 <<'EOF'
ehlo 250-fake.test|250 8BITMIME
rcpt * 250 2.1.5 Ok
EOF
lab_fake_start stepnone 127.0.0.51:25 <<<'ehlo 250-fake.test|250 8BITMIME'
lab_fake_start spamhaus 127.0.0.33:25 <<<'rcpt default 550 Rejected: 192.0.2.1 is listed at zen.spamhaus.org'
lab_fake_start b20t 127.0.0.34:25 <<<'rcpt default 451 4.3.0 Try again later'
lab_fake_start b20n 127.0.0.35:25 <<<'rcpt default 550 5.1.1 User unknown'
lab_fake_start b20c421 127.0.0.36:25 <<<'421-at greeting'
lab_fake_start b20ok 127.0.0.37:25 <<<'rcpt u@b20b.test 250 2.1.5 Ok'
lab_fake_start b20sil 127.0.0.39:25 <<<'banner none'
lab_fake_start quoted 127.0.0.40:25 <<<'rcpt * 250 2.1.5 Ok'
lab_fake_start route 127.0.0.41:25 <<<'rcpt u@route.test 250 2.1.5 Ok'
lab_fake_start trickle 127.0.0.43:25 <<<'trickle 1 1000'
lab_fake_start reset 127.0.0.44:25 <<<'reset-at rcpt'
unset LAB_FAKE_NOWAIT
lab_fake_wait
lab_tarpit tarpit 2600 silent
lab_tarpit blackhole 2601 blackhole

# a configuration for the cases that need short per-step time-outs;
# each use gets its own cache file, so no case answers from another's
short_conf()	# FILE TAG
{
	printf '%s\n' "Resolver 127.0.0.1" "AllowPrivateTargets yes" \
		"ConnectTimeout 1s" "GreetingTimeout 1s" "CommandTimeout 2s" \
		"CacheFile $LAB_DIR/cache-$2.mdb" >"$1"
}

# ---------------------------------------------------------------------
# Running the probe

NPROBE=0
# sp ARGS... - run sav-probe --json --resolver 127.0.0.1 --allow-private
# (PRIV= drops --allow-private) with ARGS; sets J (first JSON line), RC,
# MS (wall time), V, R, CODE, ENH, CATCH and remembers the connection
# and DNS counters from before, for nconn and ndns.
sp()
{
	local t0
	NPROBE=$((NPROBE + 1))
	CONN0=$(lab_conns_total)
	lab_dns_mark
	SP_ERR=$LAB_DIR/probe-$NPROBE.err
	SP_CMD="sav-probe --json --resolver 127.0.0.1 ${PRIV---allow-private} $*"
	t0=$(lab_now_ms)
	# shellcheck disable=SC2086
	timeout 60 "$PROBE" --json -v --resolver 127.0.0.1 ${PRIV---allow-private} "$@" \
		>"$LAB_DIR/probe.out" 2>"$SP_ERR"
	RC=$?
	MS=$(( $(lab_now_ms) - t0 ))
	J=$(head -n 1 "$LAB_DIR/probe.out")
	V=$(lab_json_str "$J" verdict)
	R=$(lab_json_str "$J" reason)
	CODE=$(lab_json_num "$J" code)
	ENH=$(lab_json_str "$J" enhanced)
	CATCH=$(lab_json_num "$J" catch_all)
}

# nconn - connections made since the last sp; ndns - DNS queries since.
nconn()
{
	echo $(( $(lab_conns_total) - CONN0 ))
}

ndns()
{
	lab_dns_total_since
}

# expect NAME GOT WANT... - lab_check, plus the probe's command, output
# and the end of its -v trace when the scenario failed.
expect()
{
	local f=$LAB_FAIL
	lab_check "$@"
	if [ "$LAB_FAIL" -gt "$f" ]; then
		lab_diag "command: $SP_CMD"
		lab_diag "json: $J"
		lab_diag "exit $RC, ${MS} ms"
		tail -n 12 "$SP_ERR" | sed 's/^/#   /'
	fi
}

# ---------------------------------------------------------------------
# DNS

sp u@nx.test
expect "dns: NXDOMAIN: bad-domain, no SMTP connection, no address lookup" \
	"$V" bad-domain "$R" nxdomain "$RC" 1 "$(nconn)" 0 \
	"$(lab_dns_queries_since nx.test A)" 0

sp u@nodata.test
expect "dns: MX NODATA: implicit MX, the domain's A record is probed" \
	"$V" valid "$RC" 0 "$(lab_fake_conns implicit)" 1 \
	"$(lab_fake_cmds implicit '^RCPT TO:' | head -1)" "RCPT TO:<u@nodata.test>"

sp u@nothing.test
expect "dns: NODATA for MX, A and AAAA: bad-domain, no connection" \
	"$V" bad-domain "$R" no-mail-host "$RC" 1 "$(nconn)" 0

sp u@mxnx.test
expect "dns: every MX host NXDOMAIN: bad-domain" \
	"$V" bad-domain "$R" no-mail-host "$(nconn)" 0

sp u@hostsf.test
expect "dns: SERVFAIL on the MX host's address lookup: tempfail, no fallback to the domain's A" \
	"$V" tempfail "$RC" 2 "$(nconn)" 0

sp u@servfail.test
expect "dns: MX SERVFAIL: tempfail, no fallback to the A record, no connection" \
	"$V" tempfail "$R" servfail "$RC" 2 "$(nconn)" 0 \
	"$(lab_dns_queries_since servfail.test A)" 0

sp --timeout 3 u@timeout.test
expect "dns: DNS time-out: tempfail within --timeout 3" \
	"$V" tempfail "$R" dns-timeout "$RC" 2 "$MS" "<=4000" "$(nconn)" 0

sp u@nullmx.test
expect "dns: null MX alone: bad-domain null-mx, no connection, no A lookup" \
	"$V" bad-domain "$R" null-mx "$RC" 1 "$(nconn)" 0 \
	"$(lab_dns_queries_since nullmx.test A)" 0

sp u@nullmix.test
expect "dns: null MX mixed with a real MX: still null-mx, no connection" \
	"$V" bad-domain "$R" null-mx "$(nconn)" 0

PRIV='' sp u@numeric.test
expect "dns: MX '127.0.0.1.' without --allow-private: bogus MX, 127.0.0.1 never contacted" \
	"$V" bad-domain "$R" bogus-mx "$RC" 1 "$(nconn)" 0

first_a=0 first_b=0 bad=0
for i in $(seq 20); do
	a0=$(lab_fake_conns eqa) b0=$(lab_fake_conns eqb)
	sp u@equal.test
	[ "$V" = valid ] || bad=$((bad + 1))
	da=$(( $(lab_fake_conns eqa) - a0 )) db=$(( $(lab_fake_conns eqb) - b0 ))
	if [ "$da" = 1 ] && [ "$db" = 0 ]; then
		first_a=$((first_a + 1))
	elif [ "$da" = 0 ] && [ "$db" = 1 ]; then
		first_b=$((first_b + 1))
	else
		bad=$((bad + 1))
	fi
done
lab_diag "dns: first contact over 20 runs: a=$first_a b=$first_b"
expect "dns: equal preference: both MX hosts get first contact over 20 runs, one connection each run" \
	"$first_a" ">=1" "$first_b" ">=1" "$bad" 0

for i in 1 2 3 4 5; do
	sp u@prio.test
done
expect "dns: lower preference number first: 5 runs, all to pref 10, none to pref 20" \
	"$V" valid "$(lab_fake_conns prlo)" 5 "$(lab_fake_conns prhi)" 0

sp u@bücher.test
expect "dns: IDN bücher.test: A-label in DNS and in RCPT" \
	"$V" valid "$(lab_dns_queries_since xn--bcher-kva.test MX)" ">=1" \
	"$(lab_fake_cmds idn '^RCPT TO:<u@' | tail -1)" "RCPT TO:<u@xn--bcher-kva.test>"

sp u@straße.test
expect "dns: straße.test: IDNA2008 xn--strae-oqa, never strasse.test" \
	"$V" valid "$(lab_dns_queries_since xn--strae-oqa.test MX)" ">=1" \
	"$(lab_dns_queries_since strasse.test)" 0 "$(lab_fake_conns guard)" 0 \
	"$(lab_fake_cmds idn '^RCPT TO:<u@' | tail -1)" "RCPT TO:<u@xn--strae-oqa.test>"

sp u@☃.test
expect "dns: invalid IDN (U+2603): bad-domain, no DNS query, no connection" \
	"$V" bad-domain "$R" bad-idn "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

sp u@host.invalid
expect "dns: .invalid: bad-domain without any DNS query" \
	"$V" bad-domain "$R" invalid-tld "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

pf0=$(lab_postfix_connects pf)
sp alice@PF.TEST.
expect "dns: trailing dot and upper case: alice@PF.TEST. is alice@pf.test" \
	"$V" valid "$(lab_json_str "$J" address)" alice@pf.test \
	"$(lab_dns_queries_since pf.test MX)" ">=1" "$(( $(lab_postfix_connects pf) - pf0 ))" 1

sp u@foo..test
expect "dns: empty label: bad-domain, no DNS query" \
	"$V" bad-domain "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

sp "u@$(printf 'a%.0s' $(seq 64)).test"
expect "dns: label of 64 octets: bad-domain, no DNS query" \
	"$V" bad-domain "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

# ---------------------------------------------------------------------
# SMTP dialogue, real Postfix

pf0=$(lab_postfix_connects pf)
sp alice@pf.test
expect "smtp: Postfix 250: valid, one connection" \
	"$V" valid "$R" user-ok "$CODE" 250 "$RC" 0 "$CATCH" false \
	"$(( $(lab_postfix_connects pf) - pf0 ))" 1

sp nobody@pf.test
expect "smtp: Postfix 550 5.1.1: invalid user-unknown" \
	"$V" invalid "$R" user-unknown "$CODE" 550 "$ENH" 5.1.1 "$RC" 1

# Postfix offers PIPELINING: the random RCPT went in the same group as
# the real one, for the valid and the unknown user alike: Postfix's
# session summaries of the last two probes (alice, nobody) count two
# RCPTs each (accepted/received), and it saw no pipelining it had not
# allowed
pfrcpts()	# the rcpt=OK/ALL of the last two finished sessions
{
	sed -n 's/.*smtpd\[[0-9]*\]: disconnect from .* rcpt=\([0-9]*\/[0-9]*\) .*/\1/p' \
		"$(lab_postfix_log pf)" | tail -n 2 | tr '\n' ' '
}
for _ in $(seq 50); do	# postlogd writes the maillog a little later
	[ "$(grep -c 'smtpd\[[0-9]*\]: disconnect from ' "$(lab_postfix_log pf)")" -ge \
		"$(lab_postfix_connects pf)" ] && break
	sleep 0.1
done
expect "Postfix: the catch-all RCPT was pipelined after alice's and nobody's, accepted as such" \
	"$(pfrcpts)" "1/2 0/2 " \
	"$(grep -c 'improper command pipelining' "$(lab_postfix_log pf)")" 0

sp grey@pf.test
expect "smtp: Postfix 450 4.7.1 greylisting: tempfail greylisted" \
	"$V" tempfail "$R" greylisted "$CODE" 450 "$RC" 2

sp full@pf.test
expect "smtp: Postfix 552 5.2.2 mailbox full: valid (the mailbox exists)" \
	"$V" valid "$R" mailbox-full "$CODE" 552 "$RC" 0

sp blocked@pf.test
expect "smtp: Postfix 550 5.7.1 policy: unknown policy-block" \
	"$V" unknown "$R" policy-block "$CODE" 550 "$ENH" 5.7.1 "$RC" 2

grep -q 'to=<grey@pf.test>' "$(lab_postfix_log pf)"
expect "smtp: Postfix logged the probe's RCPT for grey@pf.test" "$?" 0

# ---------------------------------------------------------------------
# SMTP dialogue, hostile and odd servers

sp u@spamhaus.test
expect "smtp: 550 with blocklist wording, no enhanced code: unknown policy-block" \
	"$V" unknown "$R" policy-block "$CODE" 550 "$RC" 2

sp u@bigline.test
expect "smtp: 64 KiB greeting line: tempfail protocol-error" \
	"$V" tempfail "$R" protocol-error "$RC" 2 "$(lab_fake_conns bigline)" 1

sp --timeout 10 u@endless.test
endless=$(sed -n 's/.*S: \[endless: [0-9]* lines, \([0-9]*\) bytes\].*/\1/p' "$LAB_DIR/endless.tr" | tail -1)
lab_diag "smtp: endless reply: the client read at most ${endless:-?} bytes, ${MS} ms"
expect "smtp: endless 250- reply to EHLO: tempfail protocol-error, client hung up early" \
	"$V" tempfail "$R" protocol-error "$MS" "<=5000" "${endless:-0}" "<=10000000"

sp u@barelf.test
expect "smtp: replies ending in bare LF: accepted, valid" \
	"$V" valid "$R" user-ok "$RC" 0 \
	"$(lab_fake_ncmds barelf '^RCPT TO:<u@barelf.test>$')" 1

sp u@garbage.test
expect "smtp: SSH banner: tempfail protocol-error, never valid" \
	"$V" tempfail "$R" protocol-error "$RC" 2 "$(lab_fake_ncmds garbage '^(MAIL|RCPT)')" 0

sp u@binary.test
esc=$(printf '%s' "$J" | tr -d '\n' | LC_ALL=C grep -c $'[\x01-\x1f\x7f-\xff]')
expect "smtp: binary garbage banner: tempfail protocol-error, JSON holds no raw control bytes" \
	"$V" tempfail "$R" protocol-error "$esc" 0

sp --timeout 3 u@silent.test
expect "smtp: server never greets: tempfail within --timeout 3, never spoke first" \
	"$V" tempfail "$R" timeout "$MS" "<=4000" "$(grep -c ' EARLY ' "$LAB_DIR/silent.tr")" 0

sp u@c421.test
expect "smtp: 421 greeting: tempfail" "$V" tempfail "$RC" 2

sp u@midcut.test
expect "smtp: FIN in the middle of the EHLO reply: tempfail" "$V" tempfail "$RC" 2

sp u@reset.test
expect "smtp: TCP reset at RCPT: tempfail" "$V" tempfail "$RC" 2

sp u@g554.test
expect "smtp: 554 greeting on every MX: unknown greeting-refused, both tried" \
	"$V" unknown "$R" greeting-refused "$RC" 2 \
	"$(lab_fake_conns g554a)" 1 "$(lab_fake_conns g554b)" 1

sp u@ehlo502.test
expect "smtp: EHLO 502: HELO fallback, valid" \
	"$V" valid "$(lab_fake_ncmds ehlo502 '^HELO ')" 1

sp u@nullref.test
expect "smtp: MAIL FROM:<> refused (no PIPELINING): unknown null-sender-refused, no RCPT sent" \
	"$V" unknown "$R" null-sender-refused "$RC" 2 \
	"$(lab_fake_ncmds nullref '^RCPT')" 0

short_conf "$LAB_DIR/b11r.conf" b11r
echo "RetrySender <retry@probe.test>" >>"$LAB_DIR/b11r.conf"
sp -c "$LAB_DIR/b11r.conf" u@nullretry.test
expect "smtp: RetrySender: <> refused, the retry sender's dialogue decides: valid" \
	"$V" valid "$R" user-ok "$RC" 0 "$(lab_fake_conns nullretry)" 2 \
	"$(lab_fake_ncmds nullretry '^MAIL FROM:<>$')" 1 \
	"$(lab_fake_ncmds nullretry '^MAIL FROM:<retry@probe.test>$')" 1 \
	"$(lab_fake_ncmds nullretry '^RCPT TO:<u@nullretry.test>$')" 1 \
	"$(grep -c 'probe: <> refused; retrying with <retry@probe.test>' "$SP_ERR")" 1

sp -c "$LAB_DIR/b11r.conf" u@nullboth.test
expect "smtp: RetrySender refused too: unknown null-sender-refused, no RCPT sent" \
	"$V" unknown "$R" null-sender-refused "$RC" 2 "$(lab_fake_conns nullboth)" 2 \
	"$(lab_fake_ncmds nullboth '^MAIL FROM:<>$')" 1 \
	"$(lab_fake_ncmds nullboth '^MAIL FROM:<retry@probe.test>$')" 1 \
	"$(lab_fake_ncmds nullboth '^RCPT')" 0

short_conf "$LAB_DIR/b11s.conf" b11s
echo "StrictNullSender yes" >>"$LAB_DIR/b11s.conf"
n0=$(lab_fake_conns nullref)
sp -c "$LAB_DIR/b11s.conf" u@nullref.test
expect "smtp: StrictNullSender yes, <> refused: invalid null-sender-refused (exit 1), no retry" \
	"$V" invalid "$R" null-sender-refused "$RC" 1 "$CODE" 550 \
	"$(( $(lab_fake_conns nullref) - n0 ))" 1

sp u@catchall.test
expect "smtp: catch-all server: catch-all verdict, a second random RCPT was sent" \
	"$V" catch-all "$CATCH" true "$RC" 2 \
	"$(lab_fake_ncmds catchall '^RCPT TO:<u@catchall.test>$')" 1 \
	"$(lab_fake_ncmds catchall '^RCPT TO:<[^u][^>]*@catchall.test>$')" 1
expect "catch-all check with PIPELINING: MAIL, both RCPTs and QUIT arrived in one read, the real RCPT first, answered in one write" \
	"$(grep -c '^1 PIPELINED 4$' "$LAB_DIR/catchall.tr")" 1 \
	"$(grep -c '^1 BATCH 4$' "$LAB_DIR/catchall.tr")" 1 \
	"$(lab_fake_cmds catchall '^RCPT TO:' | head -1)" "RCPT TO:<u@catchall.test>"

sp u@stepall.test
expect "catch-all without PIPELINING: catch-all, the random RCPT after the 250, one command per read" \
	"$V" catch-all "$CATCH" true "$RC" 2 "$(lab_fake_ncmds stepall '^RCPT TO:')" 2 \
	"$(grep -c ' PIPELINED ' "$LAB_DIR/stepall.tr")" 0

sp u@stepnone.test
expect "550 without PIPELINING: invalid, no random RCPT" \
	"$V" invalid "$R" user-unknown "$RC" 1 "$(lab_fake_ncmds stepnone '^RCPT TO:')" 1 \
	"$(grep -c ' PIPELINED ' "$LAB_DIR/stepnone.tr")" 0

sp u@b20a.test
expect "smtp: MX1 451 at RCPT, MX2 550 5.1.1: invalid" \
	"$V" invalid "$R" user-unknown "$RC" 1 \
	"$(lab_fake_ncmds b20t '^RCPT TO:<u@b20a.test>')" 1 "$(lab_fake_ncmds b20n '^RCPT TO:<u@b20a.test>')" 1

sp u@b20b.test
expect "smtp: MX1 421 greeting, MX2 250: valid" \
	"$V" valid "$RC" 0 "$(lab_fake_conns b20c421)" 1 "$(lab_fake_conns b20ok)" 1

sp u@b20c.test
expect "smtp: MX1 refuses the connection, MX2 550 5.1.1: invalid" \
	"$V" invalid "$R" user-unknown "$(lab_fake_ncmds b20n '^RCPT TO:<u@b20c.test>')" 1

short_conf "$LAB_DIR/b20d.conf" b20d
sp -c "$LAB_DIR/b20d.conf" --timeout 10 u@b20d.test
expect "smtp: MX1 never greets (GreetingTimeout 1s), MX2 550 5.1.1: invalid" \
	"$V" invalid "$R" user-unknown "$MS" "<=4000" "$(lab_fake_conns b20sil)" 1 \
	"$(lab_fake_ncmds b20n '^RCPT TO:<u@b20d.test>')" 1

# ---------------------------------------------------------------------
# Address syntax (what goes on the wire)

q0=$(lab_fake_ncmds quoted '^RCPT')
for local in '"john doe"' '"a@b"' '"a>b"' '"a\"b"'; do
	sp --no-catchall "$local@quoted.test"
	want="RCPT TO:<${local//\\/\\\\}@quoted.test>"	# the transcript doubles '\'
	got=$(lab_fake_cmds quoted '^RCPT' | tail -1)
	expect "address: quoted local part $local: valid, RCPT line exactly $want" \
		"$V" valid "$got" "$want"
done
expect "address: one RCPT per quoted address, nothing else" \
	"$(( $(lab_fake_ncmds quoted '^RCPT') - q0 ))" 4

printf '"a\rRSET"@quoted.test\n' >"$LAB_DIR/c3cr.list"
sp -f "$LAB_DIR/c3cr.list"
expect "address: CR inside quotes (list file): bad-syntax, no DNS, no connection" \
	"$V" bad-syntax "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

printf 'a\0b@quoted.test\n' >"$LAB_DIR/c3nul.list"
sp -f "$LAB_DIR/c3nul.list"
expect "address: NUL in the local part (list file): bad-syntax, no connection" \
	"$V" bad-syntax "$RC" 1 "$(nconn)" 0

printf 'a\x1bb@quoted.test\n' >"$LAB_DIR/c3esc.list"
sp -f "$LAB_DIR/c3esc.list"
expect "address: ESC in the local part (list file): bad-syntax, no connection" \
	"$V" bad-syntax "$RC" 1 "$(nconn)" 0

sp $'a@quoted.test>\r\nRCPT TO:<x@quoted.test>\r\nDATA'
expect "injection: 'a@b>CRLF RCPT TO:<x@y> CRLF DATA' as one argument: bad-syntax, no connection" \
	"$V" bad-syntax "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

sp $'"a\r\nRSET"@quoted.test'
expect "injection: CRLF inside quotes as one argument: bad-syntax, no connection" \
	"$V" bad-syntax "$RC" 1 "$(nconn)" 0

m0=$(lab_fake_ncmds quoted '^MAIL') r0=$(lab_fake_ncmds quoted '^RCPT')
sp --no-catchall '"a>RCPT TO:<v@quoted.test>"@quoted.test'
expect "injection: command text inside a quoted local part: exactly one MAIL and one RCPT, re-serialised" \
	"$V" valid "$(( $(lab_fake_ncmds quoted '^MAIL') - m0 ))" 1 \
	"$(( $(lab_fake_ncmds quoted '^RCPT') - r0 ))" 1 \
	"$(lab_fake_cmds quoted '^RCPT' | tail -1)" 'RCPT TO:<"a>RCPT TO:<v@quoted.test>"@quoted.test>'

sp '<@r1.test,@r2.test:u@route.test>'
expect "address: source route: only route.test looked up and contacted, route never sent" \
	"$V" valid "$(lab_dns_queries_since r1.test)" 0 "$(lab_dns_queries_since r2.test)" 0 \
	"$(lab_dns_queries_since mx.r1.test)" 0 "$(lab_fake_conns guard)" 0 \
	"$(lab_fake_cmds route '^RCPT TO:<u@' | tail -1)" "RCPT TO:<u@route.test>"

sp --no-catchall -u@quoted.test
expect "address: an address that starts with '-' is an address, not an option" \
	"$V" valid "$(lab_fake_cmds quoted '^RCPT' | tail -1)" "RCPT TO:<-u@quoted.test>"

# ---------------------------------------------------------------------
# Abuse and security

l65=$(printf 'a%.0s' $(seq 65))
sp --no-catchall "$l65@quoted.test"
expect "length: local part of 65 octets: probed anyway, never truncated" \
	"$V" valid "$(lab_fake_cmds quoted '^RCPT' | tail -1)" "RCPT TO:<$l65@quoted.test>"

l255=$(printf 'b%.0s' $(seq 255))
d250=$(printf 'c%.0s' $(seq 60)).$(printf 'd%.0s' $(seq 60)).$(printf 'e%.0s' $(seq 60)).$(printf 'f%.0s' $(seq 60)).test
sp "$l255@$d250"
expect "length: RCPT line over 512 octets: unknown too-long, no DNS, no connection" \
	"$V" unknown "$R" too-long "$RC" 2 "$(ndns)" 0 "$(nconn)" 0

d260=$(printf 'g%.0s' $(seq 60)).$d250
sp "u@$d260"
expect "length: domain over 255 octets: bad-domain, no DNS, no connection" \
	"$V" bad-domain "$RC" 1 "$(ndns)" 0 "$(nconn)" 0

PRIV='' sp u@priv.test
expect "target filter: private MX address (10.99.0.1) without --allow-private: unknown private-target, no connection" \
	"$V" unknown "$R" private-target "$RC" 2 "$(nconn)" 0

PRIV='' sp u@loop.test
expect "target filter: MX that resolves only to 127.0.0.1: bad-domain bogus-mx, no connection" \
	"$V" bad-domain "$R" bogus-mx "$RC" 1 "$(nconn)" 0

PRIV='' sp u@mapped.test
expect "target filter: MX with only AAAA ::ffff:127.0.0.1: bad-domain bogus-mx, no connection" \
	"$V" bad-domain "$R" bogus-mx "$(nconn)" 0

short_conf "$LAB_DIR/d8a.conf" d8a
sp -c "$LAB_DIR/d8a.conf" --port 2600 --timeout 20 u@silent50.test
lab_diag "limits: silent: $(lab_tarpit_hits tarpit) addresses tried, ${MS} ms"
expect "limits: 50 MX x 20 A, all silent: tempfail, at most 5 addresses tried, bounded time" \
	"$V" tempfail "$RC" 2 "$(lab_tarpit_hits tarpit)" "<=5" "$(lab_tarpit_hits tarpit)" ">=1" \
	"$MS" "<=8000"

short_conf "$LAB_DIR/d8b.conf" d8b
lab_synwatch_start synwatch 2601
sp -c "$LAB_DIR/d8b.conf" --port 2601 --timeout 20 u@blackhole50.test
lab_synwatch_stop
lab_diag "limits: blackhole: $(lab_synwatch_hits synwatch) addresses tried, ${MS} ms"
expect "limits: 50 MX x 20 A, all blackholed (SYN dropped): tempfail, at most 5 addresses, bounded time" \
	"$V" tempfail "$RC" 2 "$(lab_synwatch_hits synwatch)" "<=5" "$(lab_synwatch_hits synwatch)" ">=1" \
	"$MS" "<=8000"

sp u@sess.test
expect "limits: three MX hosts that all answer 451: at most 2 sessions (MaxSessions), tempfail" \
	"$V" tempfail "$R" temp-reply "$RC" 2 "$(lab_fake_conns sess1)" 1 "$(lab_fake_conns sess2)" 1 \
	"$(lab_fake_conns sess3)" 0

sp --timeout 3 u@trickle.test
expect "limits: server trickling 1 byte a second: tempfail within --timeout 3" \
	"$V" tempfail "$RC" 2 "$MS" "<=4000"

# ---------------------------------------------------------------------
# The verdict cache through sav-probe --cache

CACHE=$LAB_DIR/cache.mdb
SAVCACHE=${SAVCACHE:-$LAB_BUILD/sav-cache}
pf0=$(lab_postfix_connects pf)
sp --cache "$CACHE" bob@pf.test
expect "F --cache: the first probe is a miss, probes, and fills the cache" \
	"$V" valid "$(lab_json_num "$J" cached)" false "$(( $(lab_postfix_connects pf) - pf0 ))" 1
sp --cache "$CACHE" bob@pf.test
expect "F --cache: the same address again is a hit with the same verdict, no connection" \
	"$V" valid "$R" user-ok "$CODE" 250 "$(lab_json_num "$J" cached)" true \
	"$(( $(lab_postfix_connects pf) - pf0 ))" 1 "$(nconn)" 0 "$(ndns)" 0
sp --cache "$CACHE" nobody@pf.test
sp --cache "$CACHE" nobody@pf.test
expect "F --cache: an invalid verdict is answered from the cache too (exit 1)" \
	"$V" invalid "$R" user-unknown "$RC" 1 "$(lab_json_num "$J" cached)" true \
	"$(( $(lab_postfix_connects pf) - pf0 ))" 2
sp --cache "$CACHE" grey@pf.test
sp --cache "$CACHE" grey@pf.test
expect "cache: --cache: a greylisted tempfail is cached as tempfail only, never as invalid" \
	"$V" tempfail "$R" greylisted "$(lab_json_num "$J" cached)" true "$RC" 2
G=$("$SAVCACHE" -f "$CACHE" get nobody@pf.test 2>&1)
lab_check "F sav-cache get shows the stored verdict, its reply and its expiry" \
	"$G" "~invalid" "$G" "~user-unknown" "$G" "~550" "$G" "~expires in"
# why: the same entry explained, by address and by its reference
W=$("$SAVCACHE" -f "$CACHE" why nobody@pf.test 2>&1)
WREF=$(printf '%s\n' "$W" | sed -n 's/^  reference: *\([0-9a-f]\{8\}\)$/\1/p')
W2=$("$SAVCACHE" -f "$CACHE" why "$WREF" 2>&1)
lab_diag "sav-cache why: $(printf '%s' "$W" | tr '\n' '|')"
lab_check "sav-cache why: the action, the meaning, the MX and step, the reply, when asked again; the reference finds it too" \
	"$W" "~^nobody@pf\.test: reject \(invalid, user-unknown\)" "$W" "~what it means: .*mailbox does not exist" \
	"$W" "~decided: +mx\.pf\.test \[127\.0\.0\.[0-9]+\] answered RCPT TO" "$W" "~it said: +550 5\.1\.1 " \
	"$W" "~asked again: +after " "$WREF" "~^[0-9a-f]{8}$" "$W2" "$W"
lab_check "sav-cache why: the session that decided, as a transcript: greeting, RCPT and its 550, QUIT and its 221" \
	"$W" "~  the session:" "$W" "~    < 220 mx\.pf\.test " "$W" "~    > MAIL FROM:<>" \
	"$W" "~    > RCPT TO:<nobody@pf\.test>" "$W" "~    < 550 5\.1\.1 <nobody@pf\.test>" \
	"$W" "~    > QUIT" "$W" "~    < 221 "
WV=$("$SAVCACHE" -f "$CACHE" why bob@pf.test 2>&1)
WG=$("$SAVCACHE" -f "$CACHE" why grey@pf.test 2>&1)
lab_check "sav-cache why: no transcript is kept for a valid sender; a greylisted one shows its 450" \
	"$WV" "~^bob@pf\.test: accept \(valid" "$WV" "!~the session:" "$WG" "~    < 450 "
"$SAVCACHE" -f "$CACHE" why nosuch@pf.test >/dev/null 2>&1
lab_is "$?" 1 "sav-cache why: an address without a verdict on file: exit 1"
n0=$(lab_fake_conns nullref)
sp --cache "$CACHE" first@nullref.test
sp --cache "$CACHE" second@nullref.test
expect "domain fact: a domain that refused <> is not contacted again for another address" \
	"$V" unknown "$R" null-sender-refused "$(lab_json_num "$J" cached)" true \
	"$(( $(lab_fake_conns nullref) - n0 ))" 1
sp -c "$LAB_DIR/b11s.conf" --cache "$CACHE" third@nullref.test
expect "smtp: the cached <> refusal is judged by the StrictNullSender in force now (yes: invalid), no connection" \
	"$V" invalid "$R" null-sender-refused "$RC" 1 "$(lab_json_num "$J" cached)" true \
	"$(( $(lab_fake_conns nullref) - n0 ))" 1

lab_diag "$NPROBE sav-probe runs"
lab_summary
