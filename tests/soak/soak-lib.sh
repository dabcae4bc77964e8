# SPDX-License-Identifier: BSD-2-Clause
# soak-lib.sh - the soak test's world, sender pools, milter life cycle
# and samplers (bash). Sourced by tests/soak/soak.sh after
# tests/lab/lib.sh and tests/lab/milter-lib.sh; not a test itself.
#
# The world, inside the caller's loopback-only namespace:
#   DNS (ldns-testns on :53)
#     example.test        MX -> 127.0.0.2, a real Postfix (lab_postfix_mx)
#                         whose mailboxes are the valid and greylisted pools;
#                         the greylisted ones get 450 4.7.1 at RCPT
#                         (check_recipient_access); anybody else 550 5.1.1
#     slow.test           MX -> 127.0.0.5, fake_smtpd answering each RCPT
#                         after SOAK_SLOW_MS: 250 for the slow-valid pool,
#                         550 5.1.1 for anybody else
#     catchallN.test      MX -> 127.0.0.3, fake_smtpd accepting every RCPT
#     silentN.test        MX -> 127.0.0.6, fake_smtpd that accepts and never
#                         greets
#     any other name      MX NXDOMAIN, A NXDOMAIN, AAAA NODATA: the dead
#                         domains deadN.test need no entry of their own
#   With SOAK_SPF set (always or spf-not-pass: the milter's ProbeWhen),
#   every domain also publishes what a real one would, and a ninth class
#   sends from a domain whose SPF names our client:
#     spf.test            MX -> the Postfix MX (its mailboxes are the
#                         spf-valid pool); SPF "include:_spf.spf.test -all",
#                         _spf.spf.test "ip4:127.0.0.8/30 -all": pass
#     example.test        "v=spf1 mx -all": fail (the client is not its MX)
#     catchallN.test      "ip4:198.51.100.0/24 ~all": softfail
#     silentN.test        "?all": neutral
#     slow.test, deadN    no SPF record (NODATA, NXDOMAIN): none
#
# The pools ($LAB_DIR/pools.txt, one "CLASS APPEAR-S ADDRESS" a line)
# are written before the world is built and the world is built from
# them: the Postfix MX's mailbox and access tables, the slow server's
# keyed rules and the DNS entries all come from the pool file, which is
# also the truth table the checker (check.awk) reads. A sender enters
# the load at APPEAR-S seconds into the run, so new senders keep
# appearing and are probed while older ones are answered from the cache.
#
# Functions are prefixed soak_; globals SOAK_*.

SOAK_SLOW_MS=${SOAK_SLOW_MS:-4000}
SOAK_SAV_CACHE=${SOAK_SAV_CACHE:-$LAB_BUILD/sav-cache}
SOAK_SMTP_LOAD=${SOAK_SMTP_LOAD:-$LAB_BUILD/tests/smtp_load}

# soak_now - seconds since the epoch with microseconds (no fork).
soak_now()
{
	echo "$EPOCHREALTIME"
}

# soak_elapsed - whole seconds since SOAK_T0 (no fork).
soak_elapsed()
{
	local n=${EPOCHREALTIME%.*} z=${SOAK_T0%.*}
	echo $((n - z))
}

# soak_pools FILE SECONDS - write the sender pools for a run of SECONDS.
# Per class: how many senders are there at the start, how many more
# appear per minute. The slow-valid pool is at most 60 (the slow
# server's keyed rules: fake_smtpd takes 64).
soak_pools()
{
	local f=$1 secs=$2
	awk -v secs="$secs" -v spf="${SOAK_SPF-}" '
	function pool(class, n0, perm, total,   i, t) {
		for (i = 1; i <= total; i++) {
			t = i <= n0 ? 0 : int((i - n0) * 60 / perm)
			if (t > secs)
				break
			print class, t, addr(class, i)
		}
	}
	function addr(class, i) {
		if (class == "valid")		return "v" i "@example.test"
		if (class == "invalid")		return "x" i "@example.test"
		if (class == "grey")		return "g" i "@example.test"
		if (class == "slow-valid")	return "sv" i "@slow.test"
		if (class == "slow-invalid")	return "sx" i "@slow.test"
		if (class == "catch-all")	return "c" i "@catchall" (i % 4 + 1) ".test"
		# ten silent senders per domain, a new domain a minute
		if (class == "silent")		return "s" i "@silent" (int((i - 1) / 10) + 1) ".test"
		# ten dead senders per domain
		if (class == "dead")		return "d" i "@dead" (int((i - 1) / 10) + 1) ".test"
		if (class == "spf-valid")	return "p" i "@spf.test"
	}
	BEGIN {
		big = 1000000
		pool("valid", 200, 60, big)
		pool("invalid", 200, 60, big)
		pool("grey", 40, 10, big)
		# the slow-valid pool grows to 60 over the run
		pool("slow-valid", 10, (secs > 60 ? 50 * 60 / secs : 50), 60)
		pool("slow-invalid", 20, 10, big)
		pool("catch-all", 100, 30, big)
		pool("silent", 10, 10, big)
		pool("dead", 100, 30, big)
		if (spf != "")
			pool("spf-valid", 200, 60, big)
	}' >"$f"
}

# soak_pool_addrs CLASS - the addresses of one class (pool file order).
soak_pool_addrs()
{
	awk -v c="$1" '$1 == c { print $3 }' "$SOAK_POOLS"
}

# soak_world - DNS, the Postfix MX and the fake servers, built from
# $SOAK_POOLS.
soak_world()
{
	local d f u n dom
	LAB_DNS_DATA=$LAB_DIR/dns.data
	: >"$LAB_DNS_DATA"
	lab_dns_mx example.test "10 mx.example.test."
	lab_dns_a mx.example.test 127.0.0.2
	lab_dns_mx slow.test "10 mx.slow.test."
	lab_dns_a mx.slow.test 127.0.0.5
	lab_dns_a mx.catchall.test 127.0.0.3
	lab_dns_a mx.silent.test 127.0.0.6
	for dom in $(awk '$1 == "catch-all" || $1 == "silent" { sub(/.*@/, "", $3); print $1, $3 }' "$SOAK_POOLS" |
		sort -u | awk '{ print $2 }'); do
		case $dom in
		catchall*) lab_dns_mx "$dom" "10 mx.catchall.test." ;;
		silent*) lab_dns_mx "$dom" "10 mx.silent.test." ;;
		esac
	done
	[ -z "${SOAK_SPF-}" ] || soak_spf_dns
	lab_dns_fallback
	{
		echo "ENTRY_BEGIN"
		echo "MATCH opcode qtype"
		echo "ADJUST copy_id copy_query"
		echo "REPLY QR AA RD RA NXDOMAIN"
		echo "SECTION QUESTION"
		echo "fallback.test. IN MX"
		echo "SECTION AUTHORITY"
		echo "test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300"
		echo "ENTRY_END"
	} >>"$LAB_DNS_DATA"
	lab_dns_start "$LAB_DNS_DATA"

	# the Postfix MX: the valid and greylisted pools are its mailboxes
	lab_postfix_mx mx 127.0.0.2 example.test alice
	d=$(lab_postfix_dir mx)
	soak_pool_addrs valid | awk '{ print $1, "ok" }' >>"$d/conf/vmailbox"
	soak_pool_addrs grey | awk '{ print $1, "ok" }' >>"$d/conf/vmailbox"
	soak_pool_addrs grey | awk '{ print $1, "450 4.7.1 Greylisted, please try again later" }' \
		>>"$d/conf/rcpt_access"
	if [ -n "${SOAK_SPF-}" ]; then
		soak_pool_addrs spf-valid | awk '{ print $1, "ok" }' >>"$d/conf/vmailbox"
		postconf -c "$d/conf" -e "virtual_mailbox_domains = example.test spf.test"
	fi
	lab_postfix_start mx

	# -T 0: no lifetime cap (the default 1800 s is a soak's length);
	# -c 200: never refuse a probe for being one too many
	f=$LAB_DIR/slow.script
	{
		printf 'delay rcpt %s\n' "$SOAK_SLOW_MS"
		printf 'rcpt default 550 5.1.1 User unknown\n'
		soak_pool_addrs slow-valid | awk '{ print "rcpt", $1, "250 2.1.5 Ok" }'
	} >"$f"
	n=$(grep -c '^rcpt ' "$f")
	[ "$n" -le 64 ] || lab_die "slow server: $n keyed rules, fake_smtpd takes 64"
	for u in catchall:127.0.0.3 slow:127.0.0.5 silent:127.0.0.6; do
		n=${u%%:*}
		case $n in
		catchall) printf 'rcpt * 250 2.1.5 Ok\n' >"$LAB_DIR/$n.script" ;;
		silent) printf 'banner none\n' >"$LAB_DIR/$n.script" ;;
		esac
		lab_spawn "fake-$n" "$LAB_FAKE_SMTPD" -l "${u#*:}:25" -s "$LAB_DIR/$n.script" \
			-t "$LAB_DIR/$n.transcript" -r "$LAB_DIR/$n.ready" -T 0 -c 200
	done
	for n in catchall slow silent; do
		lab_wait_file "$LAB_DIR/$n.ready" . || lab_die "fake_smtpd ($n) did not start"
	done
}

# soak_spf_dns - the SPF records of the SOAK_SPF world (see the top),
# and NXDOMAIN for any other TXT query (a dead domain's): every SPF
# question gets an answer, so no SPF step waits for a time-out.
soak_spf_dns()
{
	local dom
	lab_dns_mx spf.test "10 mx.example.test."
	lab_dns_rrset TXT spf.test '"v=spf1 include:_spf.spf.test -all"'
	lab_dns_rrset TXT _spf.spf.test '"v=spf1 ip4:127.0.0.8/30 -all"'
	lab_dns_rrset TXT example.test '"v=spf1 mx -all"'
	lab_dns_rcode slow.test TXT NODATA
	for dom in $(awk '$1 == "catch-all" || $1 == "silent" { sub(/.*@/, "", $3); print $3 }' "$SOAK_POOLS" |
		sort -u); do
		case $dom in
		catchall*) lab_dns_rrset TXT "$dom" '"v=spf1 ip4:198.51.100.0/24 ~all"' ;;
		silent*) lab_dns_rrset TXT "$dom" '"v=spf1 ?all"' ;;
		esac
	done
	{
		echo "ENTRY_BEGIN"
		echo "MATCH opcode qtype"
		echo "ADJUST copy_id copy_query"
		echo "REPLY QR AA RD RA NXDOMAIN"
		echo "SECTION QUESTION"
		echo "fallback.test. IN TXT"
		echo "SECTION AUTHORITY"
		echo "test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300"
		echo "ENTRY_END"
	} >>"$LAB_DNS_DATA"
}

# ---------------------------------------------------------------------
# sav-milter's life cycle: every start appends to $LAB_DIR/milter.log,
# so the one file holds every lifetime (check.awk splits it at the
# "starting:" lines).

# soak_forget PID - drop PID from lab_cleanup's list (a dead process's
# number may be reused by the time the lab cleans up).
soak_forget()
{
	local p rest=""
	for p in $LAB_PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	LAB_PIDS=$rest
}

# soak_log_size - bytes in milter.log now.
soak_log_size()
{
	stat -c %s "$LAB_DIR/milter.log" 2>/dev/null || echo 0
}

# soak_log_since OFFSET - milter.log from byte OFFSET on.
soak_log_since()
{
	tail -c +$(($1 + 1)) "$LAB_DIR/milter.log"
}

# soak_milter_start - start sav-milter -f -c $SOAK_CONF and wait (10 s)
# until it has logged "starting:" and its socket is there. Sets
# SOAK_PID, SOAK_START (epoch, when "starting:" was seen) and
# SOAK_START_OFF (log offset before the start). Returns 1 when it did
# not start.
soak_milter_start()
{
	local _
	SOAK_START_OFF=$(soak_log_size)
	setsid "$MLAB_MILTER" -f -c "$SOAK_CONF" >>"$LAB_DIR/milter.log" 2>&1 </dev/null &
	SOAK_PID=$!
	LAB_PIDS="$LAB_PIDS $SOAK_PID"
	for _ in $(seq 200); do
		if soak_log_since "$SOAK_START_OFF" | grep -q 'starting:' && [ -S "$SOAK_SOCK" ]; then
			SOAK_START=$(soak_now)
			return 0
		fi
		kill -0 "$SOAK_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# soak_cache_warnings OFFSET - the lines since OFFSET in which the milter
# says its cache was unusable, moved aside, read-only or off.
soak_cache_warnings()
{
	soak_log_since "$1" | grep -E 'cache .*(unusable|moved aside|read-only|cache off|not cached)'
}

# soak_stats - `sav-cache stats` of the cache file: prints the records
# line; returns non-zero when the command failed or a record is damaged.
soak_stats()
{
	local out rc
	out=$("$SOAK_SAV_CACHE" -f "$SOAK_CACHE" stats 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed -n 's/^records: *//p'
	[ $rc -eq 0 ] || return 1
	printf '%s\n' "$out" | grep -q '^records:.* 0 damaged)' || return 1
	return 0
}

# ---------------------------------------------------------------------
# Samplers

# soak_sample KIND - one line into $SOAK_SAMPLES:
#   ELAPSED KIND PID UPTIME VmRSS RssAnon RssFile FDS THREADS
# (kB; UPTIME in whole seconds since the process was seen started;
# KIND tick, mid, end or final). Reads /proc without forking.
soak_sample()
{
	local kind=$1 pid=$SOAK_PID k v rest rss=0 anon=0 file=0 thr=0 fds up
	[ -r "/proc/$pid/status" ] || return 0
	while read -r k v rest; do
		case $k in
		VmRSS:) rss=$v ;;
		RssAnon:) anon=$v ;;
		RssFile:) file=$v ;;
		Threads:) thr=$v ;;
		esac
	done <"/proc/$pid/status"
	fds=(/proc/"$pid"/fd/*)
	up=$(( ${EPOCHREALTIME%.*} - ${SOAK_START%.*} ))
	echo "$(soak_elapsed) $kind $pid $up $rss $anon $file ${#fds[@]} $thr" >>"$SOAK_SAMPLES"
}
