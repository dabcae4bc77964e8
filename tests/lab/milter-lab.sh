#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# milter-lab.sh - sav-milter at the milter protocol level, driven by
# miltertest (tests/milter/*.lua) inside a loopback-only namespace with
# the world of milter-lib.sh (fake DNS, a real Postfix MX, fake servers).
#
# Covers each exemption, each verdict's reply and decision line, sender
# forms, a second MAIL FROM and a MAIL after RSET on one connection, a
# malformed sender, SIGHUP reload (valid, broken, connections keep
# their snapshot), monitor mode's header, and the daemon's own duties:
# configuration errors (file:line: key, exit 78), socket mode and owner,
# privileges dropped, a stale socket removed, a live one refused, and
# SIGTERM within a second.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v miltertest >/dev/null || lab_die "miltertest is not installed (make deps)"
lab_init milter
mlab_world

CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "ProbeSender verify@probe.lab.test" "ExemptDomains exempt.test"

# --- the daemon: start-up checks -----------------------------------------

# a configuration error names file, line and key, and exits 78
printf 'Socket unix:%s\nProbeWait 2s\nProbeWiat 3s\n' "$SOCK" >"$LAB_DIR/bad.conf"
out=$("$MLAB_MILTER" -f -c "$LAB_DIR/bad.conf" 2>&1)
rc=$?
lab_check "configuration error: exit 78, names file:line: key" \
	"$rc" 78 "$out" "~$LAB_DIR/bad.conf:3: ProbeWiat: unknown key"
out=$("$MLAB_MILTER" -f -c "$LAB_DIR/missing.conf" 2>&1)
lab_check "missing configuration file: exit 78" "$?" 78 "$out" "~missing.conf"
out=$("$MLAB_MILTER" -f -c "$CONF" -p "bogus:1@x" 2>&1)
lab_check "bad -p socket: exit 78" "$?" 78 "$out" "~Socket"
out=$("$MLAB_MILTER" -x 2>&1)
lab_check "unknown option: usage, exit 64" "$?" 64 "$out" "~usage: sav-milter"

# a stale socket file is removed at start
mkdir -p "$LAB_DIR/milter"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK" 2>/dev/null ||
	perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0); bind($s, pack_sockaddr_un($ARGV[0]))' "$SOCK"
lab_is "$([ -S "$SOCK" ] && echo stale)" stale "a stale socket file exists before start"
mlab_milter_start "$CONF"

lab_is "$(stat -c '%a %U %G' "$SOCK")" "660 nobody postfix" "socket is 0660, owned by UserID and SocketGroup"
lab_is "$(ps -o user= -p "$MLAB_MILTER_PID")" nobody "privileges dropped to UserID"
lab_is "$(stat -c '%U' "$LAB_DIR/milter/cache.mdb" "$LAB_DIR/milter/cache.mdb-lock" | sort -u)" nobody \
	"cache file and its lock file belong to UserID"
lab_is "$(cat "$LAB_DIR/milter/sav.pid" 2>/dev/null)" "$MLAB_MILTER_PID" "PidFile holds the pid"

# a second instance on the same (live) socket refuses to start
out=$("$MLAB_MILTER" -f -c "$CONF" 2>&1)
lab_check "a live socket is not stolen by a second instance" "$?" 69 "$out" "~in use"
lab_is "$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive "the first instance still runs"

# --- protocol cases (miltertest) -----------------------------------------

lab_dns_mark
t0=$(lab_now_ms)
mtout=$(miltertest -s "$LAB_SRC/tests/milter/cases.lua" -D sock="unix:$SOCK" \
	-D log="$LAB_DIR/milter.log" -D conf="$CONF" -D pid="$MLAB_MILTER_PID" 2>&1)
mtrc=$?
lab_diag "miltertest took $(( $(lab_now_ms) - t0 )) ms (rc $mtrc)"
nmt=0
while IFS= read -r line; do
	case $line in
	"ok - "*)	lab_ok "${line#ok - }"; nmt=$((nmt + 1)) ;;
	"not ok - "*)	n=${line#not ok - }; lab_not_ok "${n%%: *}" "${n#*: }"; nmt=$((nmt + 1)) ;;
	*)		[ -n "$line" ] && lab_diag "miltertest: $line" ;;
	esac
done <<<"$mtout"
lab_ge "$nmt" 30 "miltertest reported every case"
lab_is "$mtrc" 0 "miltertest exit status"
lab_is "$(lab_dns_queries_since relay.test)$(lab_dns_queries_since r2.test)" 00 \
	"address: the source route's hosts are never looked up"
lab_is "$(lab_dns_queries_since nullmx.test A)$(lab_dns_queries_since nxdomain.test A)" 00 \
	"dns: no address lookups for NXDOMAIN and null MX domains"

# the milter's own probes keep their transcript: sav-cache why reads the
# session that refused nobody@example.test back from the milter's cache
W=$("$LAB_BUILD/sav-cache" -f "$LAB_DIR/milter/cache.mdb" why nobody@example.test 2>&1)
lab_check "sav-cache why after the milter's reject: the verdict and the session with its 550 and 221" \
	"$W" "~^nobody@example\.test: reject \(invalid, user-unknown\)" "$W" "~  the session:" \
	"$W" "~    > RCPT TO:<nobody@example\.test>" "$W" "~    < 550 5\.1\.1 " "$W" "~    < 221 "

# --- SIGTERM ---------------------------------------------------------------

t0=$(lab_now_ms)
kill -TERM "$MLAB_MILTER_PID"
for _ in $(seq 100); do
	kill -0 "$MLAB_MILTER_PID" 2>/dev/null || break
	sleep 0.01
done
wait "$MLAB_MILTER_PID" 2>/dev/null
rc=$?
ms=$(( $(lab_now_ms) - t0 ))
lab_check "SIGTERM stops the milter cleanly within a second" "$ms" "<=1000" "$rc" 0 \
	"$(grep -c '^sav-milter: stopped$' "$LAB_DIR/milter.log")" 1
lab_diag "SIGTERM to exit: $ms ms"
MLAB_MILTER_PID=""

# --- other socket forms, and running as a daemon ------------------------------

# inet6:port@[::1] with -p, in the background (no -f): detaches, writes
# the PidFile, stops on SIGTERM within a second (the wake-up goes over IPv6)
printf 'PidFile %s\nCacheFile\nLogSkipped no\n' "$LAB_DIR/d6.pid" >"$LAB_DIR/d6.conf"
"$MLAB_MILTER" -c "$LAB_DIR/d6.conf" -p 'inet6:10032@[::1]' >"$LAB_DIR/d6.out" 2>&1
rc=$?
lab_wait_file "$LAB_DIR/d6.pid" '^[0-9]+$' 50
d6pid=$(cat "$LAB_DIR/d6.pid" 2>/dev/null)
listening=""
for _ in $(seq 50); do
	ss -Hltn 2>/dev/null | awk '$4 == "[::1]:10032" { f = 1 } END { exit !f }' && { listening=yes; break; }
	sleep 0.1
done
lab_check "daemon mode: returns 0 at once, detached, listening on inet6:10032@[::1]" \
	"$rc" 0 "$listening" yes "$(ps -o ppid= -p "${d6pid:-0}" 2>/dev/null | tr -d ' ')" 1 \
	"$(cat "$LAB_DIR/d6.out")" ""
t0=$(lab_now_ms)
kill -TERM "${d6pid:-0}" 2>/dev/null
# not our child: it is gone once it is a zombie (or reaped)
alive6() { case $(ps -o stat= -p "${d6pid:-0}" 2>/dev/null) in ""|Z*) return 1 ;; esac; }
for _ in $(seq 200); do
	alive6 || break
	sleep 0.01
done
ms=$(( $(lab_now_ms) - t0 ))
lab_check "daemon mode: SIGTERM stops it within a second and removes the PidFile" \
	"$(alive6 && echo running || echo gone)" gone "$ms" "<=1000" \
	"$([ -e "$LAB_DIR/d6.pid" ] && echo present || echo removed)" removed

lab_summary
