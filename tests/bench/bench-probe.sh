#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench-probe.sh - first contact in round trips: how long sav-probe's
# SMTP dialogue takes to reach each verdict when the MX is a round trip
# away, before and after the catch-all RCPT was pipelined (`make
# bench-probe`; a benchmark, not a test: it asserts nothing about speed).
#
# The world, in a loopback-only network namespace (lab_isolate):
#   ldns-testns on 127.0.0.1:53: MX records for the domains below;
#   a real Postfix on 127.0.0.2:25 for pf.test (alice 250, anybody else
#     550 5.1.1; it offers PIPELINING);
#   fake_smtpd on 127.0.0.3:25 for all.test: catch-all, PIPELINING,
#     answers a pipelined group in one write as Postfix does ("batch");
#   fake_smtpd on 127.0.0.4:25 for step.test: no PIPELINING, u 250,
#     anybody else 550;
#   the round trip: each domain's MX address (127.0.0.12, .13, .14) is
#     an rtt_relay (tests/tools/rtt_relay.c) in front of the server that
#     holds every byte each way for RTT/2 and emulates the handshake.
#     This kernel may have no netem qdisc (`tc qdisc add dev lo root
#     netem` fails without CONFIG_NET_SCH_NETEM); the script says which.
#     The relay delays only SMTP: DNS, also on loopback, is answered at
#     once and is not part of the figures.
#
# For each RTT (BENCH_RTTS, default "20 100" ms) and each verdict it
# runs sav-probe BENCH_RUNS times (default 5) with the old and the new
# binary (alternately, after one unmeasured warm-up each) and prints the
# median time from the connect (the relay's accept) to the moment the
# client has every reply it needs for the verdict (the relay's last
# server chunk but a lone 221, plus the one-way delay), in
# ms and in round trips (ms / RTT, one decimal), the fastest run in
# round trips too (load only ever adds time), and after/before. "before" is sav-probe built from
# BENCH_BEFORE_REV (default fad38c7: main before the catch-all RCPT was
# pipelined; the catch-all RCPT waits for the real RCPT's reply), or the
# binary BENCH_BEFORE_PROBE names; "after" is this tree's build/sav-probe.
# The QUIT and its 221 (one more round trip) come after the verdict and
# are not counted; the "probe ms" column is sav-probe's whole elapsed_ms
# (DNS, dialogue, QUIT), for reference.
#
# BENCH_MODE=tls (`make bench-starttls`) measures STARTTLS instead: the
# same Postfix, now with a self-signed certificate and
# smtpd_tls_security_level = may, behind the same relay; this tree's
# sav-probe with --tls never and --tls may, alternately, for valid and
# invalid; the median ms from the connect to the reply to the real RCPT
# (taken from the -v trace, timestamped as it is written: inside TLS the
# relay cannot see the commands), round trips, and tls/plain. Then the CPU (user+sys, the
# kernel's getrusage of the child, through bash's time) of one
# sav-probe process verifying 1 and BENCH_CPU_N+1 addresses (default
# 40) one after the other in each mode: the difference over N is the
# CPU per probe in a long-running process (the milter), the first
# figure holds the one-time start (for TLS the SSL_CTX and the system
# trust store).
#
# Needs root, iproute2, ldns-testns, Postfix, git (for the old build)
# and `make all`. The machine is shared and noisy: read the round-trip
# counts, not the third digit.

. "$(dirname "$0")/../lab/lib.sh"
lab_isolate "$0" "$@"
lab_init bench-probe

PROBE=${PROBE:-$LAB_BUILD/sav-probe}
RELAY=${RELAY:-$LAB_BUILD/tests/rtt_relay}
RTTS=${BENCH_RTTS:-20 100}
RUNS=${BENCH_RUNS:-5}
REV=${BENCH_BEFORE_REV:-fad38c7}
MODE=${BENCH_MODE:-pipeline}
for f in "$PROBE" "$RELAY" "$LAB_FAKE_SMTPD"; do
	[ -x "$f" ] || lab_die "no $f (make all)"
done
[ "$MODE" = tls ] && BENCH_BEFORE_PROBE=${BENCH_BEFORE_PROBE:-$PROBE}

# ---------------------------------------------------------------------
# The old binary

BEFORE=${BENCH_BEFORE_PROBE-}
if [ -z "$BEFORE" ]; then
	src=$LAB_DIR/before
	mkdir -p "$src"
	git -C "$LAB_SRC" archive --format=tar "$REV" | tar -x -C "$src" ||
		lab_die "cannot take $REV from $LAB_SRC (set BENCH_BEFORE_PROBE=old sav-probe)"
	echo "bench-probe: building sav-probe at $REV (before) ..."
	make -C "$src" build/sav-probe >"$LAB_DIR/before-build.log" 2>&1 ||
		{ tail -20 "$LAB_DIR/before-build.log" >&2; lab_die "building $REV failed"; }
	BEFORE=$src/build/sav-probe
	BEFORE_WHAT="sav-probe built from $REV"
else
	BEFORE_WHAT=$BEFORE
fi

# ---------------------------------------------------------------------
# netem or the relay

if tcerr=$(tc qdisc add dev lo root netem delay 1ms 2>&1); then
	tc qdisc del dev lo root 2>/dev/null
	NETEM="netem works here, but the figures come from rtt_relay (one method, DNS left out)"
else
	NETEM="no netem in this kernel (tc qdisc add dev lo root netem: ${tcerr:-failed}); the round trip is emulated by rtt_relay"
fi

# ---------------------------------------------------------------------
# DNS and servers

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
lab_dns_mx pf.test "10 mx.pf.test."
lab_dns_a mx.pf.test 127.0.0.12
lab_dns_mx all.test "10 mx.all.test."
lab_dns_a mx.all.test 127.0.0.13
lab_dns_mx step.test "10 mx.step.test."
lab_dns_a mx.step.test 127.0.0.14
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

lab_postfix_mx pf 127.0.0.2 pf.test alice
if [ "$MODE" = tls ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=mx.lab.test -days 2 \
		-keyout "$LAB_DIR/key.pem" -out "$LAB_DIR/cert.pem" >"$LAB_DIR/openssl.log" 2>&1 ||
		lab_die "openssl req failed"
	chmod 644 "$LAB_DIR/key.pem" "$LAB_DIR/cert.pem"
	lab_postfix_set pf "smtpd_tls_cert_file = $LAB_DIR/cert.pem" \
		"smtpd_tls_key_file = $LAB_DIR/key.pem" "smtpd_tls_security_level = may"
	echo 'tlsmgr    unix  -       -       n       1000?   1       tlsmgr' \
		>>"$(lab_postfix_dir pf)/conf/master.cf"
fi
lab_postfix_start pf
lab_fake_start all 127.0.0.3:25 <<'SCRIPT'
batch
rcpt * 250 2.1.5 Ok
SCRIPT
lab_fake_start step 127.0.0.4:25 <<'SCRIPT'
ehlo 250-fake.test|250 8BITMIME
rcpt u@step.test 250 2.1.5 Ok
SCRIPT

# relays_start ONE_WAY_MS - the three relays with that delay
RELAY_PIDS=""
relays_start()
{
	local d=$1 pid n
	RELAY_D=$d
	for pid in $RELAY_PIDS; do
		lab_kill "$pid"
	done
	RELAY_PIDS=""
	for n in 2 3 4; do
		rm -f "$LAB_DIR/relay$n.ready" "$LAB_DIR/relay$n.log"
		lab_spawn "relay$n-err" "$RELAY" -l "127.0.0.1$n:25" -u "127.0.0.$n:25" -d "$d" \
			-t "$LAB_DIR/relay$n.log" -r "$LAB_DIR/relay$n.ready" -T 3600
		RELAY_PIDS="$RELAY_PIDS $LAB_LASTPID"
		lab_wait_file "$LAB_DIR/relay$n.ready" . || lab_die "rtt_relay for 127.0.0.$n did not start"
	done
}

# ---------------------------------------------------------------------
# One probe

# probe_once BIN ADDRESS RELAYNO WANT - run it; sets PO_MS (ms from the
# connect to the last reply it needs) and PO_TOTAL (sav-probe's elapsed_ms), or dies when the
# verdict is not WANT or the relay did not see exactly one dialogue
probe_once()
{
	local bin=$1 addr=$2 n=$3 want=$4 log=$LAB_DIR/relay$3.log id j v q
	id=$(( $(grep -c ' ACCEPT ' "$log" 2>/dev/null) + 1 ))
	j=$("$bin" --json --resolver 127.0.0.1 --allow-private --helo bench.test "$addr" 2>"$LAB_DIR/probe.err")
	v=$(lab_json_str "$j" verdict)
	[ "$v" = "$want" ] || lab_die "$addr with $bin: verdict '$v', want '$want' ($j)"
	[ "$(grep -c ' ACCEPT ' "$log")" = "$id" ] || lab_die "$addr: want exactly one connection through relay $n"
	# the last server chunk that is not the 221 alone, as the client got
	# it (one-way delay later): QUIT may share a write with MAIL and RCPT
	q=$(awk -v id="$id" -v d="$RELAY_D" '$1 == id && $3 == "S>" && $4 != "EOF" && $5 !~ /^221$/ {
		t = $2; sub(/^\+/, "", t) } END { if (t != "") print t + d }' "$log")
	[ -n "$q" ] || lab_die "$addr: no reply seen by relay $n (connection $id)"
	PO_MS=$q
	PO_TOTAL=$(lab_json_num "$j" elapsed_ms)
}

median()	# numbers on stdin -> the median
{
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

minimum()	# numbers on stdin -> the smallest (load only ever adds time)
{
	sort -n | head -n 1
}

# ---------------------------------------------------------------------
# STARTTLS (BENCH_MODE=tls)

# tls_once TLSMODE ADDRESS WANT - one probe through relay 2 with --tls
# TLSMODE; sets PO_MS (ms from "smtp: connect" to the reply to the real
# RCPT, the second "S:" line after "C: MAIL FROM", in the -v trace, each
# line stamped when it was written: QUIT may go out in the same write as
# MAIL and RCPT, so it no longer marks the verdict) or dies when the
# verdict, the session's TLS or the count of connections is not right
tls_once()
{
	local mode=$1 addr=$2 want=$3 log=$LAB_DIR/relay2.log id j v t
	id=$(( $(grep -c ' ACCEPT ' "$log" 2>/dev/null) + 1 ))
	j=$("$PROBE" --json -v --tls "$mode" --resolver 127.0.0.1 --allow-private --helo bench.test "$addr" \
		2> >(perl -MTime::HiRes=time -ne 'printf "%.3f %s", time * 1000, $_' >"$LAB_DIR/tls.trace"))
	for _ in $(seq 20); do grep -q 'smtp: answered' "$LAB_DIR/tls.trace" && break; sleep 0.05; done
	v=$(lab_json_str "$j" verdict)
	t=$(lab_json_str "$j" tls)
	[ "$v" = "$want" ] || lab_die "$addr --tls $mode: verdict '$v', want '$want' ($j)"
	if [ "$mode" = may ]; then
		[ "$t" = TLSv1.3 ] || lab_die "$addr --tls may: tls '$t', want TLSv1.3 ($j)"
	else
		[ -z "$t" ] || lab_die "$addr --tls never: tls '$t'"
	fi
	[ "$(grep -c ' ACCEPT ' "$log")" = "$id" ] || lab_die "$addr: want exactly one connection through relay 2"
	PO_MS=$(awk '/smtp: connect / && !c { c = $1 } / C: MAIL FROM:/ { m = 1; s = 0 }
		m && / S: / && ++s == 2 && !q { q = $1 }
		END { if (c && q) printf "%.1f", q - c }' "$LAB_DIR/tls.trace")
	[ -n "$PO_MS" ] || lab_die "$addr: no connect or RCPT reply in the trace"
}

# cpu_run TLSMODE N - user+sys ms of one sav-probe verifying N addresses
cpu_run()
{
	local mode=$1 n=$2 i t
	for i in $(seq "$n"); do
		echo "alice@pf.test"
	done >"$LAB_DIR/cpu.list"
	t=$( { TIMEFORMAT='%3U %3S'; time "$PROBE" --json --tls "$mode" --resolver 127.0.0.1 --allow-private \
		--helo bench.test -f "$LAB_DIR/cpu.list" >"$LAB_DIR/cpu.out" 2>/dev/null; } 2>&1)
	[ "$(grep -c '"verdict":"valid"' "$LAB_DIR/cpu.out")" = "$n" ] || lab_die "cpu run --tls $mode: not $n valid"
	awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.1f", (a[1] + a[2]) * 1000 }'
}

if [ "$MODE" = tls ]; then
	CPU_N=${BENCH_CPU_N:-40}
	echo "bench-probe (tls): first contact with STARTTLS against the same Postfix"
	echo "  $NETEM; DNS is answered at once and not counted"
	echo "  Postfix $(postconf -d -h mail_version 2>/dev/null), smtpd_tls_security_level = may, RSA 2048 self-signed;"
	echo "  $(openssl version)"
	echo "  ms from the connect to the reply to the real RCPT (the verdict), median of $RUNS runs;"
	echo "  RTTs = that / RTT, and the fastest run's (min); tls/plain = ratio of the medians;"
	echo "  load: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	printf '%-6s  %-9s  %9s %5s %5s  %9s %5s %5s  %9s  %6s\n' RTT verdict \
		"plain ms" RTTs min "tls ms" RTTs min "+RTTs" "tls/pl"
	for rtt in $RTTS; do
		relays_start $((rtt / 2))
		for sc in "valid|alice@pf.test" "invalid|nobody@pf.test"; do
			IFS='|' read -r want addr <<<"$sc"
			: >"$LAB_DIR/p.ms"
			: >"$LAB_DIR/t.ms"
			tls_once never "$addr" "$want"
			tls_once may "$addr" "$want"
			for _ in $(seq "$RUNS"); do
				tls_once never "$addr" "$want"
				echo "$PO_MS" >>"$LAB_DIR/p.ms"
				tls_once may "$addr" "$want"
				echo "$PO_MS" >>"$LAB_DIR/t.ms"
			done
			p=$(median <"$LAB_DIR/p.ms")
			pm=$(minimum <"$LAB_DIR/p.ms")
			t=$(median <"$LAB_DIR/t.ms")
			tm=$(minimum <"$LAB_DIR/t.ms")
			awk -v rtt="$rtt" -v want="$want" -v p="$p" -v pm="$pm" -v t="$t" -v tm="$tm" 'BEGIN {
				printf "%-6s  %-9s  %9.1f %5.1f %5.1f  %9.1f %5.1f %5.1f  %9.1f  %6.2f\n",
					rtt " ms", want, p, p / rtt, pm / rtt, t, t / rtt, tm / rtt, (t - p) / rtt, t / p }'
		done
	done
	echo
	relays_start 0
	echo "CPU (user+sys, ms) of one sav-probe process, RTT 0; per probe = (N+1 run - 1 run) / N, N = $CPU_N"
	printf '%-6s  %10s  %12s  %10s\n' mode "1 address" "$((CPU_N + 1)) addresses" "per probe"
	for mode in never may; do
		c1=$(cpu_run "$mode" 1)
		cn=$(cpu_run "$mode" $((CPU_N + 1)))
		awk -v m="$mode" -v a="$c1" -v b="$cn" -v n="$CPU_N" -v k=$((CPU_N + 1)) 'BEGIN {
			printf "%-6s  %10.1f  %12.1f  %10.2f\n", m, a, b, (b - a) / n }'
	done
	exit 0
fi

# ---------------------------------------------------------------------
# The runs

SCEN=(
	"valid|Postfix, PIPELINING|alice@pf.test|2"
	"invalid|Postfix, PIPELINING|nobody@pf.test|2"
	"catch-all|fake_smtpd, PIPELINING|u@all.test|3"
	"valid|fake_smtpd, no PIPELINING|u@step.test|4"
)

echo "bench-probe: first contact, SMTP dialogue until the verdict"
echo "  $NETEM; DNS is answered at once and not counted"
echo "  before: $BEFORE_WHAT; after: $PROBE"
echo "  ms from the connect to the last reply the verdict needs, median of $RUNS runs;"
echo "  RTTs = that / RTT, and the fastest run's (min); a/b = after/before (medians);"
echo "  probe ms = sav-probe's elapsed_ms after (DNS, dialogue, QUIT), median; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-6s  %-9s  %-26s  %9s %5s %5s  %9s %5s %5s  %5s  %8s\n' RTT verdict server \
	"before ms" RTTs min "after ms" RTTs min "a/b" "probe ms"
for rtt in $RTTS; do
	relays_start $((rtt / 2))
	for sc in "${SCEN[@]}"; do
		IFS='|' read -r want server addr n <<<"$sc"
		: >"$LAB_DIR/b.ms"
		: >"$LAB_DIR/a.ms"
		: >"$LAB_DIR/a.total"
		# one unmeasured dialogue each first: Postfix starts its
		# services on first use
		probe_once "$BEFORE" "$addr" "$n" "$want"
		probe_once "$PROBE" "$addr" "$n" "$want"
		for _ in $(seq "$RUNS"); do
			# alternate, so that load on the machine hits both alike
			probe_once "$BEFORE" "$addr" "$n" "$want"
			echo "$PO_MS" >>"$LAB_DIR/b.ms"
			probe_once "$PROBE" "$addr" "$n" "$want"
			echo "$PO_MS" >>"$LAB_DIR/a.ms"
			echo "$PO_TOTAL" >>"$LAB_DIR/a.total"
		done
		b=$(median <"$LAB_DIR/b.ms")
		bm=$(minimum <"$LAB_DIR/b.ms")
		a=$(median <"$LAB_DIR/a.ms")
		am=$(minimum <"$LAB_DIR/a.ms")
		t=$(median <"$LAB_DIR/a.total")
		awk -v rtt="$rtt" -v want="$want" -v server="$server" -v b="$b" -v bm="$bm" \
			-v a="$a" -v am="$am" -v t="$t" 'BEGIN {
			printf "%-6s  %-9s  %-26s  %9.1f %5.1f %5.1f  %9.1f %5.1f %5.1f  %5.2f  %8.0f\n",
				rtt " ms", want, server, b, b / rtt, bm / rtt, a, a / rtt, am / rtt, a / b, t }'
	done
done
