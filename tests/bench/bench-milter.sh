#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench-milter.sh - what sav-milter costs behind a real Postfix front MTA
# (`make bench-milter`; a benchmark, not a test: it prints figures and
# ratios measured in one run, it asserts nothing about speed).
#
# Three set-ups, each its own front Postfix instance (smtpd max_use
# and max_idle raised so the smtpd processes live through the run):
#   none   no milter
#   noop   tests/tools/noop_milter (every callback, each "continue",
#          nothing negotiated away: the baseline filter)
#   sav    sav-milter, every sender already in its cache
# Both milters on the same kind of socket: first inet (127.0.0.1, the
# case where a delay on Postfix's side showed), then unix (change with
# BENCH_SOCKETS="inet unix"). The load is tests/tools/smtp_load from
# 127.0.0.1, one message per connection, in four rows: 1 and 10
# sessions, with one sender and with 2,000 distinct senders over 10
# domains (taken from a rotating offset so the rounds use different
# ones).
#
# The senders are real mailboxes of a Postfix MX (one instance listening
# on 127.0.1.1-10, one address per domain, a virtual mailbox list, so
# the random-local-part catch-all check gets 550 5.1.1 and the verdict
# is "valid"). The cache is filled before the milter starts, with
# sav-probe -c CONF (the milter's own configuration and cache file).
# TrustedNetworks is emptied, because the load comes from 127.0.0.1 and
# would otherwise be skipped as trusted. Before measuring, a sample of
# senders goes through the sav set-up and each must be logged
# verdict=valid cache=hit; during the measurements the DNS server must
# see no query and every decision line must say cache=hit (reported at
# the end).
#
# Round-robin: each round runs every row on every set-up, the set-ups
# in a rotating order, so the machine's noise hits them alike. Per row
# and set-up: the median msg/s over the rounds, and CPU per message:
# utime+stime (from /proc/PID/stat, 10 ms ticks) of the milter process
# and of the instance's smtpd processes summed, over all rounds,
# divided by the messages. Ratios sav / noop (the goal is >= 0.95) and
# noop / none: taken in each round, where the set-ups of a row ran back
# to back, then the median over the rounds (for sav / noop with its
# range), which shrugs off load that comes and goes between rounds.
#
# BENCH_ROUNDS (default 5) rounds; BENCH_MSGS (default 150) messages
# per measurement (1-session rows; 10-session rows send 3 times as
# many); BENCH_SOCKETS (default "inet unix"); BENCH_RAW=FILE copies
# the raw lines, one per measurement, to FILE. LAB_KEEP=1 keeps the
# temp dir. Exit status: 0 when it measured, 1 when the set-up failed
# (nothing listens, the cache is not hit, ...).

. "$(dirname "$0")/../lab/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/../lab/milter-lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
MSGS=${BENCH_MSGS:-150}
SOCKETS=${BENCH_SOCKETS:-inet unix}
NSENDERS=2000
NDOMAINS=10
LOAD=$LAB_BUILD/tests/smtp_load
NOOP=$LAB_BUILD/tests/noop_milter
SETUPS="none noop sav"
ROWS="1:one 1:many 10:one 10:many"
declare -A PORT=([none]=2525 [noop]=2526 [sav]=2527)
TICK_US=$((1000000 / $(getconf CLK_TCK)))

for f in "$LOAD" "$NOOP" "$MLAB_MILTER" "$LAB_BUILD/sav-probe"; do
	[ -x "$f" ] || lab_die "no $f (make all)"
done
case $ROUNDS in ''|*[!0-9]*|0) lab_die "BENCH_ROUNDS: want a number >= 1" ;; esac
case $MSGS in ''|*[!0-9]*|0) lab_die "BENCH_MSGS: want a number >= 1" ;; esac

T0=$(date +%s)
# say TEXT - a progress line with the seconds since the start
say()
{
	printf 'bench: [%3d s] %s\n' $(( $(date +%s) - T0 )) "$*"
}
lab_init bench
RES=$LAB_DIR/results.txt
: >"$RES"

# --- the world: DNS, the MX, the senders ----------------------------------------

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
for d in $(seq 0 $((NDOMAINS - 1))); do
	lab_dns_mx "d$d.bench.test" "10 mx.d$d.bench.test."
	lab_dns_a "mx.d$d.bench.test" "127.0.1.$((d + 1))"
done
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

SENDERS=$LAB_DIR/senders.txt
awk -v n=$NSENDERS -v d=$NDOMAINS 'BEGIN { for (i = 0; i < n; i++) printf "s%04d@d%d.bench.test\n", i, i % d }' >"$SENDERS"
ONE=$(head -1 "$SENDERS")

lab_postfix_mx mx 127.0.1.1 d0.bench.test alice
MXD=$(lab_postfix_dir mx)
sed 's/$/ ok/' "$SENDERS" >"$MXD/conf/vmailbox"
domains=$(seq 0 $((NDOMAINS - 1)) | sed 's/.*/d&.bench.test/' | paste -sd, -)
# in_flow_delay: the MX receives MAIL FROMs and never a message, so no
# delivery ever gives back the flow-control tokens that MAIL takes, and
# past about 100 probes every MAIL would wait 1 s
lab_postfix_set mx "virtual_mailbox_domains = $domains" "in_flow_delay = 0"
for d in $(seq 2 $NDOMAINS); do
	printf '127.0.1.%d:25 inet  n       -       n       -       -       smtpd\n' "$d" >>"$MXD/conf/master.cf"
done
lab_postfix_start mx
say "DNS and the MX (127.0.1.1-$NDOMAINS) are up, $NSENDERS mailboxes"

# --- the milters' configuration and a warm cache -----------------------------------

CONF=$LAB_DIR/sav-milter.conf
NOOP_SOCK=$LAB_DIR/noop.sock

# sav_conf SOCKETSPEC - write $CONF for this socket
sav_conf()
{
	MLAB_SOCKET=$1 mlab_milter_conf "$CONF" "ClientProbeRate 0" "MXRate 1000" "MaxProbes 100"
	# the load comes from 127.0.0.1: trust no network, so every sender
	# goes through the cache
	sed -i 's/^TrustedNetworks .*/TrustedNetworks/' "$CONF"
}

sav_conf "unix:$LAB_DIR/milter/sav.sock"
t=$(lab_now_ms)
"$LAB_BUILD/sav-probe" -c "$CONF" -j 16 -f "$SENDERS" >"$LAB_DIR/warm.out" 2>"$LAB_DIR/warm.err"
nvalid=$(grep -c ': valid ' "$LAB_DIR/warm.out")
say "cache filled by sav-probe in $(( ($(lab_now_ms) - t) / 1000 )) s: $nvalid of $NSENDERS senders valid"
if [ "$nvalid" -ne $NSENDERS ]; then
	grep -v ': valid ' "$LAB_DIR/warm.out" | head -5 >&2
	head -5 "$LAB_DIR/warm.err" >&2
	lab_die "the cache warm-up did not find every sender valid"
fi

# --- front MTAs --------------------------------------------------------------------

for s in $SETUPS; do
	lab_postfix_front "$s" "127.0.0.1:${PORT[$s]}" ""
	# smtpd processes live through the run (their CPU times stay readable);
	# no in_flow_delay, so that a delivery backlog never pauses a set-up
	lab_postfix_set "$s" "smtpd_milters =" "max_use = 1000000" "max_idle = 3600s" "in_flow_delay = 0"
done
FRONTS_UP=""

# milter_spec SETUP KIND - the MTA's name for the milter's socket
milter_spec()
{
	case $1:$2 in
	none:*)		echo "" ;;
	noop:inet)	echo "inet:127.0.0.1:10027" ;;
	sav:inet)	echo "inet:127.0.0.1:10026" ;;
	noop:unix)	echo "unix:$NOOP_SOCK" ;;
	sav:unix)	echo "unix:$LAB_DIR/milter/sav.sock" ;;
	esac
}

# start_milters KIND - noop_milter and sav-milter on KIND sockets
start_milters()
{
	local kind=$1
	if [ "$kind" = inet ]; then
		sav_conf "inet:10026@127.0.0.1"
		lab_spawn noop "$NOOP" -p "inet:10027@127.0.0.1"
	else
		sav_conf "unix:$LAB_DIR/milter/sav.sock"
		rm -f "$NOOP_SOCK"
		lab_spawn noop "$NOOP" -p "unix:$NOOP_SOCK"
	fi
	NOOP_PID=$LAB_LASTPID
	lab_wait_file "$LAB_DIR/noop.log" 'listening on' || { cat "$LAB_DIR/noop.log" >&2; lab_die "noop_milter did not start"; }
	mlab_milter_start "$CONF"
	[ "$(cat "/proc/$MLAB_MILTER_PID/comm" 2>/dev/null)" = sav-milter ] ||
		lab_die "pid $MLAB_MILTER_PID is not sav-milter"
	[ "$(cat "/proc/$NOOP_PID/comm" 2>/dev/null)" = noop_milter ] ||
		lab_die "pid $NOOP_PID is not noop_milter"
}

stop_milters()
{
	mlab_milter_stop
	lab_kill "$NOOP_PID"
}

# fronts_to KIND - point the noop and sav fronts at KIND sockets; start or reload
fronts_to()
{
	local s d
	for s in $SETUPS; do
		lab_postfix_set "$s" "smtpd_milters = $(milter_spec "$s" "$1")"
		if [ -z "$FRONTS_UP" ]; then
			lab_postfix_start "$s"
		else
			d=$(lab_postfix_dir "$s")
			postfix -c "$d/conf" reload >/dev/null 2>&1 || lab_die "postfix $s: reload failed"
		fi
	done
	FRONTS_UP=yes
	# reloaded smtpd processes finish their (idle) sessions and go
	sleep 1
}

# --- measuring ---------------------------------------------------------------------

# ticks PID - utime+stime of the process (all its threads, dead ones too)
ticks()
{
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# smtpd_snap SETUP - "PID TICKS" of each smtpd process of the instance
smtpd_snap()
{
	local d master p
	d=$(lab_postfix_dir "$1")
	master=$(tr -d ' ' <"$d/spool/pid/master.pid" 2>/dev/null)
	[ -n "$master" ] || return 0
	for p in $(pgrep -P "$master" -x smtpd); do
		echo "$p $(ticks "$p")"
	done
}

# snap_delta BEFORE AFTER - ticks used between two snapshots; a process
# that went away in between is counted on stderr (its ticks are lost)
snap_delta()
{
	awk 'NR == FNR { b[$1] = $2; next } { t += $2 - ($1 in b ? b[$1] : 0); seen[$1] = 1 }
		END { for (p in b) if (!(p in seen)) gone++
			if (gone) printf "bench: %d smtpd process(es) exited during a measurement\n", gone > "/dev/stderr"
			print t + 0 }' "$1" "$2"
}

# drain SETUP - wait (at most 30 s) until the instance's queue is empty,
# so that one measurement's deliveries do not run into the next one
drain()
{
	local d
	d=$(lab_postfix_dir "$1")
	for _ in $(seq 600); do
		[ -z "$(find "$d/spool/incoming" "$d/spool/active" "$d/spool/maildrop" -type f 2>/dev/null | head -1)" ] && return 0
		sleep 0.05
	done
	echo "bench: postfix $1: queue not empty after 30 s" >&2
}

# milter_pid SETUP - the milter process of a set-up (none: empty)
milter_pid()
{
	case $1 in
	noop) echo "$NOOP_PID" ;;
	sav) echo "$MLAB_MILTER_PID" ;;
	esac
}

# run_load SETUP SESSIONS SENDERS-MODE MSGS OFFSET [OUTFILE] - one smtp_load run; prints its summary line
run_load()
{
	local setup=$1 sess=$2 mode=$3 n=$4 off=$5 out=${6:-/dev/null} src
	if [ "$mode" = one ]; then
		src=(-F "$ONE")
	else
		{ tail -n +$((off + 1)) "$SENDERS"; head -n "$off" "$SENDERS"; } >"$LAB_DIR/rot.txt"
		src=(-f "$LAB_DIR/rot.txt")
	fi
	"$LOAD" -s "$sess" -n "$n" -m 1 "${src[@]}" -T 60 -o "$out" "127.0.0.1:${PORT[$setup]}"
}

# measure KIND ROUND SETUP SESSIONS MODE - one measurement, one line to $RES:
# KIND SETUP SESSIONS MODE ROUND MSGS SECS RATE MILTER_TICKS SMTPD_TICKS OK HITS DECISIONS ERRORS
# (OK: every transaction got 250; HITS, DECISIONS: cache=hit and all
# decision lines the sav-milter logged meanwhile; 0 for the others)
measure()
{
	local kind=$1 round=$2 setup=$3 sess=$4 mode=$5 n off mpid m0 m1 sb sa line secs rate ok
	local l0 h0 hits=0 dec=0 ok250 errs
	n=$MSGS
	[ "$sess" -gt 1 ] && n=$((MSGS * 3))
	off=$(( ((round - 1) * n + (sess - 1) * 7) % NSENDERS ))
	mpid=$(milter_pid "$setup")
	sb=$LAB_DIR/snap.before
	sa=$LAB_DIR/snap.after
	if [ "$setup" = sav ]; then
		l0=$(grep -c ' sender=<' "$LAB_DIR/milter.log")
		h0=$(grep -c ' cache=hit' "$LAB_DIR/milter.log")
	fi
	smtpd_snap "$setup" >"$sb"
	m0=0
	[ -n "$mpid" ] && m0=$(ticks "$mpid")
	line=$(run_load "$setup" "$sess" "$mode" "$n" "$off")
	m1=0
	[ -n "$mpid" ] && m1=$(ticks "$mpid")
	smtpd_snap "$setup" >"$sa"
	drain "$setup"
	secs=$(printf '%s\n' "$line" | sed -n 's/.* in \([0-9.]*\) s:.*/\1/p')
	rate=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9.]*\) msg\/s.*/\1/p')
	ok250=$(printf '%s\n' "$line" | sed -n 's/.* 250=\([0-9]*\),.*/\1/p')
	errs=$(printf '%s\n' "$line" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
	ok=yes
	[ "$ok250" = "$n" ] || { ok=no; echo "bench: $kind $setup $sess session(s) $mode: $line" >&2; }
	if [ "$setup" = sav ]; then
		# the last decision lines may still be on their way to the log
		mlab_wait_count "$LAB_DIR/milter.log" ' sender=<' $((l0 + n)) 20
		dec=$(( $(grep -c ' sender=<' "$LAB_DIR/milter.log") - l0 ))
		hits=$(( $(grep -c ' cache=hit' "$LAB_DIR/milter.log") - h0 ))
	fi
	echo "$kind $setup $sess $mode $round $n ${secs:-0} ${rate:-0} $((m1 - m0)) $(snap_delta "$sb" "$sa") $ok $hits $dec ${errs:-0}" >>"$RES"
	printf '  %-4s %-4s %2s session(s) %-4s round %d: %s\n' "$kind" "$setup" "$sess" "$mode" "$round" "$line"
}

# check_cache - a sample of senders through the sav set-up: each one
# logged verdict=valid cache=hit
check_cache()
{
	local s line bad=0 n=0
	awk 'NR % 100 == 1' "$SENDERS" >"$LAB_DIR/sample.txt"
	"$LOAD" -s 1 -n "$(wc -l <"$LAB_DIR/sample.txt")" -f "$LAB_DIR/sample.txt" -T 60 \
		"127.0.0.1:${PORT[sav]}" >/dev/null || lab_die "smtp_load could not reach the sav front"
	while read -r s; do
		n=$((n + 1))
		line=$(mlab_decision "$s")
		if [ "$(mlab_field "$line" verdict)" != valid ] || [ "$(mlab_field "$line" cache)" != hit ]; then
			echo "bench: not a cache hit: <$s>: ${line:-no decision line}" >&2
			bad=$((bad + 1))
		fi
	done <"$LAB_DIR/sample.txt"
	[ "$bad" -eq 0 ] || lab_die "$bad of $n sampled senders were not answered verdict=valid cache=hit"
	say "$n sampled senders answered verdict=valid cache=hit, e.g. $(mlab_decision "$ONE" | sed 's/^.*sav-milter[^ ]* //; s/ ip=.* cache=/ ... cache=/')"
}

# --- the run -----------------------------------------------------------------------

say "Postfix $(postconf -d -h mail_version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "$ROUNDS rounds, $MSGS messages per 1-session measurement, $((MSGS * 3)) per 10-session one, one message per connection"
for kind in $SOCKETS; do
	case $kind in inet|unix) ;; *) lab_die "BENCH_SOCKETS: inet or unix, not $kind" ;; esac
	start_milters "$kind"
	fronts_to "$kind"
	say "milters on $kind sockets: noop $(milter_spec noop "$kind"), sav $(milter_spec sav "$kind")"
	say "front MTAs up"
	check_cache
	# warm-up: the smtpd processes of each instance exist before measuring
	for s in $SETUPS; do
		run_load "$s" 10 many 40 0 >/dev/null
		drain "$s"
	done
	lab_dns_mark
	say "measuring ($kind)"
	for round in $(seq "$ROUNDS"); do
		for row in $ROWS; do
			sess=${row%:*}
			mode=${row#*:}
			# rotate the set-ups' order from round to round
			# shellcheck disable=SC2086
			set -- $SETUPS
			for _ in $(seq $(( (round - 1) % 3 ))); do
				set -- "$@" "$1"
				shift
			done
			for s in "$@"; do
				measure "$kind" "$round" "$s" "$sess" "$mode"
			done
		done
	done
	echo "$kind dnsq $(lab_dns_total_since)" >>"$LAB_DIR/dns.txt"
	stop_milters
done

# --- the table ---------------------------------------------------------------------

echo
echo "msg/s: the median over $ROUNDS rounds. milter, smtpd: CPU in microseconds per message"
echo "(utime+stime of the milter process, and of the front Postfix's smtpd processes summed,"
echo "over all rounds; /proc counts in $((TICK_US / 1000)) ms ticks). Ratios: msg/s of one set-up over"
echo "another's in the same round (run back to back), the median over the rounds and for"
echo "sav / no-op their range. The goal for sav / no-op is >= 0.95. CPU sav / no-op: milter plus"
echo "smtpd CPU per message of the one over the other's (less sensitive to other load)."
awk -v tick="$TICK_US" -v rows="$ROWS" -v kinds="$SOCKETS" -v rounds="$ROUNDS" '
	# sorted - sort the numbers of a space-separated list into a[1..n]; n
	function sorted(list, a,   n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n
	}
	function median(list,   a, n) {
		n = sorted(list, a)
		if (n == 0) return 0
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function range(list,   a, n) {
		n = sorted(list, a)
		return n ? sprintf("%.2f-%.2f", a[1], a[n]) : "-"
	}
	{
		k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
		rate[k] = rate[k] " " $8; msgs[k] += $6; mt[k] += $9; st[k] += $10
		r1[k, $5] = $8
		if ($11 != "yes") bad[k] = 1
		if ($2 == "sav") { hits[$1] += $12; dec[$1] += $13 }
	}
	END {
		nk = split(kinds, K, " "); nr = split(rows, R, " ")
		for (x = 1; x <= nk; x++) {
			kind = K[x]
			printf "\n%s sockets\n", kind
			printf "%-25s | %-14s | %-21s | %-21s | %-17s %-9s %s\n", "", "no milter", "no-op milter", "sav-milter", "sav / no-op", "CPU sav", "no-op /"
			printf "%-25s | %6s %7s | %6s %6s %7s | %6s %6s %7s | %-17s %-9s %s\n", "row", "msg/s", "smtpd", "msg/s", "milter", "smtpd", "msg/s", "milter", "smtpd", "(range)", "/ no-op", "no milter"
			printf "%s\n", "--------------------------+----------------+-----------------------+-----------------------+--------------------------------------"
			for (y = 1; y <= nr; y++) {
				split(R[y], rr, ":")
				label = sprintf("%s session%s, %s", rr[1], rr[1] == 1 ? "" : "s", rr[2] == "one" ? "1 sender" : "2000 senders")
				line = sprintf("%-25s |", label)
				for (si = 1; si <= 3; si++) {
					s = si == 1 ? "none" : si == 2 ? "noop" : "sav"
					key[s] = kind SUBSEP s SUBSEP rr[1] SUBSEP rr[2]
					cpu_s = msgs[key[s]] ? st[key[s]] * tick / msgs[key[s]] : 0
					cpu_m = msgs[key[s]] ? mt[key[s]] * tick / msgs[key[s]] : 0
					cpu[s] = cpu_m + cpu_s
					if (s == "none")
						line = line sprintf(" %6.1f %7.0f |", median(rate[key[s]]), cpu_s)
					else
						line = line sprintf(" %6.1f %6.0f %7.0f |", median(rate[key[s]]), cpu_m, cpu_s)
					if (bad[key[s]]) flag = 1
				}
				# the ratios of each round (its set-ups ran back to back), then their median
				sn = nn = ""
				for (i = 1; i <= rounds; i++) {
					if (r1[key["noop"], i] > 0) sn = sn " " r1[key["sav"], i] / r1[key["noop"], i]
					if (r1[key["none"], i] > 0) nn = nn " " r1[key["noop"], i] / r1[key["none"], i]
				}
				line = line sprintf(" %-17s %-9s %s", sn == "" ? "-" : sprintf("%.2f (%s)", median(sn), range(sn)),
					cpu["noop"] > 0 ? sprintf("%.2f", cpu["sav"] / cpu["noop"]) : "-",
					nn == "" ? "-" : sprintf("%.2f", median(nn)))
				print line
			}
			printf "sav-milter decisions during the %s measurements: %d, of them cache=hit: %d\n", kind, dec[kind], hits[kind]
		}
		if (flag) print "\nSome transactions were not answered 250 (see the bench: lines above)."
	}' "$RES"
[ -n "${BENCH_RAW-}" ] && cp "$RES" "$BENCH_RAW"
while read -r kind _ q; do
	echo "DNS queries during the $kind measurements: $q (want 0: every answer came from the cache)"
done <"$LAB_DIR/dns.txt"
echo "bench: total time $(( $(date +%s) - T0 )) s, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
