#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# stats-fleet-lab.sh - the StatsFile series of the shared cache: two
# sav-milter hosts on one real redis-server (fleet-lib.sh), driven by
# miltertest, each writing its StatsFile every second; both files read
# with the strict text-format reader (tests/tools/prom_check.py) and
# their figures, summed over the hosts, compared with what was sent:
#   - one new sender at both hosts at once: one probe in the fleet, the
#     other host's job waits for it (sav_fleet_joins_total 1, its verdict
#     a shared hit, as its log line's cache=shared), not a probe ended;
#   - a sender probed at host 1, then asked at host 2: a local miss and a
#     shared hit there;
#   - sav_shared_cache_up 1 while Redis answers, 0 at a host once it
#     found Redis gone (killed), while that host still decides alone.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/fleet-lib.sh"

command -v miltertest >/dev/null || lab_die "miltertest is not installed (make deps)"
command -v redis-server >/dev/null || lab_die "redis-server is not installed (make deps)"
command -v python3 >/dev/null || lab_die "python3 is not installed"
CHECK=$LAB_SRC/tests/tools/prom_check.py
lab_init statsfleet

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
lab_dns_mx new.test "10 mx.new.test."
lab_dns_a mx.new.test 127.0.0.2
lab_dns_mx solo.test "10 mx.solo.test."
lab_dns_a mx.solo.test 127.0.0.3
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"
# a slow answer, so that the two hosts' requests overlap
LAB_FAKE_NOWAIT=1 lab_fake_start mxnew 127.0.0.2:25 <<'X'
delay rcpt 1000
rcpt fresh@new.test 250 2.1.5 Ok
rcpt default 550 5.1.1 User unknown
X
LAB_FAKE_NOWAIT=1 lab_fake_start solo 127.0.0.3:25 <<'X'
rcpt default 550 5.1.1 User unknown
X
lab_fake_wait

flab_redis_start
for n in 1 2; do
	flab_host_conf "$n" "ProbeWait 4s" "ProbeTimeout 8s" "StatsFile $LAB_DIR/h$n/sav.prom" \
		"StatsInterval 1s"
	flab_host_start "$n"
done

# parse N - host N's file through the strict reader into $LAB_DIR/samples.N
parse()
{
	python3 "$CHECK" --sav "$LAB_DIR/h$1/sav.prom" >"$LAB_DIR/samples.$1" 2>"$LAB_DIR/prom_check.$1"
}

# val N NAME [LABELS] - a sample of host N's last parse, "absent" when missing
val()
{
	local want=$2
	[ -n "${3-}" ] && want="$2{$3}"
	awk -v w="$want" '{ v = $NF; sub(/ [^ ]*$/, "") } $0 == w { print v; found = 1 } END { if (!found) print "absent" }' \
		"$LAB_DIR/samples.$1"
}

# sum NAME [LABELS] - over both hosts
sum()
{
	echo $(( $(val 1 "$@") + $(val 2 "$@") ))
}

# fresh - wait until both hosts wrote their files after now (10 s at most)
fresh()
{
	local t _ n ok
	t=$(date +%s.%N)
	for _ in $(seq 100); do
		ok=0
		for n in 1 2; do
			parse "$n" && awk -v g="$(val "$n" sav_stats_generated_timestamp_seconds)" -v t="$t" \
				'BEGIN { exit !(g >= t) }' && ok=$((ok + 1))
		done
		[ $ok = 2 ] && return 0
		sleep 0.1
	done
	return 1
}

# --- one new sender at both hosts at once ------------------------------------------
flab_mail 1 fresh@new.test >"$LAB_DIR/f1.out" &
p1=$!
flab_mail 2 fresh@new.test >"$LAB_DIR/f2.out" &
p2=$!
wait "$p1" "$p2"
# --- a sender probed at host 1, then asked at host 2 ---------------------------------
flab_mail 1 x@solo.test >/dev/null
flab_mail 2 x@solo.test >/dev/null
sleep 0.3
fresh || lab_diag "the files were not rewritten within 10 s"
lab_check "files: both pass the strict text-format reader" \
	"$(cat "$LAB_DIR/prom_check.1" "$LAB_DIR/prom_check.2")" ""
src="$(flab_field "$(flab_decision 1 fresh@new.test)" cache) $(flab_field "$(flab_decision 2 fresh@new.test)" cache)"
lab_check "fleet: one probe of fresh@new.test in the fleet, one host waited for it (cache=shared)" \
	"$(lab_fake_conns mxnew)" 1 "$src" "~^(miss shared|shared miss)$"
lab_check "fleet: sav_fleet_joins_total 1 in all, 2 probes ended in all (valid 1, invalid 1), none in flight" \
	"$(sum sav_fleet_joins_total)" 1 "$(sum sav_probes_total 'verdict="valid"')" 1 \
	"$(sum sav_probes_total 'verdict="invalid"')" 1 "$(sum sav_probes_in_flight)" 0 \
	"$(sum sav_probes_started_total)" 3
lab_check "shared cache: hits 2 (the wait and host 2's lookup), misses 2; local misses 4" \
	"$(sum sav_cache_lookups_total 'cache="shared",result="hit"')" 2 \
	"$(sum sav_cache_lookups_total 'cache="shared",result="miss"')" 2 \
	"$(val 2 sav_cache_lookups_total 'cache="shared",result="hit"')" ">=1" \
	"$(sum sav_cache_lookups_total 'cache="local",result="miss"')" 4 \
	"$(sum sav_cache_lookups_total 'cache="local",result="hit"')" 0
lab_check "decisions: valid 2, invalid 2 in all; Redis up at both hosts" \
	"$(sum sav_decisions_total 'action="accept",verdict="valid"')" 2 \
	"$(sum sav_decisions_total 'action="reject",verdict="invalid"')" 2 \
	"$(val 1 sav_shared_cache_up)" 1 "$(val 2 sav_shared_cache_up)" 1

# --- Redis gone -----------------------------------------------------------------------
flab_redis_stop
got=$(flab_mail 1 y@solo.test)
fresh || lab_diag "the files were not rewritten within 10 s"
lab_check "Redis killed: host 1 still decides alone (rejects), and its file says the shared cache is down" \
	"$got" "~ (replycode|reject) " "$(val 1 sav_shared_cache_up)" 0 \
	"$(val 1 sav_decisions_total 'action="reject",verdict="invalid"')" 2 \
	"$(cat "$LAB_DIR/prom_check.1")" ""

lab_summary
