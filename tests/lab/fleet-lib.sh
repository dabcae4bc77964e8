# SPDX-License-Identifier: BSD-2-Clause
# fleet-lib.sh - several sav-milter hosts sharing one Redis, for
# fleet-lab.sh and tests/bench/bench-fleet.sh (bash; sourced after
# lib.sh, inside the caller's loopback-only namespace; not a test itself).
#
#   flab_redis_start [EXTRA-ARG...]   redis-server on 127.0.0.1:$FLAB_REDIS_PORT,
#                                     nothing persisted, with the ACL user
#                                     "sav" of the README (FLAB_ACL: every
#                                     command the hosts need, keys under
#                                     sav: only); FLAB_REDIS_PID
#   flab_redis_stop                   SIGKILL it (as a crash would)
#   flab_host_conf N [LINE...]        $LAB_DIR/hN/sav-milter.conf: its own
#                                     socket, LMDB file and pid file,
#                                     SharedCache at the lab's Redis as
#                                     the ACL user sav (password file)
#   flab_host_start N / _kill N       start sav-milter -f (log $LAB_DIR/hN.log;
#                                     FLAB_PID_N), SIGKILL it
#   flab_mail N SENDER                one MAIL FROM at host N through
#                                     miltertest (tests/milter/fleet.lua),
#                                     from FLAB_CLIENT_IP; prints
#                                     "reply SENDER WHAT MS"
#   flab_decision N SENDER [K]        host N's K-th last decision line for SENDER
#   flab_field LINE KEY               KEY's value in a decision line
#   flab_max_open TRANSCRIPT          most connections open at once at a
#                                     fake_smtpd, from its CONNECT/CLOSE lines
#   flab_max_ms ERE                   the longest decision (ms= of the
#                                     decision lines, the milter's own
#                                     time) of the senders matching ERE
#
# Functions are prefixed flab_; globals FLAB_*.

FLAB_MILTER=${FLAB_MILTER:-$LAB_BUILD/sav-milter}
FLAB_REDIS_PORT=${FLAB_REDIS_PORT:-6379}
FLAB_CLIENT_IP=${FLAB_CLIENT_IP:-127.0.0.9}
FLAB_LUA=${FLAB_LUA:-$LAB_SRC/tests/milter/fleet.lua}
FLAB_PASS=lab-sav-pw
# the README's ACL line: the verdicts' commands, then the fleet lock's and limits'
FLAB_ACL=${FLAB_ACL:-"user sav on >$FLAB_PASS resetkeys ~sav:* resetchannels -@all +getrange +set +del +unlink +scan +pttl +info +ping +select +eval +get +time +zremrangebyscore +zscore +zcard +zadd +zrevrange +pexpire +incr +zrem"}

flab_redis_start()
{
	command -v redis-server >/dev/null || lab_die "redis-server is not installed (make deps)"
	mkdir -p "$LAB_DIR/redis"
	{
		echo "bind 127.0.0.1"
		echo "port $FLAB_REDIS_PORT"
		echo 'save ""'
		echo "appendonly no"
		echo "dir $LAB_DIR/redis"
		echo "daemonize no"
		echo "maxmemory 64mb"
		echo "maxmemory-policy volatile-ttl"
		echo "$FLAB_ACL"
	} >"$LAB_DIR/redis/redis.conf"
	lab_spawn redis redis-server "$LAB_DIR/redis/redis.conf" "$@"
	FLAB_REDIS_PID=$LAB_LASTPID
	lab_wait_listen tcp 127.0.0.1 "$FLAB_REDIS_PORT" ||
		{ cat "$LAB_DIR/redis.log" >&2; lab_die "redis-server did not start"; }
}

flab_redis_stop()
{
	[ -n "${FLAB_REDIS_PID-}" ] || return 0
	kill -CONT "$FLAB_REDIS_PID" 2>/dev/null
	kill -KILL "$FLAB_REDIS_PID" 2>/dev/null
	wait "$FLAB_REDIS_PID" 2>/dev/null
	FLAB_REDIS_PID=""
}

# flab_redis_cli ARG... - redis-cli against the lab's Redis
flab_redis_cli()
{
	redis-cli -h 127.0.0.1 -p "$FLAB_REDIS_PORT" "$@"
}

flab_host_conf()
{
	local n=$1 d=$LAB_DIR/h$1 l
	shift
	mkdir -p "$d"
	printf '%s\n' "$FLAB_PASS" >"$d/redis.pass"
	chmod 600 "$d/redis.pass"
	{
		echo "Socket unix:$d/sav.sock"
		echo "PidFile $d/sav.pid"
		echo "CacheFile $d/cache.mdb"
		echo "Resolver 127.0.0.1"
		echo "DNSTimeout 2s"
		echo "AllowPrivateTargets yes"
		echo "HeloName probe$n.lab.test"
		echo "TrustedNetworks 127.0.0.1/32"
		echo "CatchAllCheck no"
		echo "SharedCache redis://127.0.0.1:$FLAB_REDIS_PORT"
		echo "SharedCacheUser sav"
		echo "SharedCachePasswordFile $d/redis.pass"
		for l in "$@"; do
			echo "$l"
		done
	} >"$d/sav-milter.conf"
}

flab_host_start()
{
	local n=$1 d=$LAB_DIR/h$1 pid
	[ -x "$FLAB_MILTER" ] || lab_die "no $FLAB_MILTER (make all)"
	rm -f "$d/sav.sock"
	lab_spawn "h$n" "$FLAB_MILTER" -f -c "$d/sav-milter.conf"
	pid=$LAB_LASTPID
	eval "FLAB_PID_$n=$pid"
	for _ in $(seq 50); do
		grep -q 'starting:' "$LAB_DIR/h$n.log" 2>/dev/null && [ -S "$d/sav.sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$LAB_DIR/h$n.log" >&2
	lab_die "sav-milter h$n did not start"
}

flab_host_kill()
{
	local pid
	eval "pid=\${FLAB_PID_$1-}"
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	eval "FLAB_PID_$1="
}

# flab_mail N SENDER - "reply SENDER WHAT MS" (WHAT "error" when miltertest failed)
flab_mail()
{
	local n=$1 s=$2 t0 out
	t0=$(lab_now_ms)
	out=$(miltertest -s "$FLAB_LUA" -D sock="unix:$LAB_DIR/h$n/sav.sock" -D from="$s" \
		-D ip="$FLAB_CLIENT_IP" 2>&1 | grep '^reply ' | head -1)
	[ -n "$out" ] || out="reply $s error"
	echo "$out $(( $(lab_now_ms) - t0 ))"
}

flab_decision()
{
	grep -F "sender=<$2> " "$LAB_DIR/h$1.log" | tail -n "${3:-1}" | head -1
}

flab_field()
{
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

# flab_wait_decision N SENDER [TENTHS] - wait (default 10 s) for host N's decision on SENDER
flab_wait_decision()
{
	local _
	for _ in $(seq "${3:-100}"); do
		[ -n "$(flab_decision "$1" "$2")" ] && return 0
		sleep 0.1
	done
	return 1
}

flab_max_open()
{
	awk '$2 == "CONNECT" { if (++open > max) max = open }
	     $2 == "CLOSE" { open-- }
	     END { print max + 0 }' "$1"
}

flab_max_ms()
{
	cat "$LAB_DIR"/h[0-9]*.log 2>/dev/null | grep -E "sender=<($1)> " |
		sed -n 's/.* ms=\([0-9]*\).*/\1/p' | sort -n | tail -1
}
