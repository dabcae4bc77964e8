#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# fleet-lab.sh - three MX hosts, one memory: three sav-milter processes,
# each with its own configuration and LMDB file, sharing one real
# redis-server (SharedCache), driven by miltertest (tests/milter/fleet.lua)
# inside a loopback-only namespace; fake_smtpd plays the senders' mail
# servers and counts the connections they get. The hosts log in as the
# ACL user of the README (keys under sav: only, the commands listed
# there), so the lab also shows that list is enough.
#
#   - one new sender at all three hosts at once: exactly one probe in the
#     fleet (one connection at its server), the same verdict on all three;
#   - a joe-job: 12 forged senders at one victim domain spread over the
#     three hosts, and a list of 6 more through sav-probe -j with one
#     host's configuration, DomainConcurrency 2: never more than 2
#     connections open at the victim's server at once, in all; the list
#     waits its turn and gets real verdicts; every slot given back;
#   - Redis down (killed): every host decides alone, within ProbeWait
#     plus SharedCacheTimeout, each under its own limits only (so the
#     same kind of flood now reaches more than 2 at once); Redis back:
#     sharing resumes by itself;
#   - a host killed (SIGKILL) while it holds a sender's probe: the others
#     tempfail within ProbeWait meanwhile, without probing, and the sender
#     is probed again by another host once the lock's PX (ProbeTimeout)
#     has run out, not before and not much after;
#   - Redis paused (SIGSTOP) mid-run: every host answers within ProbeWait
#     plus SharedCacheTimeout, alone, and logs one warning; continued
#     (SIGCONT): sharing resumes by itself, a sender one host probes is
#     answered from Redis on another;
#   - garbage under the fleet's keys (a lock key that is no lock, a
#     domain's slot set filled with members that never end): nobody
#     waits for it, the senders are probed at once;
#   - MXRate 3 on every host: 9 new senders at one mail server over the
#     three hosts at once make 3 connections in all (each host alone
#     would make 3), unless a minute of Redis's clock ended in between
#     (then up to 6, the documented edge).

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/fleet-lib.sh"

command -v miltertest >/dev/null || lab_die "miltertest is not installed (make deps)"
command -v redis-server >/dev/null || lab_die "redis-server is not installed (make deps)"
lab_init fleet

WAIT_MS=4000		# ProbeWait
TIMEOUT_MS=8000		# ProbeTimeout: the lock's PX
RTO_MS=250		# SharedCacheTimeout (the default)
# Time bounds are checked on the milter's own decision time (ms= in its
# decision lines), not on miltertest's wall time: with many sessions
# blocked in MAIL FROM at once, Debian's libmilter (built with its
# worker pool) starts a new session's worker up to a second or two
# late, and that is the MTA-facing figure, shown as a diagnostic.

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
i=2
for d in new victim kill alone rate; do
	lab_dns_mx "$d.test" "10 mx.$d.test."
	lab_dns_a "mx.$d.test" "127.0.0.$i"
	i=$((i + 1))
done
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

# the senders' servers: every RCPT answered after a delay, so that probes overlap
LAB_FAKE_NOWAIT=1 lab_fake_start mxnew 127.0.0.2:25 <<'X'
delay rcpt 1000
rcpt fresh@new.test 250 2.1.5 Ok
rcpt default 550 5.1.1 User unknown
X
LAB_FAKE_NOWAIT=1 lab_fake_start victim 127.0.0.3:25 <<'X'
delay rcpt 1000
rcpt default 550 5.1.1 User unknown
X
LAB_FAKE_NOWAIT=1 lab_fake_start kill 127.0.0.4:25 <<'X'
delay rcpt 1500
rcpt default 250 2.1.5 Ok
X
LAB_FAKE_NOWAIT=1 lab_fake_start alone 127.0.0.5:25 <<'X'
delay rcpt 1000
rcpt default 550 5.1.1 User unknown
X
LAB_FAKE_NOWAIT=1 lab_fake_start rate 127.0.0.6:25 <<'X'
rcpt default 250 2.1.5 Ok
X
lab_fake_wait

flab_redis_start
for n in 1 2 3; do
	flab_host_conf "$n" "ProbeWait $((WAIT_MS / 1000))s" "ProbeTimeout $((TIMEOUT_MS / 1000))s" \
		"DomainConcurrency 2"
	flab_host_start "$n"
done
lab_diag "$(redis-server --version | cut -d' ' -f1-3), three sav-milter hosts on one Redis"

# mail_all OUT HOST:SENDER... - all at once, each line of flab_mail into OUT
mail_all()
{
	local out=$1 hs pids=()
	shift
	: >"$out"
	for hs in "$@"; do
		flab_mail "${hs%%:*}" "${hs#*:}" >>"$out" &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# settle NAME - wait (10 s at most) until fake server NAME has no connection open
settle()
{
	for _ in $(seq 100); do
		[ "$(grep -c ' CONNECT ' "$LAB_DIR/$1.tr")" -le "$(grep -c ' CLOSE' "$LAB_DIR/$1.tr")" ] &&
			return 0
		sleep 0.1
	done
	return 1
}

# --- one new sender at three hosts at once ------------------------------------
mail_all "$LAB_DIR/sf.out" 1:fresh@new.test 2:fresh@new.test 3:fresh@new.test
settle mxnew
v=""
src=""
for n in 1 2 3; do
	flab_wait_decision "$n" fresh@new.test 50
	v="$v$(flab_field "$(flab_decision "$n" fresh@new.test)" verdict) "
	src="$src$(flab_field "$(flab_decision "$n" fresh@new.test)" cache)
"
done
src=$(printf '%s' "$src" | sort | tr '\n' ' ')
lab_check "single flight: one new sender at three hosts at once is probed once in the fleet" \
	"$(lab_fake_conns mxnew)" 1 "$(lab_fake_ncmds mxnew '^RCPT TO:<fresh@new.test>')" 1
lab_check "single flight: the same verdict on all three hosts, all accepted" \
	"$v" "valid valid valid " "$(grep -c ' accept ' "$LAB_DIR/sf.out")" 3
lab_is "$src" "miss shared shared " \
	"single flight: one host probed (cache=miss), the two that waited say the answer came from the fleet (cache=shared)"
lab_diag "single flight: $(tr '\n' ';' <"$LAB_DIR/sf.out")"
lab_is "$(flab_redis_cli --scan --pattern 'sav:v1:lock:*' | wc -l)" 0 \
	"single flight: the lock is released once the verdict is shared"

# --- a joe-job across the fleet ------------------------------------------------
set --
for i in $(seq 12); do
	set -- "$@" "$(( i % 3 + 1 )):joe$i@victim.test"
done
# sav-probe -j with host 2's configuration joins the flood: a list shares the fleet's limits too
"$LAB_BUILD/sav-probe" -c "$LAB_DIR/h2/sav-milter.conf" -j 6 --json \
	list1@victim.test list2@victim.test list3@victim.test list4@victim.test \
	list5@victim.test list6@victim.test >"$LAB_DIR/list.json" 2>"$LAB_DIR/list.err" &
lp=$!
t0=$(lab_now_ms)
mail_all "$LAB_DIR/joe.out" "$@"
ms=$(( $(lab_now_ms) - t0 ))
wait "$lp"
settle victim || lab_diag "victim: connections still open after 10 s"
answered=$(grep -cE ' (replycode|reject|tempfail) ' "$LAB_DIR/joe.out")
lab_diag "joe-job: 12 MAIL FROM answered in $ms ms (the slowest alone: $(awk '{ print $NF }' "$LAB_DIR/joe.out" | sort -n | tail -1) ms); $(lab_fake_conns victim) probes; max $(flab_max_open "$LAB_DIR/victim.tr") open at once"
lab_check "joe-job: 12 forged senders over three hosts, DomainConcurrency 2: at most 2 connections open at the victim at once, in all" \
	"$(flab_max_open "$LAB_DIR/victim.tr")" "<=2" "$(flab_max_open "$LAB_DIR/victim.tr")" ">=1"
lab_check "joe-job: sav-probe -j 6 beside the milters waits its turn: 6 real verdicts (invalid), under the same fleet-wide limit" \
	"$(grep -c '"verdict":"invalid"' "$LAB_DIR/list.json")" 6 "$(lab_fake_ncmds victim '^RCPT TO:<list')" 6
lab_check "joe-job: every forged sender refused or tempfailed, none accepted, each decided within ProbeWait + SharedCacheTimeout" \
	"$answered" 12 "$(grep -c ' accept ' "$LAB_DIR/joe.out")" 0 \
	"$(flab_max_ms 'joe[0-9]+@victim\.test')" "<=$((WAIT_MS + RTO_MS))"
lab_is "$(flab_redis_cli --scan --pattern 'sav:v1:cc:*' | wc -l)$(flab_redis_cli --scan --pattern 'sav:v1:lock:*' | wc -l)" 00 \
	"joe-job: every fleet slot and lock given back once the probes ended"

# --- Redis down: each host decides alone ---------------------------------------
flab_redis_stop
set --
for i in $(seq 12); do
	set -- "$@" "$(( i % 3 + 1 )):forged$i@alone.test"
done
t0=$(lab_now_ms)
mail_all "$LAB_DIR/alone.out" "$@"
ms=$(( $(lab_now_ms) - t0 ))
settle alone
lab_diag "Redis down: 12 MAIL FROM answered in $ms ms; slowest $(awk '{ print $NF }' "$LAB_DIR/alone.out" | sort -n | tail -1) ms; max $(flab_max_open "$LAB_DIR/alone.tr") open at once"
lab_check "Redis down: every host still decides (refused or tempfailed), none slower than ProbeWait + SharedCacheTimeout" \
	"$(grep -cE ' (replycode|reject|tempfail) ' "$LAB_DIR/alone.out")" 12 \
	"$(flab_max_ms 'forged[0-9]+@alone\.test')" "<=$((WAIT_MS + RTO_MS))"
lab_check "Redis down: each host under its own limits only (2 each: more than 2 open at once, at most 6)" \
	"$(flab_max_open "$LAB_DIR/alone.tr")" ">=3" "$(flab_max_open "$LAB_DIR/alone.tr")" "<=6"
alive=0
for n in 1 2 3; do
	eval "pid=\$FLAB_PID_$n"
	kill -0 "$pid" 2>/dev/null && alive=$((alive + 1))
done
lab_is "$alive" 3 "Redis down: all three milters still run"
flab_redis_start
sleep 1.5	# one reconnect a second at most

# --- a host killed while it holds a sender's probe ------------------------------
flab_mail 1 victim@kill.test >"$LAB_DIR/kill1.out" &
k1=$!
lab_wait_file "$LAB_DIR/kill.tr" ' CONNECT ' 50 || lab_diag "host 1 never connected to kill.test's server"
t_lock=$(lab_now_ms)
pttl=$(flab_redis_cli PTTL 'sav:v1:lock:a:victim@kill.test')
flab_host_kill 1
wait "$k1" 2>/dev/null
lab_check "kill: host 1 held the lock for victim@kill.test when it was killed (PX up to ProbeTimeout)" \
	"$pttl" ">=$((TIMEOUT_MS - 1500))" "$pttl" "<=$TIMEOUT_MS"
out=$(flab_mail 2 victim@kill.test)
line=$(flab_decision 2 victim@kill.test)
lab_check "kill: meanwhile another host tempfails within ProbeWait (reason budget) and does not probe" \
	"$out" "~ (replycode|tempfail) [0-9]+$" "$(flab_field "$line" verdict)/$(flab_field "$line" reason)" \
	tempfail/budget "${out##* }" "<=$((WAIT_MS + 1000))" "$(lab_fake_conns kill)" 1
# host 3 asks while the dead host's lock still stands; it takes over once the PX runs out
flab_mail 3 victim@kill.test >"$LAB_DIR/kill3.out" &
k3=$!
t2=""
for _ in $(seq 150); do
	if [ "$(lab_fake_conns kill)" -ge 2 ]; then
		t2=$(lab_now_ms)
		break
	fi
	sleep 0.1
done
wait "$k3"
settle kill
after=$(( ${t2:-999999999} - t_lock ))
lab_diag "kill: the second probe started $after ms after the first (lock PTTL was $pttl ms)"
lab_check "kill: another host probes the sender again once the dead host's lock expired (within ProbeTimeout)" \
	"$(lab_fake_conns kill)" 2 "$after" "<=$((TIMEOUT_MS + 1000))" "$after" ">=$((pttl - 1000))"
out=$(flab_mail 2 victim@kill.test)
lab_check "kill: the re-probe's verdict is then shared: host 2 accepts from the cache, no third probe" \
	"$out" "~ accept " "$(lab_fake_conns kill)" 2 \
	"$(flab_field "$(flab_decision 2 victim@kill.test)" verdict)" valid

# --- Redis paused mid-run, then continued ---------------------------------------
flab_host_start 1	# the killed one, back with its LMDB file
w0=$(cat "$LAB_DIR"/h[123].log | grep -c 'shared cache: unavailable')
kill -STOP "$FLAB_REDIS_PID"
t0=$(lab_now_ms)
mail_all "$LAB_DIR/paused.out" 1:p1@new.test 2:p2@new.test 3:p3@new.test 1:p4@new.test
ms=$(( $(lab_now_ms) - t0 ))
lab_diag "Redis paused: 4 MAIL FROM answered in $ms ms; $(tr '\n' ';' <"$LAB_DIR/paused.out")"
lab_check "Redis paused: every host answers (refused), none slower than ProbeWait + SharedCacheTimeout" \
	"$(grep -c ' replycode ' "$LAB_DIR/paused.out")" 4 \
	"$(flab_max_ms 'p[0-9]@new\.test')" "<=$((WAIT_MS + RTO_MS))"
w1=$(cat "$LAB_DIR"/h[123].log | grep -c 'shared cache: unavailable')
lab_check "Redis paused: one warning per host that noticed, not one per message" \
	"$((w1 - w0))" ">=1" "$((w1 - w0))" "<=3"
kill -CONT "$FLAB_REDIS_PID"
sleep 1.5	# one reconnect a second at most
flab_mail 2 back@new.test >/dev/null
c0=$(lab_fake_conns mxnew)
out=$(flab_mail 3 back@new.test)
lab_check "Redis continued: sharing resumes by itself: a sender host 2 probed is answered from Redis on host 3" \
	"$out" "~ replycode " "$(flab_field "$(flab_decision 3 back@new.test)" cache)" shared \
	"$(lab_fake_conns mxnew)" "$c0"

# --- garbage under the lock and slot keys ----------------------------------------
flab_redis_cli SET 'sav:v1:lock:a:junk@new.test' 'not-a-lock' >/dev/null	# no PX, no token
flab_redis_cli ZADD 'sav:v1:cc:d:victim.test' 99999999999999 x 99999999999999 y >/dev/null
c0=$(lab_fake_conns mxnew)
v0=$(lab_fake_conns victim)
out1=$(flab_mail 3 junk@new.test)
out2=$(flab_mail 3 garbage@victim.test)
lab_check "garbage: a lock key that is no lock and a slot set of never-ending members hold nobody up: both probed at once" \
	"$out1" "~ replycode " "$(( $(lab_fake_conns mxnew) - c0 ))" 1 "$out2" "~ replycode " \
	"$(( $(lab_fake_conns victim) - v0 ))" 1 \
	"$(flab_max_ms 'junk@new\.test|garbage@victim\.test')" "<=2500"

# --- MXRate across the fleet -------------------------------------------------------
# limits are read at start: the three hosts again, with MXRate 3 (their LMDB files stay)
for n in 1 2 3; do
	flab_host_kill "$n"
	mv "$LAB_DIR/h$n.log" "$LAB_DIR/h$n.log.1"
	flab_host_conf "$n" "ProbeWait $((WAIT_MS / 1000))s" "ProbeTimeout $((TIMEOUT_MS / 1000))s" \
		"DomainConcurrency 2" "MXRate 3"
	flab_host_start "$n"
done
m0=$(flab_redis_cli TIME | head -1)
set --
for i in $(seq 9); do
	set -- "$@" "$(( i % 3 + 1 )):r$i@rate.test"
done
mail_all "$LAB_DIR/rate.out" "$@"
m1=$(flab_redis_cli TIME | head -1)
conns=$(lab_fake_conns rate)
lab_diag "MXRate: $conns connections for 9 new senders; $(grep -c ' accept ' "$LAB_DIR/rate.out") accepted; Redis clock $m0 .. $m1"
if [ $((m0 / 60)) -eq $((m1 / 60)) ]; then
	lab_check "MXRate 3 on each of three hosts: 9 new senders at one server make 3 connections in all, within one minute" \
		"$conns" 3 "$(grep -c ' accept ' "$LAB_DIR/rate.out")" 3 \
		"$(flab_redis_cli GET "sav:v1:rate:127.0.0.6:$((m0 / 60))")" 3
else
	lab_check "MXRate 3 on each of three hosts, across a minute's edge: at most twice the rate" \
		"$conns" "<=6" "$conns" ">=3"
fi

n=0
for h in 1 2 3; do
	n=$((n + $(cat "$LAB_DIR/h$h.log"* | grep -c 'fleet: the shared cache refused')))
done
lab_is "$n" 0 "ACL: the README's ACL user may run every command of the lock and the limits"

lab_summary
