#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# milterfd-lab.sh - sav-milter (the ASan build when build-san/sav-milter
# exists) with its descriptors exhausted: started under ulimit -n 64,
# then MILTERFD_N (120) milter sessions at once, each a MAIL FROM of a
# new sender at slow.test (its MX answers RCPT after 4 s, past
# ProbeWait), so probes, DNS sockets and milter connections all compete
# for 64 descriptors. Every session that gets an answer gets a tempfail
# or an accept, never a reject; sessions the milter cannot accept are
# refused or closed by the kernel (the MTA then applies its default
# action); the milter never dies, logs no sanitizer report, and once
# the load is gone answers a clean session again.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v python3 >/dev/null || lab_die "python3 is needed"
lab_init milterfd
mlab_world
REAL=$MLAB_MILTER
[ -x "$LAB_SRC/build-san/sav-milter" ] && REAL=$LAB_SRC/build-san/sav-milter
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
MLAB_MILTER=$LAB_DIR/milter-ulimit.sh
printf '#!/bin/sh\nulimit -n 64 || exit 71\nexec %s "$@"\n' "$REAL" >"$MLAB_MILTER"
chmod 755 "$MLAB_MILTER"
CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "MaxProbes 100" "DomainConcurrency 100" "ClientProbeRate 0"
mlab_milter_start "$CONF"
lab_diag "milter: $REAL under ulimit -n 64"
lab_is "$(awk '/Max open files/ {print $4}' "/proc/$MLAB_MILTER_PID/limits" 2>/dev/null)" 64 \
	"the milter runs with 64 descriptors"

n=${MILTERFD_N:-120}
out=$(python3 - "$SOCK" "$n" <<'PY'
import socket, struct, sys, threading, random
path, n = sys.argv[1], int(sys.argv[2])
def pkt(c, d=b''): return struct.pack('>I', len(d) + 1) + c + d
res = {}
def reply(s):
    h = b''
    while len(h) < 4:
        b = s.recv(4 - len(h))
        if not b: return None
        h += b
    ln = struct.unpack('>I', h)[0]
    body = b''
    while len(body) < ln:
        b = s.recv(ln - len(body))
        if not b: return None
        body += b
    return body
def one(i):
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(15); s.connect(path)
        s.sendall(pkt(b'O', struct.pack('>III', 6, 0x1ff, 0x1fffff)))
        if reply(s) is None: res[i] = 'dropped'; return
        s.sendall(pkt(b'C', b'c.test\x004' + struct.pack('>H', 1) + ('192.0.2.%d' % (i % 200 + 1)).encode() + b'\x00'))
        if reply(s) is None: res[i] = 'dropped'; return
        s.sendall(pkt(b'M', ('<u%d-%d@slow.test>' % (i, random.randrange(1 << 30))).encode() + b'\x00'))
        r = reply(s)
        if r is None: res[i] = 'dropped'
        elif r[:1] == b't' or (r[:1] == b'y' and r[1:2] == b'4'): res[i] = 'tempfail'
        elif r[:1] in (b'a', b'c'): res[i] = 'accept'
        elif r[:1] == b'r' or (r[:1] == b'y' and r[1:2] == b'5'): res[i] = 'reject'
        else: res[i] = 'other:' + repr(r[:8])
        s.close()
    except OSError:
        res[i] = 'dropped'
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
from collections import Counter
c = Counter(res.values())
print(' '.join('%s=%d' % kv for kv in sorted(c.items())))
PY
)
lab_diag "sessions: $out"
lab_is "$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive \
	"sav-milter still runs after $n sessions at once on 64 descriptors"
lab_like "$out" "tempfail=" "some sessions were answered with a tempfail"
lab_is "$(echo "$out" | grep -oE '(reject|other[^ ]*)=[0-9]+' | head -1)" "" \
	"no session was rejected or answered oddly"
# proof that the descriptors ran out: a DNS look-up or a connect to the
# (listening) MX that failed at once for want of a socket (which of the
# two runs out first depends on the timing): tempfail reason=internal,
# never connect-failed, which would blame the domain (its MX listens).
# A dns-timeout can still be real here: the one-threaded fake DNS
# server answers 120 sessions' questions in turn.
lab_is "$(grep -cE 'verdict=tempfail reason=internal .* ms=[0-9]{1,3}$' "$LAB_DIR/milter.log" | awk '{print ($1 > 0)}')" 1 \
	"descriptors ran out: DNS look-ups or connects failed at once, and became tempfails (reason internal)"
lab_is "$(grep -cE 'reason=connect-failed ' "$LAB_DIR/milter.log")" 0 \
	"no shortage of ours was blamed on the domain (no connect-failed)"
F=$("$LAB_BUILD/sav-cache" -f "$LAB_DIR/milter/cache.mdb" get slow.test 2>&1)
lab_check "the domain was not learnt as unreachable from our own shortage" "$F" "!~unreachable"
# the load ends: the slow probes finish (4 s), descriptors come back
sleep 6
again=$(python3 "$LAB_SRC/tests/tools/milter_raw.py" "$SOCK" random 7 3 2>&1)
lab_check "after the load, sessions are answered again" "$?" 0 "$again" ""
lab_is "$(grep -cE 'ERROR: AddressSanitizer|runtime error:' "$LAB_DIR/milter.log")" 0 \
	"no sanitizer report from sav-milter"
lab_is "$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive "sav-milter still runs at the end"
lab_summary
