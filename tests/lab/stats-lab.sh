#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# stats-lab.sh - StatsFile end to end: sav-milter behind a real Postfix
# front (milter-lib.sh's world: a real Postfix MX and fake servers),
# StatsInterval 1s, swaks sending messages whose outcomes are known; the
# file is read with tests/tools/prom_check.py, a strict reader of the
# Prometheus text format (any broken rule fails the test), and its
# figures are compared with what was done:
#   - decisions by verdict and action, both against the numbers this
#     script expects and against the milter's own decision lines;
#   - probes started and ended by verdict, in flight while a slow probe
#     runs and 0 once it ended, the latency histogram (the two probes of
#     the 4 s server above 4 s, every other probe under 1 s);
#   - local cache hits and misses, one single-flight join (two
#     transactions at once for one address), limit hits: the budget
#     (ProbeWait) three times, ClientProbeRate once;
#   - the file: mode 0644, owned by UserID, no PATH.tmp left behind,
#     rewritten every second, written once more at a clean stop; a
#     directory it cannot write for a while: one warning, the failures
#     counted, one notice when it works again;
#     refused in a directory others can write;
#   - after a restart with ProbeWhen spf-not-pass: the counters start
#     afresh, one SPF pass (skipped, no probe) and one SPF fail (probed);
#   - sav-cache stats prints the same figures.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v swaks >/dev/null || lab_die "swaks is not installed (make deps)"
command -v python3 >/dev/null || lab_die "python3 is not installed"
CHECK=$LAB_SRC/tests/tools/prom_check.py
lab_init stats

# ProbeWhen spf-not-pass in the second part: example.test names 127.0.0.14
mlab_dns_extra()
{
	lab_dns_rrset TXT example.test '"v=spf1 ip4:127.0.0.14 -all"'
}
mlab_world

SDIR=$LAB_DIR/stats
STATS=$SDIR/sav.prom
mkdir -p "$SDIR"
chown nobody "$SDIR"
chmod 755 "$SDIR"
CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "StatsFile $STATS" "StatsInterval 1s" "ClientProbeRate 3"
mlab_milter_start "$CONF"
lab_postfix_front front 127.0.0.1:2525 "unix:$SOCK"
lab_postfix_start front

# parse - the file through the strict reader into $LAB_DIR/samples (1: broken)
parse()
{
	python3 "$CHECK" --sav "$STATS" >"$LAB_DIR/samples" 2>"$LAB_DIR/prom_check.err"
}

# val NAME [LABELS] - one sample's value from the last parse (labels as
# prom_check prints them: sorted by name); "absent" when missing
val()
{
	local want=$1
	[ -n "${2-}" ] && want="$1{$2}"
	awk -v w="$want" '{ v = $NF; sub(/ [^ ]*$/, "") } $0 == w { print v; found = 1 } END { if (!found) print "absent" }' \
		"$LAB_DIR/samples"
}

# decision VERDICT ACTION - sav_decisions_total of that pair
decision()
{
	val sav_decisions_total "action=\"$2\",verdict=\"$1\""
}

# send CLIENT SENDER - one transaction from CLIENT (an address on lo)
send()
{
	MLAB_CLIENT_IP=$1 mlab_swaks "$2"
}

# wait_generated T - wait (10 s) until the file was written at or after T (seconds)
wait_generated()
{
	local t=$1 _ g
	for _ in $(seq 100); do
		if parse; then
			g=$(val sav_stats_generated_timestamp_seconds)
			[ "$g" != absent ] && awk -v g="$g" -v t="$t" 'BEGIN { exit !(g >= t) }' && return 0
		fi
		sleep 0.1
	done
	return 1
}

# --- the file is there from the start --------------------------------------------
lab_wait_file "$STATS" . 50 || lab_diag "no $STATS after 5 s"
parse
lab_check "file: written at start-up, passes the strict text-format reader, all zero" \
	"$(cat "$LAB_DIR/prom_check.err")" "" "$(val sav_probes_started_total)" 0 \
	"$(decision valid accept)" 0 "$(val sav_cache_lookups_total 'cache="local",result="hit"')" 0
lab_check "file: mode 0644, owned by the milter's user, no .tmp left" \
	"$(stat -c '%a %U' "$STATS")" "644 nobody" "$([ -e "$STATS.tmp" ] && echo left)" ""

# --- messages of known outcomes ----------------------------------------------------
# client .9: probes of the Postfix MX, then the same senders from the cache
send 127.0.0.9 alice@example.test >/dev/null
send 127.0.0.9 alice@example.test >/dev/null
send 127.0.0.9 nobody@example.test >/dev/null
send 127.0.0.9 nobody@example.test >/dev/null
send 127.0.0.9 grey@example.test >/dev/null
send 127.0.0.9 "<>" >/dev/null
# client .12: a domain that does not exist, a catch-all server
send 127.0.0.12 u@nxdomain.test >/dev/null
send 127.0.0.12 anyone@catchall.test >/dev/null
# client .13: a server slower than ProbeWait (budget); its probe goes on
got=$(send 127.0.0.13 late@slow.test)
lab_like "$got" '^451 4\.4\.3 ' "budget: the slow sender gets 451 4.4.3"
wait_generated "$(date +%s.%N)"
lab_check "in flight: the background probe of the slow server is counted while it runs" \
	"$(val sav_probes_in_flight)" 1 "$(val sav_limit_hits_total 'kind="budget"')" 1
lab_wait_file "$LAB_DIR/slow.transcript" '^1 CLOSE' 100 || lab_diag "the first slow probe never hung up"
# two transactions at once for one address: one probe, one join
send 127.0.0.13 late2@slow.test >"$LAB_DIR/late2a.out" &
p1=$!
send 127.0.0.13 late2@slow.test >"$LAB_DIR/late2b.out" &
p2=$!
wait "$p1" "$p2"
lab_wait_file "$LAB_DIR/slow.transcript" '^2 CLOSE' 100 || lab_diag "the second slow probe never hung up"
# client .11: ClientProbeRate 3; the 4th new sender is refused without a probe
for i in 1 2 3 4; do
	send 127.0.0.11 "r$i@example.test" >"$LAB_DIR/r$i.out"
done
lab_like "$(cat "$LAB_DIR/r4.out")" '^451 4\.7\.1 .*rate-limited' "client rate: the 4th new sender is refused"

# the last probe has ended: the next file has every figure
sleep 0.3
wait_generated "$(date +%s.%N)"
lab_is "$(cat "$LAB_DIR/prom_check.err")" "" "file: still passes the strict reader after traffic"
lab_check "decisions: by verdict and action, as sent" \
	"$(decision valid accept)" 2 "$(decision invalid reject)" 5 "$(decision tempfail tempfail)" 5 \
	"$(decision bad-domain reject)" 1 "$(decision catch-all accept)" 1 "$(decision skipped accept)" 1 \
	"$(decision unknown accept)" 0 "$(decision error tempfail)" 0
# and as the milter logged them, pair by pair (LogSkipped yes: every decision has its line)
bad=""
for v in valid invalid bad-domain bad-syntax catch-all unknown tempfail skipped error; do
	for a in accept tempfail reject; do
		n=$(grep -c " verdict=$v .*action=$a\\b" "$LAB_DIR/milter.log")
		[ "$n" = "$(decision "$v" "$a")" ] || bad="$bad $v/$a:log=$n,file=$(decision "$v" "$a")"
	done
done
lab_is "$bad" "" "decisions: every (verdict, action) count equals the milter's decision lines"
lab_check "probes: 10 started, none in flight, ended by verdict" \
	"$(val sav_probes_started_total)" 10 "$(val sav_probes_in_flight)" 0 \
	"$(val sav_probes_total 'verdict="valid"')" 1 "$(val sav_probes_total 'verdict="invalid"')" 6 \
	"$(val sav_probes_total 'verdict="tempfail"')" 1 "$(val sav_probes_total 'verdict="bad-domain"')" 1 \
	"$(val sav_probes_total 'verdict="catch-all"')" 1 "$(val sav_probes_total 'verdict="unknown"')" 0
lab_check "latency: 10 probes, the 8 fast ones under 1 s, the 2 of the 4 s server above 4 s" \
	"$(val sav_probe_duration_seconds_count)" 10 "$(val sav_probe_duration_seconds_bucket 'le="+Inf"')" 10 \
	"$(val sav_probe_duration_seconds_bucket 'le="1"')" 8 "$(val sav_probe_duration_seconds_bucket 'le="4"')" 8 \
	"$(val sav_probe_duration_seconds_bucket 'le="60"')" 10 \
	"$(awk -v s="$(val sav_probe_duration_seconds_sum)" 'BEGIN { print (s >= 8 && s < 40) ? "ok" : s }')" ok
lab_check "cache: 2 hits (the repeated senders), 12 misses" \
	"$(val sav_cache_lookups_total 'cache="local",result="hit"')" 2 \
	"$(val sav_cache_lookups_total 'cache="local",result="miss"')" 12
lab_check "single-flight: one join; limits: budget 3, ClientProbeRate 1, the others 0" \
	"$(val sav_singleflight_joins_total)" 1 "$(val sav_limit_hits_total 'kind="budget"')" 3 \
	"$(val sav_limit_hits_total 'kind="ClientProbeRate"')" 1 "$(val sav_limit_hits_total 'kind="MaxProbes"')" 0 \
	"$(val sav_limit_hits_total 'kind="DomainConcurrency"')" 0 "$(val sav_limit_hits_total 'kind="MXConcurrency"')" 0 \
	"$(val sav_limit_hits_total 'kind="MXRate"')" 0
lab_check "SPF: nothing counted with ProbeWhen always; no shared cache series" \
	"$(val sav_spf_results_total 'result="pass"')" 0 "$(val sav_spf_results_total 'result="none"')" 0 \
	"$(grep -c 'cache="shared"' "$LAB_DIR/samples")" 0

# --- sav-cache stats shows the same -------------------------------------------------
out=$("$LAB_BUILD/sav-cache" -c "$CONF" stats 2>&1)
printf '%s\n' "$out" >"$LAB_DIR/sav-cache-stats.out"
lab_check "sav-cache stats: the milter's figures from StatsFile next to the cache's" \
	"$out" "~records:" "$out" "~invalid +reject +5" "$out" "~probes: +10 started, 0 in flight" \
	"$out" "~joins: +1" "$out" "~ClientProbeRate +1" "$out" "~hits +2, misses +12"
json=$("$LAB_BUILD/sav-cache" -c "$CONF" stats --json 2>&1)
lab_is "$(printf '%s' "$json" | python3 -c 'import json, sys
d = json.load(sys.stdin)["milter"]["samples"]
print(d["sav_singleflight_joins_total"], d["sav_decisions_total{verdict=\"invalid\",action=\"reject\"}"],
      d["sav_limit_hits_total{kind=\"budget\"}"])' 2>&1)" "1 5 3" \
	"sav-cache stats --json: valid JSON, the milter's samples under \"milter\""

# --- rewritten every interval ---------------------------------------------------------
g1=$(val sav_stats_generated_timestamp_seconds)
sleep 2.2
parse
g2=$(val sav_stats_generated_timestamp_seconds)
lab_is "$(awk -v a="$g1" -v b="$g2" 'BEGIN { d = b - a; print (d >= 1.5 && d <= 3.5) ? "ok" : d }')" ok \
	"interval: StatsInterval 1s: the file was rewritten (generated $g1, then $g2)"

# --- a directory the milter cannot write for a while -----------------------------------
chmod 555 "$SDIR"
sleep 2.5
chmod 755 "$SDIR"
wait_generated "$(date +%s.%N)"
lab_check "write failures: one warning, counted in the file, and a notice once it is written again" \
	"$(grep -c 'StatsFile: .*trying again every interval' "$LAB_DIR/milter.log")" 1 \
	"$(val sav_stats_write_failures_total)" ">=2" \
	"$(grep -c 'StatsFile .* written again' "$LAB_DIR/milter.log")" 1

# --- the last write at a clean stop ------------------------------------------------------
send 127.0.0.9 alice@example.test >/dev/null
t=$(date +%s.%N)
mlab_milter_stop
parse
lab_check "stop: written once more at the clean stop, with the last decision" \
	"$(awk -v g="$(val sav_stats_generated_timestamp_seconds)" -v t="$t" 'BEGIN { print (g >= t) ? "ok" : g }')" ok \
	"$(decision valid accept)" 3 "$(grep -c 'stopped' "$LAB_DIR/milter.log")" ">=1"

# --- refused in a directory others can write ---------------------------------------------
mkdir -p "$LAB_DIR/open"
chmod 1777 "$LAB_DIR/open"
mv "$LAB_DIR/milter.log" "$LAB_DIR/milter.log.1"
mlab_milter_conf "$LAB_DIR/open.conf" "StatsFile $LAB_DIR/open/sav.prom"
timeout 10 "$MLAB_MILTER" -f -c "$LAB_DIR/open.conf" >"$LAB_DIR/open.log" 2>&1
rc=$?
lab_check "a StatsFile in a directory writable by others: the milter does not start (73), and says why" \
	"$rc" 73 "$(cat "$LAB_DIR/open.log")" "~writable by others" "$([ -e "$LAB_DIR/open/sav.prom" ] && echo written)" ""

# --- a restart with ProbeWhen spf-not-pass: fresh counters, SPF counted ------------------
mlab_milter_conf "$CONF" "StatsFile $STATS" "StatsInterval 1s" "ProbeWhen spf-not-pass"
mlab_milter_start "$CONF"
send 127.0.0.14 alice@example.test >/dev/null
send 127.0.0.15 bob@example.test >/dev/null
wait_generated "$(date +%s.%N)"
lab_check "SPF: after a restart the counters start afresh: one pass (skipped unprobed), one fail (probed, valid)" \
	"$(cat "$LAB_DIR/prom_check.err")" "" \
	"$(val sav_spf_results_total 'result="pass"')" 1 "$(val sav_spf_results_total 'result="fail"')" 1 \
	"$(decision skipped accept)" 1 "$(decision valid accept)" 1 "$(val sav_probes_started_total)" 1 \
	"$(val sav_probes_total 'verdict="valid"')" 1
lab_diag "the file as written: $(wc -l <"$STATS") lines, $(wc -c <"$STATS") bytes"

lab_summary
