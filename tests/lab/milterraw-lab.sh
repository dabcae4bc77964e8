#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# milterraw-lab.sh - raw milter packets to a running sav-milter (the
# ASan+UBSan build when build-san/sav-milter exists, else build/), from
# tests/tools/milter_raw.py: what a local process that reaches the
# socket can send below what miltertest allows.
#
#   - macro packets with a name and no value at MAIL ("j\0", three
#     strings, "{auth_authen}" alone), then MAIL FROM: answered, the
#     milter alive, one warning logged; libmilter's own macro lookup
#     would read past such a list (macro.c)
#   - an even macro list still reads: {auth_authen} skips the sender
#   - MILTERRAW_N (200) seeded random sessions: after each one a clean
#     session must still be answered; no sanitizer report in the log

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v python3 >/dev/null || lab_die "python3 is needed for tests/tools/milter_raw.py"
lab_init milterraw
[ -x "$LAB_SRC/build-san/sav-milter" ] && MLAB_MILTER=$LAB_SRC/build-san/sav-milter
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
RAW=$LAB_SRC/tests/tools/milter_raw.py
CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "LogSkipped yes"
mlab_milter_start "$CONF"
lab_diag "milter: $MLAB_MILTER"

out=$(python3 "$RAW" "$SOCK" oddmacro 2>&1)
lab_check "macro packets with a name and no value: every MAIL answered" "$?" 0 "$out" ""
lab_is "$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive \
	"sav-milter still runs after the malformed macro packets"
lab_is "$(grep -c 'malformed macro packet' "$LAB_DIR/milter.log")" 4 \
	"one warning per connection with a malformed macro packet"

# an even list is read as before: the authenticated sender is skipped
python3 - "$SOCK" <<'PY'
import socket, struct, sys
def pkt(c, d=b''): return struct.pack('>I', len(d) + 1) + c + d
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(pkt(b'O', struct.pack('>III', 6, 0x1ff, 0x1fffff))); s.recv(4096)
s.sendall(pkt(b'C', b'c.lab.test\x004' + struct.pack('>H', 1) + b'192.0.2.9\x00')); s.recv(4096)
s.sendall(pkt(b'D', b'M{auth_authen}\x00alice\x00i\x00RAWQID\x00') + pkt(b'M', b'<auth@example.test>\x00'))
s.recv(4096); s.close()
PY
lab_wait_file "$LAB_DIR/milter.log" 'RAWQID' 3 >/dev/null
line=$(grep 'RAWQID' "$LAB_DIR/milter.log" | tail -1)
lab_is "$(echo "$line" | grep -o 'reason=[a-z-]*')" "reason=authenticated" \
	"an even macro list is read: {auth_authen} skips, the queue ID is logged"

n=${MILTERRAW_N:-200}
out=$(python3 "$RAW" "$SOCK" random "${MILTERRAW_SEED:-1}" "$n" 2>&1)
lab_check "$n random raw sessions: the milter answers a clean session after each" "$?" 0 "$out" ""
lab_is "$(grep -cE 'ERROR: AddressSanitizer|runtime error:' "$LAB_DIR/milter.log")" 0 \
	"no sanitizer report from sav-milter"
lab_is "$(kill -0 "$MLAB_MILTER_PID" 2>/dev/null && echo alive)" alive "sav-milter still runs"

lab_summary
