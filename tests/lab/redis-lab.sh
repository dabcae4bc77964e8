#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# redis-lab.sh - the shared cache (SharedCache) with a real redis-server,
# inside a loopback-only namespace with the world of milter-lib.sh (fake
# DNS, a real Postfix MX for example.test that logs every connection).
#
# The fleet: hosts A and B are sav-probe -c with their own LMDB files,
# M is a sav-milter with its own LMDB file driven by miltertest
# (tests/milter/mailfrom.lua); all three share one redis-server on
# 127.0.0.1:6390 (and a unix socket), as the ACL user "sav" that may
# only touch keys under sav:, with its password in a file. Redis's own
# "admin" user plants garbage and reads what is stored.
#
# Scenarios: a sender probed by A is answered on B and on M from Redis
# with no connection to the MX ("cached":true, "cache_source":"shared",
# cache=shared); sav-cache del on A makes B probe again at once and M
# within 60 s (its local copy is checked against Redis at most a
# minute apart); garbage under the prefix is a miss and a probe, never a
# verdict, never a crash; the ACL confines the user; sav-cache stats
# shows the shared side; a refused AUTH leaves a host deciding alone with
# one warning; Redis paused (SIGSTOP), killed and restarted under M:
# every decision within ProbeWait + SharedCacheTimeout, no thread
# pile-up, one warning when sharing stops and one notice when it
# resumes; purge --all empties the prefix and nothing else.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

for c in redis-server redis-cli miltertest; do
	command -v "$c" >/dev/null || lab_die "$c is not installed (make deps)"
done
lab_init redis
mlab_world

PROBE=$LAB_BUILD/sav-probe
CACHE=$LAB_BUILD/sav-cache
RDIR=$LAB_DIR/redis
RPORT=6390
RSOCK=$RDIR/redis.sock
SAVPASS=sav-lab-$$-secret
mkdir -p "$RDIR"

# --- redis-server ------------------------------------------------------------

cat >"$RDIR/redis.conf" <<EOF
bind 127.0.0.1
port $RPORT
unixsocket $RSOCK
unixsocketperm 700
dir $RDIR
save ""
appendonly no
maxmemory 64mb
maxmemory-policy volatile-ttl
user default off
user admin on >admin-pw ~* &* +@all
user sav on >$SAVPASS resetkeys ~sav:* resetchannels -@all +getrange +set +del +unlink +scan +pttl +info +ping +select
EOF
redis_start()
{
	lab_spawn redis redis-server "$RDIR/redis.conf"
	REDIS_PID=$LAB_LASTPID
	lab_wait_listen tcp 127.0.0.1 $RPORT || { cat "$LAB_DIR/redis.log" >&2; lab_die "redis-server did not start"; }
}
radm()	# redis-cli as the admin user
{
	redis-cli -h 127.0.0.1 -p $RPORT --user admin --pass admin-pw --no-auth-warning "$@"
}
redis_start

umask 077
printf '%s\n' "$SAVPASS" >"$LAB_DIR/redis.pass"
printf 'not-the-password\n' >"$LAB_DIR/wrong.pass"
umask 022

# host_conf NAME [EXTRA...] - a sav-probe host's configuration
host_conf()
{
	local n=$1
	shift
	mkdir -p "$LAB_DIR/$n"
	{
		echo "CacheFile $LAB_DIR/$n/cache.mdb"
		echo "Resolver 127.0.0.1"
		echo "DNSTimeout 2s"
		echo "AllowPrivateTargets yes"
		echo "HeloName probe.lab.test"
		echo "ProbeWait 2s"
		echo "ProbeTimeout 20s"
		echo "SharedCacheUser sav"
		echo "SharedCachePasswordFile $LAB_DIR/redis.pass"
		for l in "$@"; do
			echo "$l"
		done
	} >"$LAB_DIR/$n.conf"
}
host_conf A "SharedCache redis://127.0.0.1:$RPORT"
host_conf B "SharedCache unix:$RSOCK"

MX=mx		# the Postfix MX of example.test
conns()
{
	lab_postfix_connects $MX
}
json()	# HOST ADDRESS... - sav-probe --json on HOST, with its exit status
{
	local h=$1
	shift
	"$PROBE" -c "$LAB_DIR/$h.conf" --json "$@" 2>>"$LAB_DIR/probe-$h.err"
}
field()	# JSON FIELD - one field of one line of sav-probe --json, as text
{
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[a-z0-9]*\).*/\1/p" | tr -d '"'
}

# --- M: sav-milter -------------------------------------------------------------

CONF=$LAB_DIR/sav-milter.conf
MLAB_SOCKET="inet:10031@127.0.0.1"
mlab_milter_conf "$CONF" "SharedCache redis://127.0.0.1:$RPORT" "SharedCacheUser sav" \
	"SharedCachePasswordFile $LAB_DIR/redis.pass" "SharedCacheTimeout 250ms"
mlab_milter_start "$CONF"
MLOG=$LAB_DIR/milter.log

mfrom()	# SENDER... - one milter session per sender; "reply SENDER R" lines
{
	local list="$*"
	miltertest -s "$LAB_SRC/tests/milter/mailfrom.lua" -D sock="inet:10031@127.0.0.1" \
		-D senders="$list" 2>&1
}
mline()	# SENDER - M's last decision line for SENDER
{
	grep -F "sender=<$1>" "$MLOG" | tail -1
}
mkey()	# SENDER KEY - one key=value of that line
{
	mline "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
warnings()
{
	grep -c 'shared cache: unavailable' "$MLOG"
}
notices()
{
	grep -c 'shared cache: available again' "$MLOG"
}

# --- shared verdicts -------------------------------------------------------------

c0=$(conns)
out=$(json A alice@example.test)
lab_check "share: host A probes a new sender (valid, not cached, one MX connection)" \
	"$(field "$out" verdict)" valid "$(field "$out" cached)" false "$(field "$out" cache_source)" null \
	"$(( $(conns) - c0 ))" 1
ttl=$(radm PTTL sav:v1:a:alice@example.test)
lab_check "share: A wrote the verdict to Redis under sav:v1:a: with a time to live (about 30 days)" \
	"$ttl" ">=2500000000" "$(radm GET sav:v1:a:alice@example.test)" "~^v1 A [0-9]+ [0-9]+ 0 valid "
lab_check "share: every key written has a time to live" \
	"$(for k in $(radm --scan --pattern 'sav:*'); do radm PTTL "$k"; done | grep -c -- '^-')" 0

c0=$(conns)
out=$(json B alice@example.test)
RC=$?
lab_check "share: host B answers it from Redis over the unix socket, no MX connection" \
	"$(field "$out" verdict)" valid "$(field "$out" cached)" true "$(field "$out" cache_source)" shared \
	"$(( $(conns) - c0 ))" 0 "$RC" 0
out=$("$CACHE" -c "$LAB_DIR/B.conf" get alice@example.test 2>&1)
lab_check "share: sav-cache get on B shows its local copy and the shared one" \
	"$out" "~verdict: +valid" "$out" "~shared: +valid \(user-ok\), expires in (29|30) days"
out=$(json B alice@example.test)
lab_check "share: B's next answer comes from its own cache (local)" \
	"$(field "$out" cached)" true "$(field "$out" cache_source)" local "$(( $(conns) - c0 ))" 0

c0=$(conns)
out=$(json A nobody@example.test)
out2=$(json B nobody@example.test)
lab_check "share: an invalid verdict too: A probes once, B answers from Redis" \
	"$(field "$out" verdict)" invalid "$(field "$out2" verdict)" invalid \
	"$(field "$out2" cache_source)" shared "$(field "$out2" code)" 550 "$(( $(conns) - c0 ))" 1

c0=$(conns)
json A bob@example.test >/dev/null
r=$(mfrom bob@example.test)
lab_check "share: M (sav-milter) answers a sender A probed from Redis: cache=shared, no MX connection" \
	"$r" "reply bob@example.test a" "$(mkey bob@example.test cache)" shared \
	"$(mkey bob@example.test verdict)" valid "$(( $(conns) - c0 ))" 1
r=$(mfrom bob@example.test)
lab_check "share: M's next answer is its own (cache=hit)" "$(mkey bob@example.test cache)" hit

# --- fleet-wide deletion -------------------------------------------------------------

out=$("$CACHE" -c "$LAB_DIR/A.conf" del bob@example.test 2>&1)
T0=$(lab_now_ms)
lab_check "del: sav-cache del on A deletes the local and the shared copy" "$?" 0 \
	"$out" "~shared cache: deleted 1 key" "$(radm EXISTS sav:v1:a:bob@example.test)" 0
"$CACHE" -c "$LAB_DIR/A.conf" del alice@example.test >/dev/null 2>&1
c0=$(conns)
out=$(json B alice@example.test)
lab_check "del: B, which held it locally, probes it again (its local copy is checked against Redis)" \
	"$(field "$out" verdict)" valid "$(field "$out" cached)" false "$(( $(conns) - c0 ))" 1
out=$("$CACHE" -c "$LAB_DIR/B.conf" del nosuch@example.test 2>&1)
lab_check "del: an address neither cache holds: exit 1, says so for both" "$?" 1 \
	"$out" "~shared cache: deleted 0 keys"

# --- untrusted store: garbage under the prefix ----------------------------------------

now=$(date +%s)
radm SET sav:v1:a:carol@example.test garbage PX 600000 >/dev/null
radm SET sav:v1:a:dave@example.test "v1 A 1 99999999999 0 valid user-ok 250 2.1.5 0 - - forged" PX 600000 >/dev/null
radm SET sav:v1:a:erin@example.test "$(printf 'v1 A %s %s 0 valid user-ok 250 2.1.5 0 - - ok\r\n' "$now" $((now + 600)))" PX 600000 >/dev/null
head -c 200000 /dev/zero | tr '\0' 'v' | radm -x SET sav:v1:a:fred@example.test >/dev/null
radm PEXPIRE sav:v1:a:fred@example.test 600000 >/dev/null
radm HSET sav:v1:a:gina@example.test verdict valid >/dev/null
radm PEXPIRE sav:v1:a:gina@example.test 600000 >/dev/null
radm SET sav:v1:d:example.test "v1 D 1 2 junk" PX 600000 >/dev/null
c0=$(conns)
out=$(json B carol@example.test dave@example.test erin@example.test fred@example.test gina@example.test)
RC=$?
lab_check "garbage: five bad values (text, absurd times, CR LF, 200 kB, a hash) are misses: each probed, each invalid" \
	"$(printf '%s\n' "$out" | grep -c '"verdict":"invalid".*"cached":false')" 5 \
	"$(( $(conns) - c0 ))" 5 "$RC" 1
lab_check "garbage: the probes' verdicts replaced the garbage in Redis" \
	"$(radm GET sav:v1:a:dave@example.test)" "~^v1 A [0-9]+ [0-9]+ 0 invalid user-unknown 550 " \
	"$(radm TYPE sav:v1:a:gina@example.test)" string
radm SET sav:v1:a:zed@example.test "v1 A 1 2 3" PX 600000 >/dev/null
out=$("$CACHE" -c "$LAB_DIR/B.conf" get zed@example.test 2>&1)
lab_check "garbage: sav-cache get calls it a damaged value" "$?" 1 "$out" "~shared: +damaged value"
radm SET sav:v1:a:hank@example.test "v1 A 1 99999999999 0 valid user-ok 250 2.1.5 0 - - forged" PX 600000 >/dev/null
r=$(mfrom hank@example.test)
lab_check "garbage: M probes too (cache=miss, rejects the unknown user) and keeps running" \
	"$r" "reply hank@example.test y" "$(mkey hank@example.test cache)" miss \
	"$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive

# --- the ACL, stats, AUTH, the password file ----------------------------------------

lab_check "acl: the sav user may not touch a key outside sav:" \
	"$(redis-cli -p $RPORT --user sav --pass "$SAVPASS" --no-auth-warning SET other:key 1 2>&1)" "~NOPERM" \
	"$(redis-cli -p $RPORT --user sav --pass "$SAVPASS" --no-auth-warning FLUSHALL 2>&1)" "~NOPERM"
out=$("$CACHE" -c "$LAB_DIR/A.conf" stats 2>&1)
lab_check "stats: sav-cache stats shows the shared side (keys by kind, memory, policy)" \
	"$out" "~shared cache \(sav:\):" "$out" "~addresses +[1-9]" "$out" "~policy volatile-ttl"
out=$("$CACHE" -c "$LAB_DIR/A.conf" stats --json 2>&1)
lab_check "stats: and in JSON" "$out" '~"shared":\{"reachable":true,"addresses":[1-9]'

host_conf C "SharedCache redis://127.0.0.1:$RPORT"
sed -i "s|redis.pass|wrong.pass|" "$LAB_DIR/C.conf"
c0=$(conns)
out=$("$PROBE" -c "$LAB_DIR/C.conf" -j 4 --json ivan@example.test judy@example.test \
	karl@example.test alice@example.test 2>"$LAB_DIR/C.err")
lab_check "auth: a refused AUTH: the host decides alone (4 probes, right verdicts), one warning" \
	"$(printf '%s\n' "$out" | grep -c '"verdict":"invalid"')" 3 \
	"$(printf '%s\n' "$out" | grep -c '"verdict":"valid"')" 1 "$(( $(conns) - c0 ))" 4 \
	"$(grep -c 'shared cache: unavailable (AUTH refused' "$LAB_DIR/C.err")" 1
lab_check "auth: the password never reaches a log" \
	"$(cat "$LAB_DIR"/*.err "$MLOG" | grep -c -e "$SAVPASS" -e not-the-password)" 0
chmod 644 "$LAB_DIR/wrong.pass"
out=$("$PROBE" -c "$LAB_DIR/C.conf" alice@example.test 2>&1)
lab_check "auth: a password file that others may read is refused (exit 78)" "$?" 78 "$out" "~readable by others"

# --- a slow Redis (rtt_relay between host and server) ------------------------------

RELAY=$LAB_BUILD/tests/rtt_relay
slow_relay()	# PORT ONE-WAY-MS - a relay to Redis that holds every byte that long each way
{
	lab_spawn "relay$1" "$RELAY" -l "127.0.0.1:$1" -u "127.0.0.1:$RPORT" -d "$2" \
		-t "$LAB_DIR/relay$1.tr" -r "$LAB_DIR/relay$1.ready" -T 300
	lab_wait_file "$LAB_DIR/relay$1.ready" . || lab_die "rtt_relay did not start"
}
slow_relay 6391 200
slow_relay 6392 20
host_conf S "SharedCache redis://127.0.0.1:6391"
host_conf T "SharedCache redis://127.0.0.1:6392"
json A mona@example.test >/dev/null
c0=$(conns)
out=$(json S mona@example.test)
lab_check "slow: Redis 400 ms away (over SharedCacheTimeout): the host probes alone, one warning, bounded" \
	"$(field "$out" verdict)" invalid "$(field "$out" cached)" false "$(( $(conns) - c0 ))" 1 \
	"$(grep -c 'shared cache: unavailable (AUTH: no answer within SharedCacheTimeout)' "$LAB_DIR/probe-S.err")" 1 \
	"$(field "$out" elapsed_ms)" "<=$((2000 + 250))"
c0=$(conns)
out=$(json T mona@example.test)
lab_check "slow: Redis 40 ms away (under SharedCacheTimeout): answered from it, no MX connection" \
	"$(field "$out" cache_source)" shared "$(( $(conns) - c0 ))" 0 "$(field "$out" elapsed_ms)" ">=40"
lab_diag "slow: shared answer over a 40 ms round trip took $(field "$out" elapsed_ms) ms"

# --- M sees the deletion within 60 s -----------------------------------------------

left=$(( 61000 - ($(lab_now_ms) - T0) ))
[ $left -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
c0=$(conns)
r=$(mfrom bob@example.test)
lab_check "del: 61 s after sav-cache del on A, M probes the sender again (cache=miss, one connection)" \
	"$(mkey bob@example.test cache)" miss "$(( $(conns) - c0 ))" 1 "$r" "reply bob@example.test a"

# --- faults under M ----------------------------------------------------------------

maxms()	# the largest ms= of M's decision lines after line $1
{
	tail -n +"$(( $1 + 1 ))" "$MLOG" | grep ' verdict=' | sed -n 's/.* ms=\([0-9]*\).*/\1/p' | sort -n | tail -1
}
threads()
{
	sed -n 's/^Threads:[ \t]*//p' "/proc/$MLAB_MILTER_PID/status"
}
BOUND=$((2000 + 250 + 250))	# ProbeWait + SharedCacheTimeout + slack
th0=$(threads)
w0=$(warnings) n0=$(notices)

kill -STOP "$REDIS_PID"
l0=$(wc -l <"$MLOG")
t0=$(lab_now_ms)
r=$(mfrom bob@example.test alice@example.test p1@example.test p2@example.test p3@example.test p4@example.test)
ms=$(( $(lab_now_ms) - t0 ))
lab_check "paused: with Redis stopped, M decides every sender (cached and new) within ProbeWait + SharedCacheTimeout" \
	"$(printf '%s\n' "$r" | grep -c '^reply ')" 6 "$(printf '%s\n' "$r" | grep -c ' y$')" 4 \
	"$(maxms "$l0")" "<=$BOUND"
lab_diag "paused: 6 sessions in $ms ms, slowest decision $(maxms "$l0") ms"
lab_is "$(( $(warnings) - w0 ))" 1 "paused: one warning, not one per message"
kill -CONT "$REDIS_PID"
sleep 1.1
mfrom q1@example.test >/dev/null
lab_is "$(( $(notices) - n0 ))" 1 "paused: one notice when sharing resumes"

{ kill -KILL "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null
l0=$(wc -l <"$MLOG")
r=$(mfrom bob@example.test q2@example.test q3@example.test q4@example.test)
lab_check "killed: with Redis gone (connection refused), M decides alone, quickly" \
	"$(printf '%s\n' "$r" | grep -c '^reply ')" 4 "$(maxms "$l0")" "<=$BOUND"
lab_is "$(( $(warnings) - w0 ))" 2 "killed: one more warning"
redis_start
sleep 1.1
l0=$(wc -l <"$MLOG")
mfrom q5@example.test >/dev/null
json A lisa@example.test >/dev/null
c0=$(conns)
r=$(mfrom lisa@example.test)
lab_check "restarted: sharing resumes by itself (one notice; a sender A probes is cache=shared on M)" \
	"$(( $(notices) - n0 ))" 2 "$(mkey lisa@example.test cache)" shared "$(( $(conns) - c0 ))" 0 \
	"$(( $(warnings) - w0 ))" 2
sleep 1
th1=$(threads)
lab_check "threads: no pile-up in M across the faults" "$th1" "<=$((th0 + 2))"
lab_diag "threads: $th0 before the faults, $th1 after"

# --- purge ---------------------------------------------------------------------

radm SET sav:v1:a:junk1@example.test garbage PX 600000 >/dev/null
radm SET sav:v1:a:junk2@example.test forever >/dev/null
radm HSET sav:v1:d:junk3.test a b >/dev/null
radm PEXPIRE sav:v1:d:junk3.test 600000 >/dev/null
out=$("$CACHE" -c "$LAB_DIR/A.conf" purge 2>&1)
lab_check "purge on A deletes the shared values no host would use (damaged, no lifetime, wrong type), not the good ones" \
	"$out" "~shared cache: deleted 3 keys" "$(radm EXISTS sav:v1:a:junk1@example.test sav:v1:a:junk2@example.test sav:v1:d:junk3.test)" 0 \
	"$(radm EXISTS sav:v1:a:lisa@example.test)" 1
json A nina@example.test omar@example.test >/dev/null
out=$("$CACHE" -c "$LAB_DIR/B.conf" del --domain example.test 2>&1)
lab_check "del --domain on B deletes the domain's shared addresses too (SCAN, UNLINK)" \
	"$out" "~shared cache: deleted [3-9] keys" "$(radm --scan --pattern 'sav:v1:a:*@example.test' | wc -l)" 0
radm SET other:key keep >/dev/null
out=$("$CACHE" -c "$LAB_DIR/A.conf" purge --all 2>&1)
lab_check "purge --all on A empties the prefix in Redis and leaves other keys alone" \
	"$out" "~shared cache: deleted [1-9][0-9]* key" "$(radm --scan --pattern 'sav:*' | wc -l)" 0 \
	"$(radm GET other:key)" keep

lab_summary
