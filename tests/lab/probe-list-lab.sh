#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# probe-list-lab.sh - `sav-probe -f LIST -j N` (and several addresses
# on the command line) keeps the milter's limits: one limiter for every
# worker, so a list never opens more connections than the milter would.
# Inside a loopback-only network namespace.
#
# The world:
#   ldns-testns on 127.0.0.1:53;
#   fake_smtpd instances, one per scenario:
#     same  127.0.0.60        same.test; RCPT answered after 1.5 s
#     slow  127.0.0.61        slow.test; RCPT answered after 0.5 s, 550
#     rate  127.0.0.62        rate1.test .. rate8.test (one MX host)
#     mxc   127.0.0.63        mxc1.test .. mxc8.test (one MX host); 1 s
#     mp    127.0.0.70 - 79   mp1.test .. mp10.test, an MX address each; 1 s
#
# Connections are counted from each server's transcript (its CONNECT
# lines); how many were open at once, from the order of its CONNECT and
# CLOSE lines. The servers close on QUIT without a reply, so a session's
# CLOSE line is written before the client sees its end and can start the
# next one (fake_smtpd's own max_concurrent counts child processes, which
# outlive the session a little, and would over-count).

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
lab_init probelist

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

mx1 same.test 127.0.0.60
mx1 slow.test 127.0.0.61
lab_dns_a mx.rate.test 127.0.0.62
lab_dns_a mx.mxc.test 127.0.0.63
for i in $(seq 8); do
	lab_dns_mx "rate$i.test" "10 mx.rate.test."
	lab_dns_mx "mxc$i.test" "10 mx.mxc.test."
done
mp_listen=()
for i in $(seq 10); do
	mx1 "mp$i.test" "127.0.0.$((69 + i))"
	mp_listen+=("127.0.0.$((69 + i)):25")
done
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

# ---------------------------------------------------------------------
# SMTP servers

export LAB_FAKE_NOWAIT=1
lab_fake_start same 127.0.0.60:25 <<'EOF'
delay rcpt 1500
rcpt who@same.test 250 2.1.5 Ok
EOF
lab_fake_start slow 127.0.0.61:25 <<'EOF'
delay rcpt 500
rcpt default 550 5.1.1 User unknown
EOF
lab_fake_start rate 127.0.0.62:25 <<'EOF'
rcpt * 250 2.1.5 Ok
EOF
lab_fake_start mxc 127.0.0.63:25 <<'EOF'
delay rcpt 1000
rcpt * 250 2.1.5 Ok
EOF
lab_fake_start mp "${mp_listen[@]}" <<'EOF'
delay rcpt 1000
rcpt * 250 2.1.5 Ok
EOF
unset LAB_FAKE_NOWAIT
lab_fake_wait

# conf FILE KEY VALUE... - a sav-milter.conf with the lab's resolver and
# these keys
conf()
{
	local f=$1
	shift
	printf '%s\n' "Resolver 127.0.0.1" "AllowPrivateTargets yes" >"$f"
	while [ $# -ge 2 ]; do
		printf '%s %s\n' "$1" "$2" >>"$f"
		shift 2
	done
}

# ---------------------------------------------------------------------
# Running the probe

# run NAME ARGS... - sav-probe --json --resolver 127.0.0.1
# --allow-private ARGS; JSON lines in $LAB_DIR/NAME.out, stderr in
# NAME.err; sets RC and MS (wall time).
run()
{
	local name=$1 t0
	shift
	t0=$(lab_now_ms)
	timeout 120 "$PROBE" --json --resolver 127.0.0.1 --allow-private "$@" \
		>"$LAB_DIR/$name.out" 2>"$LAB_DIR/$name.err" </dev/null
	RC=$?
	MS=$(( $(lab_now_ms) - t0 ))
}

# count NAME ERE - output lines of run NAME that match ERE
count()
{
	grep -Ec -- "$2" "$LAB_DIR/$1.out"
}

# at_once SERVER - the most connections SERVER had open at once
at_once()
{
	awk '$2 == "CONNECT" { if (++o > m) m = o } $2 == "CLOSE" { o-- } END { print m + 0 }' \
		"$LAB_DIR/$1.tr"
}

# list FILE ADDRESS... - one address a line
list()
{
	local f=$1
	shift
	printf '%s\n' "$@" >"$f"
}

# elapsed_min NAME ERE - the least elapsed_ms of the lines matching ERE
elapsed_min()
{
	grep -E -- "$2" "$LAB_DIR/$1.out" | sed -n 's/.*"elapsed_ms":\([0-9]*\).*/\1/p' | sort -n | head -1
}

# expect NAME GOT WANT... - lab_check, plus the run's stderr when it failed
expect()
{
	local f=$LAB_FAIL
	lab_check "$@"
	if [ "$LAB_FAIL" -gt "$f" ]; then
		lab_diag "exit $RC, ${MS} ms"
		tail -n 8 "$LAB_DIR/$RUN.err" 2>/dev/null | sed 's/^/#   /'
	fi
}

# ---------------------------------------------------------------------
# Single-flight: one probe for every copy of an address in flight

list "$LAB_DIR/same.list" $(for _ in $(seq 30); do echo who@same.test; done)
RUN=same
run same -v -j 30 -f "$LAB_DIR/same.list"
lab_diag "30 copies at -j 30: $(lab_fake_conns same) connection(s), ${MS} ms"
expect "the same address 30 times at -j 30: 1 SMTP connection, 30 lines all valid (none cached)" \
	"$(lab_fake_conns same)" 1 "$(count same '"verdict":"valid"')" 30 \
	"$(count same '"cached":true')" 0 "$(wc -l <"$LAB_DIR/same.out")" 30 "$RC" 0
expect "-v: the copies that joined say so" \
	"$(grep -c 'was being probed for another request' "$LAB_DIR/same.err")" 29

c0=$(lab_fake_conns same)
RUN=samecache
run samecache --cache "$LAB_DIR/same.mdb" -j 30 -f "$LAB_DIR/same.list"
run samecache2 --cache "$LAB_DIR/same.mdb" -j 30 -f "$LAB_DIR/same.list"
expect "--cache: 30 copies, 1 connection; the same list again: all 30 from the cache, no connection" \
	"$(( $(lab_fake_conns same) - c0 ))" 1 "$(count samecache '"verdict":"valid"')" 30 \
	"$(count samecache2 '"verdict":"valid".*"cached":true')" 30

# ---------------------------------------------------------------------
# DomainConcurrency (default 2, no -c): 40 addresses at one slow domain.
# The run goes on while probes wait their turn; each probe's --timeout
# counts from when it starts, so none times out in the queue. Under
# script(1) stderr is a terminal: the progress bar shows the waiting.

list "$LAB_DIR/slow.list" $(for i in $(seq 40); do echo "u$i@slow.test"; done)
RUN=slow
t0=$(lab_now_ms)
script -qec "$PROBE --json --resolver 127.0.0.1 --allow-private --timeout 5 -j 40 \
	-f $LAB_DIR/slow.list >$LAB_DIR/slow.out" "$LAB_DIR/slow.tty" \
	</dev/null >/dev/null 2>&1
RC=$?
MS=$(( $(lab_now_ms) - t0 ))
tr '\r' '\n' <"$LAB_DIR/slow.tty" >"$LAB_DIR/slow.err"
waitmax=$(grep -o '[0-9]* waiting for a slot' "$LAB_DIR/slow.err" | sort -n | tail -1 | cut -d' ' -f1)
probemax=$(grep -o '[0-9]* probing' "$LAB_DIR/slow.err" | sort -n | tail -1 | cut -d' ' -f1)
lab_diag "40 at slow.test, -j 40: $(lab_fake_conns slow) connections, at most $(at_once slow) at once, ${MS} ms; bar: at most ${waitmax:-?} waiting, ${probemax:-?} probing"
expect "40 addresses at one slow domain at -j 40: never more than 2 connections at once (DomainConcurrency)" \
	"$(at_once slow)" "<=2" "$(at_once slow)" ">=1" "$(lab_fake_conns slow)" 40
expect "... and all 40 get their real verdict (invalid, user-unknown), none rate-limited or timed out" \
	"$(count slow '"verdict":"invalid","reason":"user-unknown"')" 40 "$RC" 1
expect "... although the run took longer than one probe's --timeout 5 (40 / 2 x 0.5 s at least)" \
	"$MS" ">=5000"
expect "the progress bar says how many wait for a slot, and never shows more than 2 probing" \
	"${waitmax:-0}" ">=10" "${probemax:-9}" "<=2"

# ---------------------------------------------------------------------
# MXRate 5: eight domains with one MX address. Five connections, then the
# others wait for the rate window (a minute): still waiting well past
# their --timeout 2. With --wait 2 they give up: tempfail / rate-limited.

conf "$LAB_DIR/rate.conf" MXRate 5
list "$LAB_DIR/rate.list" $(for i in $(seq 8); do echo "u@rate$i.test"; done)
RUN=ratewait
c0=$(lab_fake_conns rate)
"$PROBE" --json -c "$LAB_DIR/rate.conf" --cache '' --resolver 127.0.0.1 --no-catchall \
	--timeout 2 -j 8 -f "$LAB_DIR/rate.list" >"$LAB_DIR/ratewait.out" 2>"$LAB_DIR/ratewait.err" \
	</dev/null &
ratepid=$!
for _ in $(seq 150); do
	[ "$(wc -l <"$LAB_DIR/ratewait.out")" -ge 5 ] && break
	sleep 0.1
done
sleep 4
alive=no
kill -0 "$ratepid" 2>/dev/null && alive=yes
n_out=$(wc -l <"$LAB_DIR/ratewait.out")
n_conn=$(( $(lab_fake_conns rate) - c0 ))
kill "$ratepid" 2>/dev/null
wait "$ratepid" 2>/dev/null
RC=-
MS=-
lab_diag "MXRate 5, 8 domains at one MX: $n_conn connections; $n_out verdicts, still running: $alive"
expect "MXRate 5: 5 connections and 5 verdicts; the other 3 still wait, 4 s past their --timeout 2" \
	"$n_conn" 5 "$n_out" 5 "$alive" yes "$(count ratewait '"verdict":"valid"')" 5

RUN=ratelimit
c0=$(lab_fake_conns rate)
run ratelimit -c "$LAB_DIR/rate.conf" --cache '' --no-catchall --timeout 2 --wait 2 \
	-j 8 -f "$LAB_DIR/rate.list"
lab_diag "MXRate 5 with --wait 2: $(( $(lab_fake_conns rate) - c0 )) connections, ${MS} ms, rate-limited after at least $(elapsed_min ratelimit rate-limited) ms"
expect "MXRate 5 with --wait 2: 5 valid, 3 tempfail/rate-limited after waiting, 5 connections" \
	"$(count ratelimit '"verdict":"valid"')" 5 \
	"$(count ratelimit '"verdict":"tempfail","reason":"rate-limited"')" 3 \
	"$(( $(lab_fake_conns rate) - c0 ))" 5 "$(elapsed_min ratelimit rate-limited)" ">=1500" "$RC" 2

RUN=rateargs
c0=$(lab_fake_conns rate)
run rateargs -c "$LAB_DIR/rate.conf" --cache '' --no-catchall --wait 1 $(cat "$LAB_DIR/rate.list")
expect "several addresses on the command line share the limits too: 5 valid, 3 rate-limited, 5 connections" \
	"$(count rateargs '"verdict":"valid"')" 5 \
	"$(count rateargs '"verdict":"tempfail","reason":"rate-limited"')" 3 \
	"$(( $(lab_fake_conns rate) - c0 ))" 5

# ---------------------------------------------------------------------
# MXConcurrency 2: eight domains with one MX address, -j 8. The last
# ones wait about 3 s for the address, longer than their --timeout 2: the
# wait moves their deadline on, and they still get their verdict.

conf "$LAB_DIR/mxc.conf" MXConcurrency 2
list "$LAB_DIR/mxc.list" $(for i in $(seq 8); do echo "u@mxc$i.test"; done)
RUN=mxc
run mxc -v -c "$LAB_DIR/mxc.conf" --cache '' --no-catchall --timeout 2 -j 8 -f "$LAB_DIR/mxc.list"
lab_diag "MXConcurrency 2: $(lab_fake_conns mxc) connections, at most $(at_once mxc) at once, ${MS} ms"
expect "MXConcurrency 2, 8 domains at one MX address at -j 8: at most 2 at once, all 8 valid, none timed out" \
	"$(at_once mxc)" "<=2" "$(lab_fake_conns mxc)" 8 "$(count mxc '"verdict":"valid"')" 8 "$RC" 0
expect "-v: the probes that waited for the MX address say so" \
	"$(grep -c 'limit: waited [0-9]* ms for a connection slot at 127.0.0.63' "$LAB_DIR/mxc.err")" ">=1"

# ---------------------------------------------------------------------
# MaxProbes 3: ten domains, each with its own MX address, -j 10

conf "$LAB_DIR/mp.conf" MaxProbes 3
list "$LAB_DIR/mp.list" $(for i in $(seq 10); do echo "u@mp$i.test"; done)
RUN=mp
run mp -c "$LAB_DIR/mp.conf" --cache '' --no-catchall -j 10 -f "$LAB_DIR/mp.list"
lab_diag "MaxProbes 3: $(lab_fake_conns mp) connections, at most $(at_once mp) at once, ${MS} ms"
expect "MaxProbes 3, 10 domains with 10 MX addresses at -j 10: at most 3 at once, all 10 valid" \
	"$(at_once mp)" "<=3" "$(at_once mp)" ">=1" "$(lab_fake_conns mp)" 10 \
	"$(count mp '"verdict":"valid"')" 10 "$RC" 0

lab_summary
