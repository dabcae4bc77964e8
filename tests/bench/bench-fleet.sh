#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench-fleet.sh - what sharing costs and saves across MX hosts (`make
# bench-fleet`; a benchmark, not a test: it prints figures measured in
# one run and asserts nothing about speed), inside a loopback-only
# namespace with a real redis-server on 127.0.0.1:6379, fake DNS
# (ldns-testns) and fake_smtpd as the senders' servers.
#
#   1. shared hit against LMDB hit (tests/tools/bench_fleet, in one
#      process, each call timed): host A probes BENCH_N new senders,
#      host B then answers each from the shared cache (a shared hit,
#      which fills its LMDB file) and once more from LMDB; medians,
#      90th percentiles and the ratio; the senders' server must have
#      seen exactly BENCH_N connections (B probed nothing);
#   2. probes per new sender across 3 hosts: three sav-milter processes
#      on the one Redis, BENCH_SENDERS new senders each sent to all
#      three at once (miltertest, tests/milter/fleet.lua); connections
#      at the senders' server divided by the senders (1.00 is one probe
#      per sender in the fleet);
#   3. MAIL FROM latency with Redis paused (SIGSTOP): BENCH_SENDERS new
#      senders one after another at one host with Redis running, then as
#      many with Redis stopped; each MAIL FROM's wall time (miltertest's
#      start included, the same in both rows); the extra time of the
#      slowest one over the slowest with Redis running, against
#      SharedCacheTimeout (250 ms).
#
# BENCH_N (default 200), BENCH_SENDERS (default 20). LAB_KEEP=1 keeps
# the temp dir. Exit status: 0 when it measured, 1 when the set-up failed.

. "$(dirname "$0")/../lab/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/../lab/fleet-lib.sh"

N=${BENCH_N:-200}
NS=${BENCH_SENDERS:-20}
TOOL=$LAB_BUILD/tests/bench_fleet
case $N in ''|*[!0-9]*|0) lab_die "BENCH_N: want a number >= 1" ;; esac
case $NS in ''|*[!0-9]*|0) lab_die "BENCH_SENDERS: want a number >= 1" ;; esac
for f in "$TOOL" "$FLAB_MILTER"; do
	[ -x "$f" ] || lab_die "no $f (make all)"
done
command -v miltertest >/dev/null || lab_die "miltertest is not installed (make deps)"

T0=$(date +%s)
say()
{
	printf 'bench: [%3d s] %s\n' $(( $(date +%s) - T0 )) "$*"
}
lab_init bench-fleet

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
i=2
for d in bench new pause up; do
	lab_dns_mx "$d.test" "10 mx.$d.test."
	lab_dns_a "mx.$d.test" "127.0.0.$i"
	i=$((i + 1))
done
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"
LAB_FAKE_NOWAIT=1 lab_fake_start bench 127.0.0.2:25 <<<'rcpt default 250 2.1.5 Ok'
# probes of one sender at three hosts overlap: the server takes its time
LAB_FAKE_NOWAIT=1 lab_fake_start new 127.0.0.3:25 <<<$'delay rcpt 300\nrcpt default 250 2.1.5 Ok'
LAB_FAKE_NOWAIT=1 lab_fake_start pause 127.0.0.4:25 <<<'rcpt default 250 2.1.5 Ok'
LAB_FAKE_NOWAIT=1 lab_fake_start up 127.0.0.5:25 <<<'rcpt default 250 2.1.5 Ok'
lab_fake_wait
flab_redis_start
say "$(redis-server --version | cut -d' ' -f1-3); $(nproc) CPUs"

# --- 1. shared hit against LMDB hit -----------------------------------------------
say "1. host A probes $N new senders, host B answers each from the shared cache, then from LMDB"
"$TOOL" -r "redis://127.0.0.1:$FLAB_REDIS_PORT" -s 127.0.0.1 -p 25 -n "$N" -d "$LAB_DIR" \
	bench.test >"$LAB_DIR/tool.out" 2>"$LAB_DIR/tool.err" || {
	cat "$LAB_DIR/tool.err" >&2
	lab_die "bench_fleet failed"
}
sed 's/^/bench:   /' "$LAB_DIR/tool.out"
say "   the senders' server saw $(lab_fake_conns bench) connections for $N senders (host B probed $(( $(lab_fake_conns bench) - N )))"

# --- 2. probes per new sender across three hosts -----------------------------------
for n in 1 2 3; do
	flab_host_conf "$n" "ProbeWait 4s" "ProbeTimeout 8s"
	flab_host_start "$n"
done
say "2. $NS new senders, each at three hosts at once"
for i in $(seq "$NS"); do
	flab_mail 1 "s$i@new.test" >>"$LAB_DIR/sf.out" &
	p1=$!
	flab_mail 2 "s$i@new.test" >>"$LAB_DIR/sf.out" &
	p2=$!
	flab_mail 3 "s$i@new.test" >>"$LAB_DIR/sf.out" &
	p3=$!
	wait $p1 $p2 $p3
done
c=$(lab_fake_conns new)
acc=$(grep -c ' accept ' "$LAB_DIR/sf.out")
say "   probes per new sender across 3 hosts: $(awk -v c="$c" -v n="$NS" 'BEGIN { printf "%.2f", c / n }') ($c connections, $acc of $((3 * NS)) MAIL FROM accepted)"

# --- 3. MAIL FROM latency with Redis paused ---------------------------------------
# ms_stats FILE - "median max" of the last column
ms_stats()
{
	awk '{ print $NF }' "$1" | sort -n | awk '{ v[NR] = $1 } END { printf "%d %d", v[int((NR + 1) / 2)], v[NR] }'
}
say "3. $NS new senders one after another at host 1: Redis running, then Redis paused (SIGSTOP)"
for i in $(seq "$NS"); do
	flab_mail 1 "u$i@up.test" >>"$LAB_DIR/up.out"
done
kill -STOP "$FLAB_REDIS_PID"
for i in $(seq "$NS"); do
	flab_mail 1 "p$i@pause.test" >>"$LAB_DIR/paused.out"
done
kill -CONT "$FLAB_REDIS_PID"
read -r up_med up_max <<<"$(ms_stats "$LAB_DIR/up.out")"
read -r pa_med pa_max <<<"$(ms_stats "$LAB_DIR/paused.out")"
say "   Redis running: median $up_med ms, max $up_max ms ($(grep -c ' accept ' "$LAB_DIR/up.out") of $NS accepted)"
say "   Redis paused:  median $pa_med ms, max $pa_max ms ($(grep -c ' accept ' "$LAB_DIR/paused.out") of $NS accepted)"
say "   slowest paused minus slowest running: $((pa_max - up_max)) ms (SharedCacheTimeout 250 ms)"
say "   host 1 logged $(grep -c 'shared cache: unavailable' "$LAB_DIR/h1.log") warning(s) that sharing stopped and $(grep -c 'shared cache: available again' "$LAB_DIR/h1.log") notice(s) that it resumed"
say "done"
