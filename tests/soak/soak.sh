#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# soak.sh - `make soak`: a long run of sav-milter behind a real Postfix
# front MTA, under faults, with every decision checked against the
# truth. Not part of `make check` (it takes SOAK_S seconds, default
# 1800, plus about 40 s).
#
# The world (soak-lib.sh) lives in a loopback-only network namespace:
# ldns-testns for DNS, a real Postfix remote MX, fake_smtpd servers,
# sav-milter on a unix socket and the Postfix front that calls it.
# tests/tools/smtp_load drives SOAK_SESSIONS (20) SMTP sessions at once
# into the front from 127.0.0.9 (not a trusted network), in batches of
# about SOAK_BATCH_S (15) seconds, each a fresh mix of senders of known
# truth:
#   valid         a mailbox at the Postfix MX: accept
#   invalid       unknown at the Postfix MX: 550 5.1.7
#   grey          the Postfix MX says 450 4.7.1 greylisted: 450 4.1.7
#   slow-valid    a server that answers RCPT after 4 s (ProbeWait is 2 s):
#   slow-invalid  first 451 4.4.3 (budget), then the real verdict from the
#                 cache (accept, or 550 5.1.7)
#   silent        an MX that accepts and never greets: 451 4.4.3
#   dead          an NXDOMAIN domain: 550 5.1.8
#   catch-all     a server that accepts any RCPT: accept
# Each class has many senders; new ones appear during the run.
#
# Faults, one at a time from this script's own loop:
#   - SIGHUP to sav-milter every minute (each must log a reload);
#   - `sav-cache -f CACHE purge` every minute (must succeed);
#   - SOAK_KILLS (100, scaled to SOAK_S/1800 by default) `kill -9` of
#     sav-milter spread evenly over the run; after each one the stale
#     socket must still be there, the milter is restarted at once with
#     the same configuration after SOAK_RESTART_DELAY (0 s: while it is
#     down, smtp_load's sessions fail fast and reconnect, so every tenth
#     of a second down is some hundreds of default-action replies) and
#     must replace the socket, log no warning about its cache (a corrupt file
#     moved aside, read-only, off), and `sav-cache stats` must succeed
#     with no damaged record;
#   - every 10 s (and in the middle and at the end of each lifetime)
#     the milter's VmRSS, RssAnon, RssFile and open file descriptors are
#     sampled.
#
# At the end check.awk compares every decision line of the milter, every
# milter reply Postfix logged and every SMTP reply smtp_load saw with
# the truth (the rules are at the top of check.awk), and mem.awk judges
# whether memory and descriptors stayed flat after warm-up. The last
# line is "soak: PASS" or "soak: FAIL (why)"; the exit status is
# non-zero on FAIL.
#
# SOAK_SPF=always or SOAK_SPF=spf-not-pass (the milter's ProbeWhen)
# builds the world with SPF records and a ninth class, spf-valid (20%
# of the messages), whose domain's SPF names the client (soak-lib.sh);
# both settings see the same mix, so two runs give what spf-not-pass
# saves: the probes started (the StatsFile's sav_probes_started_total,
# summed over the milter's lifetimes), the SPF results by class (each
# checked against what its domain publishes) and the time of the SPF
# evaluations (spf_ms of the decision lines).
#
# Settings (environment): SOAK_S, SOAK_KILLS, SOAK_SESSIONS,
# SOAK_PER_CONN (messages per SMTP connection, 5), SOAK_BATCH_S,
# SOAK_RESTART_DELAY, SOAK_SLOW_MS (4000); LAB_KEEP=1 keeps the temp
# dir with every log. Logs grow with the run (about 450 bytes per
# message in the Postfix log, 170 per decision; some 1,000 messages a
# second here): a 30-minute run writes about 1.1 GB under /tmp, removed
# at the end, and takes about 40 s more than SOAK_S (set-up, judging,
# clean-up).

. "$(dirname "$0")/../lab/lib.sh"
# a set-up failure ends with the soak's own last line too
lab_die()
{
	printf 'soak: FAIL (%s)\n' "$*"
	exit 1
}
lab_isolate "$0" "$@"
. "$(dirname "$0")/../lab/milter-lib.sh"
. "$(dirname "$0")/soak-lib.sh"

SOAK_DIR=$(cd "$(dirname "$0")" && pwd)

num()
{
	case $2 in
	''|*[!0-9]*) lab_die "$1 must be a whole number, got '$2'" ;;
	esac
}

SOAK_S=${SOAK_S:-1800}
num SOAK_S "$SOAK_S"
[ "$SOAK_S" -ge 30 ] || lab_die "SOAK_S must be at least 30"
SOAK_KILLS=${SOAK_KILLS:-$(( (100 * SOAK_S + 900) / 1800 ))}
num SOAK_KILLS "$SOAK_KILLS"
SOAK_SESSIONS=${SOAK_SESSIONS:-20}
num SOAK_SESSIONS "$SOAK_SESSIONS"
SOAK_PER_CONN=${SOAK_PER_CONN:-5}
num SOAK_PER_CONN "$SOAK_PER_CONN"
SOAK_BATCH_S=${SOAK_BATCH_S:-15}
num SOAK_BATCH_S "$SOAK_BATCH_S"
SOAK_RESTART_DELAY=${SOAK_RESTART_DELAY:-0}
case $SOAK_RESTART_DELAY in
''|*[!0-9.]*|*.*.*) lab_die "SOAK_RESTART_DELAY must be seconds, got '$SOAK_RESTART_DELAY'" ;;
esac
SOAK_SPF=${SOAK_SPF-}
case $SOAK_SPF in
''|always|spf-not-pass) ;;
*) lab_die "SOAK_SPF must be always or spf-not-pass, got '$SOAK_SPF'" ;;
esac
SOAK_SAMPLE_S=10
SOAK_HUP_S=60
SOAK_PURGE_S=60
SOAK_SMTP_TIMEOUT=60

for f in "$MLAB_MILTER" "$SOAK_SAV_CACHE" "$SOAK_SMTP_LOAD" "$LAB_FAKE_SMTPD"; do
	[ -x "$f" ] || lab_die "no $f (make all)"
done
for c in ldns-testns postfix postconf setsid awk; do
	command -v "$c" >/dev/null 2>&1 || lab_die "no $c (make deps)"
done

lab_init soak
echo "soak: $SOAK_S s, $SOAK_SESSIONS sessions, $SOAK_PER_CONN messages a connection," \
	"$SOAK_KILLS kills, SIGHUP and purge every minute; temp dir $LAB_DIR"

SOAK_POOLS=$LAB_DIR/pools.txt
SOAK_CONF=$LAB_DIR/sav-milter.conf
SOAK_SOCK=$LAB_DIR/milter/sav.sock
SOAK_CACHE=$LAB_DIR/milter/cache.mdb
SOAK_SAMPLES=$LAB_DIR/samples.txt
SOAK_KILLS_LOG=$LAB_DIR/kills.txt
SOAK_RESULTS=$LAB_DIR/results.txt
SOAK_LOADLOG=$LAB_DIR/load.log
SOAK_STATSFILE=$LAB_DIR/stats/stats.prom
mkdir -p "$LAB_DIR/stats"
chown nobody "$LAB_DIR/stats"
: >"$SOAK_SAMPLES"
: >"$SOAK_KILLS_LOG"
: >"$SOAK_RESULTS"
: >"$SOAK_LOADLOG"

soak_pools "$SOAK_POOLS" "$SOAK_S"
soak_world

# one client sends everything: no per-client limit (ClientProbeRate 0);
# the per-domain and per-MX limits are raised so that the many new
# senders of the Postfix MX's one domain are probed rather than
# deferred by our own limits (those deferrals are allowed, only rarer);
# a silent MX's probe must end (GreetingTimeout) well within the time
# between two kills, or no silent domain would ever be known as
# unreachable and its probes would pile up from one lifetime to the next
# (the StatsFile, rewritten every second, gives the probes started)
SPF_CONF=()
[ -z "$SOAK_SPF" ] || SPF_CONF=("ProbeWhen $SOAK_SPF")
mlab_milter_conf "$SOAK_CONF" "ClientProbeRate 0" "DomainConcurrency 8" \
	"MXConcurrency 20" "MXRate 1000" "GreetingTimeout 5s" \
	"StatsFile $SOAK_STATSFILE" "StatsInterval 1s" "${SPF_CONF[@]}"
: >"$LAB_DIR/milter.log"
soak_milter_start || { cat "$LAB_DIR/milter.log" >&2; lab_die "sav-milter did not start"; }
lab_postfix_front front 127.0.0.1:2525 "unix:$SOAK_SOCK"
lab_postfix_start front
FRONTLOG=$(lab_postfix_log front)

# ---------------------------------------------------------------------
# The load: batches of smtp_load until SOAK_S, each a new sender mix.

soak_batch_senders()
{
	awk -v t="$1" -v n="$2" -v seed="$3" '
	$2 <= t { k[$1]++; a[$1, k[$1]] = $3 }
	END {
		# weights per class (per cent of the messages)
		w["valid"] = 30; w["invalid"] = 22; w["grey"] = 8
		w["slow-valid"] = 3; w["slow-invalid"] = 3; w["silent"] = 4
		w["dead"] = 12; w["catch-all"] = 18; w["spf-valid"] = 20
		tot = 0
		for (c in w)
			if (k[c] > 0) { nc++; cl[nc] = c; tot += w[c]; cum[nc] = tot }
		srand(seed)
		for (i = 0; i < n; i++) {
			r = rand() * tot
			for (j = 1; j < nc && r >= cum[j]; j++)
				;
			c = cl[j]
			print a[c, int(rand() * k[c]) + 1]
		}
	}' "$SOAK_POOLS"
}

soak_load()
{
	local b=0 rate=$((SOAK_SESSIONS * 20)) t left span n rc out r
	while :; do
		t=$(soak_elapsed)
		left=$((SOAK_S - t))
		[ "$left" -ge 2 ] || break
		span=$SOAK_BATCH_S
		[ "$left" -lt "$span" ] && span=$left
		# the rate of the last batch may have been raised by fast
		# default-action replies while the milter was down: aim short
		n=$((rate * span * 3 / 4))
		[ "$n" -ge $((SOAK_SESSIONS * SOAK_PER_CONN)) ] || n=$((SOAK_SESSIONS * SOAK_PER_CONN))
		soak_batch_senders "$t" "$n" "$((b + 1))" >"$LAB_DIR/batch.senders"
		"$SOAK_SMTP_LOAD" -s "$SOAK_SESSIONS" -n "$n" -m "$SOAK_PER_CONN" \
			-f "$LAB_DIR/batch.senders" -b "$MLAB_CLIENT_IP" -o "$LAB_DIR/batch.res" \
			-T "$SOAK_SMTP_TIMEOUT" 127.0.0.1:2525 >"$LAB_DIR/batch.out" 2>"$LAB_DIR/batch.err"
		rc=$?
		out=$(cat "$LAB_DIR/batch.out")
		echo "batch $b at $t s: rc $rc: $out" >>"$SOAK_LOADLOG"
		if [ "$rc" -ne 0 ]; then
			echo "batch $b: smtp_load failed: $(head -3 "$LAB_DIR/batch.err")" >>"$SOAK_LOADLOG"
			echo failed >"$LAB_DIR/load.failed"
			break
		fi
		cat "$LAB_DIR/batch.res" >>"$SOAK_RESULTS"
		r=$(printf '%s\n' "$out" | sed -n 's/.* s: \([0-9]*\)\.[0-9]* msg\/s.*/\1/p')
		[ -n "$r" ] && [ "$r" -gt 0 ] && rate=$r
		b=$((b + 1))
	done
}

# ---------------------------------------------------------------------
# The faults, in this shell: kill and restart, SIGHUP, purge, samples.

now_ms()
{
	local u=${EPOCHREALTIME/./}
	echo $(( (u - SOAK_T0_US) / 1000 ))
}

KILLS_DONE=0
KILL_FAIL=0
RESTARTS=0
HUPS=0
RELOADS=0
PURGES=0
PURGE_OK=0
PURGED=0
ABORT=""

# probes started in the lifetimes before this one (the StatsFile's
# counter starts again at each start), and the last reading of this one
PROBES_BEFORE=0
probes_now()
{
	local n
	n=$(sed -n 's/^sav_probes_started_total \([0-9]*\)$/\1/p' "$SOAK_STATSFILE" 2>/dev/null)
	echo "${n:-0}"
}

do_kill()
{
	local k=$1 ino0 ino1 tk stale=no warn stats sound=yes
	soak_sample end
	PROBES_BEFORE=$((PROBES_BEFORE + $(probes_now)))
	rm -f "$SOAK_STATSFILE"
	# inode and change time: a new file may get the old inode number
	ino0=$(stat -c %i/%z "$SOAK_SOCK" 2>/dev/null | tr ' ' _)
	tk=$(soak_now)
	{ kill -KILL "$SOAK_PID"; wait "$SOAK_PID"; } 2>/dev/null
	soak_forget "$SOAK_PID"
	[ -S "$SOAK_SOCK" ] && stale=yes
	KILLS_DONE=$((KILLS_DONE + 1))
	sleep "$SOAK_RESTART_DELAY"
	if ! soak_milter_start; then
		ABORT="sav-milter did not restart after kill $k"
		soak_log_since "$SOAK_START_OFF" | tail -5 | sed 's/^/# /'
		echo "$k $tk - $stale $ino0 - no start" >>"$SOAK_KILLS_LOG"
		return 1
	fi
	RESTARTS=$((RESTARTS + 1))
	ino1=$(stat -c %i/%z "$SOAK_SOCK" 2>/dev/null | tr ' ' _)
	warn=$(soak_cache_warnings "$SOAK_START_OFF")
	stats=$(soak_stats) || sound=no
	[ -z "$warn" ] || sound=no
	[ "$stale" = yes ] && [ -n "$ino1" ] && [ "$ino1" != "$ino0" ] || sound=no
	if [ "$sound" = no ]; then
		KILL_FAIL=$((KILL_FAIL + 1))
		echo "# kill $k: stale socket $stale (inode $ino0 -> $ino1); stats: $stats; ${warn:-no cache warning}"
	fi
	echo "$k $tk $SOAK_START $stale $ino0 $ino1 $sound $stats" >>"$SOAK_KILLS_LOG"
}

do_hup()
{
	local off _
	off=$(soak_log_size)
	kill -HUP "$SOAK_PID"
	HUPS=$((HUPS + 1))
	for _ in $(seq 100); do
		if soak_log_since "$off" | grep -q 'configuration reloaded'; then
			RELOADS=$((RELOADS + 1))
			return 0
		fi
		sleep 0.05
	done
	echo "# SIGHUP $HUPS: no reload logged within 5 s"
}

do_purge()
{
	local out rc n
	out=$("$SOAK_SAV_CACHE" -f "$SOAK_CACHE" purge 2>&1)
	rc=$?
	PURGES=$((PURGES + 1))
	n=$(printf '%s\n' "$out" | sed -n 's/^purged \([0-9]*\) .*/\1/p')
	if [ "$rc" -eq 0 ] && [ -n "$n" ]; then
		PURGE_OK=$((PURGE_OK + 1))
		PURGED=$((PURGED + n))
	else
		echo "# purge $PURGES: rc $rc: $out"
	fi
}

SOAK_T0=$EPOCHREALTIME
SOAK_T0_US=${SOAK_T0/./}
soak_load &
LOAD_PID=$!
LAB_PIDS="$LAB_PIDS $LOAD_PID"

S_MS=$((SOAK_S * 1000))
next_tick=0
next_hup=$((SOAK_HUP_S * 1000 / 2))
next_purge=$((SOAK_PURGE_S * 1000 * 3 / 4))
k=1
if [ "$SOAK_KILLS" -gt 0 ]; then
	KILL_EVERY=$((S_MS / SOAK_KILLS))
	next_kill=$((KILL_EVERY / 2))
else
	KILL_EVERY=0
	next_kill=-1
fi
next_mid=-1
while kill -0 "$LOAD_PID" 2>/dev/null; do
	ms=$(now_ms)
	if ! kill -0 "$SOAK_PID" 2>/dev/null; then
		ABORT="sav-milter exited on its own at $((ms / 1000)) s"
		soak_log_since "$SOAK_START_OFF" | grep -v ' sender=<' | tail -5 | sed 's/^/# /'
		break
	fi
	if [ "$next_kill" -ge 0 ] && [ "$ms" -ge "$next_kill" ]; then
		do_kill "$k" || break
		k=$((k + 1))
		if [ "$k" -le "$SOAK_KILLS" ]; then
			next_kill=$((KILL_EVERY * k - KILL_EVERY / 2))
			next_mid=$(( $(now_ms) + KILL_EVERY / 2 ))
			[ "$next_mid" -lt $((next_kill - 500)) ] || next_mid=-1
		else
			next_kill=-1
			next_mid=-1
		fi
		continue
	fi
	if [ "$next_mid" -ge 0 ] && [ "$ms" -ge "$next_mid" ]; then
		soak_sample mid
		next_mid=-1
	fi
	if [ "$ms" -ge "$next_tick" ]; then
		soak_sample tick
		next_tick=$((next_tick + SOAK_SAMPLE_S * 1000))
	fi
	if [ "$ms" -ge "$next_hup" ] && [ "$ms" -lt "$S_MS" ]; then
		do_hup
		next_hup=$((next_hup + SOAK_HUP_S * 1000))
	fi
	if [ "$ms" -ge "$next_purge" ] && [ "$ms" -lt "$S_MS" ]; then
		do_purge
		next_purge=$((next_purge + SOAK_PURGE_S * 1000))
	fi
	sleep 0.2
done
[ -n "$ABORT" ] && kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
soak_forget "$LOAD_PID"
LOAD_MS=$(now_ms)
soak_sample final
# one more StatsInterval: the last second's probes reach the file
sleep 1.2
PROBES=$((PROBES_BEFORE + $(probes_now)))
# Postfix's log daemon writes asynchronously: let it catch up
sleep 2
FINAL_STATS=$(soak_stats) || FINAL_STATS="FAILED: $FINAL_STATS"
CORRUPT=$(ls "$SOAK_CACHE".corrupt-* 2>/dev/null | wc -l)
grep 'batch' "$SOAK_LOADLOG" | sed 's/^/# /' | tail -3

# ---------------------------------------------------------------------
# The verdict

why=""
fail()
{
	why="$why${why:+; }$*"
}

[ -z "$ABORT" ] || fail "$ABORT"
[ ! -f "$LAB_DIR/load.failed" ] || fail "smtp_load failed (see load.log)"

CHECK=$(awk -v pools="$SOAK_POOLS" -v kills="$SOAK_KILLS_LOG" -v mlog="$LAB_DIR/milter.log" \
	-v flog="$FRONTLOG" -v res="$SOAK_RESULTS" -v year="$(date +%Y)" -v month="$(date +%m)" \
	-v sessions="$SOAK_SESSIONS" -v client="[$MLAB_CLIENT_IP]" -v load_s="$((LOAD_MS / 1000))" \
	-v spf="$SOAK_SPF" \
	-f "$SOAK_DIR/check.awk" "$SOAK_POOLS" "$SOAK_KILLS_LOG" "$LAB_DIR/milter.log" "$FRONTLOG" "$SOAK_RESULTS")
printf '%s\n' "$CHECK" | grep -v '^RESULT '
result=$(printf '%s\n' "$CHECK" | sed -n 's/^RESULT //p')
rget()
{
	printf '%s\n' "$result" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
[ -n "$result" ] || fail "the checker gave no result"
wrong=$(rget wrong)
incons=$(rget inconsistent)
decisions=$(rget decisions)
trans=$(rget transactions)
uncovered=$(rget uncovered)
[ "${wrong:-1}" -eq 0 ] || fail "$wrong wrong decisions"
[ "${incons:-1}" -eq 0 ] || fail "$incons inconsistencies between replies and decisions"
[ "${trans:-0}" -gt 0 ] || fail "no transaction"
[ "${uncovered:-1}" -eq 0 ] || fail "$uncovered scenarios not covered"

echo "soak: kills $KILLS_DONE of $SOAK_KILLS, restarts $RESTARTS, cache sound after kill" \
	"$(awk '$7 == "yes"' "$SOAK_KILLS_LOG" | wc -l) of $KILLS_DONE (stale socket replaced, no cache warning," \
	"sav-cache stats ok, 0 damaged); corrupt files moved aside: $CORRUPT"
echo "soak: SIGHUP $HUPS sent, $RELOADS reloads logged; purge $PURGE_OK of $PURGES ok, $PURGED records purged"
echo "soak: cache at the end: $FINAL_STATS"
echo "soak: probes started: $PROBES (StatsFile, over every lifetime; ProbeWhen ${SOAK_SPF:-always}," \
	"$(grep -c ' sender=<' "$LAB_DIR/milter.log") decision lines)"
[ "$KILLS_DONE" -eq "$SOAK_KILLS" ] || fail "$KILLS_DONE of $SOAK_KILLS kills done"
[ "$KILL_FAIL" -eq 0 ] || fail "$KILL_FAIL kills not followed by a sound restart"
[ "$CORRUPT" -eq 0 ] || fail "$CORRUPT cache files moved aside as corrupt"
[ "$RELOADS" -eq "$HUPS" ] || fail "$((HUPS - RELOADS)) SIGHUPs without a reload"
[ "$PURGE_OK" -eq "$PURGES" ] || fail "$((PURGES - PURGE_OK)) purges failed"
case $FINAL_STATS in FAILED*) fail "sav-cache stats failed at the end" ;; esac

MEM=$(awk -v soak_s="$((LOAD_MS / 1000))" -v kills="$SOAK_KILLS" -f "$SOAK_DIR/mem.awk" "$SOAK_SAMPLES")
printf '%s\n' "$MEM" | grep -v '^MEMRESULT '
memres=$(printf '%s\n' "$MEM" | sed -n 's/^MEMRESULT //p')
case $memres in
flat*) ;;
*) fail "memory or descriptors: $memres" ;;
esac

echo "soak: load ran $((LOAD_MS / 1000)) s (SOAK_S $SOAK_S), $decisions decisions:" \
	"$(awk -v d="${decisions:-0}" -v ms="$LOAD_MS" 'BEGIN { printf "%.1f", d * 1000 / ms }') decisions/s," \
	"$trans SMTP transactions; $SECONDS s in all so far"
if [ -z "$why" ]; then
	echo "soak: PASS"
	exit 0
fi
echo "soak: FAIL ($why)"
exit 1
