#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# fuzzpeer-lab.sh - the hostile-peer fuzzer (tests/tools/fuzz_peer.c):
# FUZZPEER_N (300) seeded random dialogues between sav-probe (the
# ASan+UBSan build when build-san/sav-probe exists) and a fake DNS and
# SMTP server that misbehave on purpose: floods, drips, resets, extra
# and out-of-place replies, huge lines, truncated and garbage DNS,
# CNAME loops, an MX on 0.0.0.0. Oracles: sav-probe exits within
# --timeout + 2 s without a sanitizer report; "valid" and "invalid"
# only from a clean, correctly paired answer to the RCPT of the
# address; 0.0.0.0 never connected to; clean command lines. A failure
# prints the seed and index that reproduce it:
#	build/tests/fuzz_peer -p build-san/sav-probe -s SEED -i INDEX -v
# FUZZPEER_SEED (default 1 here; make fuzz-peer picks a new one).
# First, every dialogue listed in tests/fuzz/regress/peer.txt (ones
# that once failed) is replayed alone.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
lab_init fuzzpeer

PROBE=$LAB_BUILD/sav-probe
[ -x "$LAB_SRC/build-san/sav-probe" ] && PROBE=$LAB_SRC/build-san/sav-probe
PEER=$LAB_BUILD/tests/fuzz_peer
[ -x "$PEER" ] || lab_die "no $PEER (make all)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
n=${FUZZPEER_N:-300}
seed=${FUZZPEER_SEED:-1}
lab_diag "sav-probe: $PROBE"
# the dialogues that once failed (tests/fuzz/regress/peer.txt), each alone
nreg=0
bad=""
while read -r rs ri _; do
	case $rs in ''|'#'*) continue ;; esac
	nreg=$((nreg + 1))
	o=$("$PEER" -p "$PROBE" -s "$rs" -i "$ri" -t "${FUZZPEER_TIMEOUT:-1}" 2>&1) || bad="$bad $rs:$ri"
	printf '%s\n' "$o" | grep -E '^fuzz_peer: FAIL|^  scenario' | while IFS= read -r l; do lab_diag "$l"; done
done <"$LAB_SRC/tests/fuzz/regress/peer.txt"
lab_check "fuzz_peer: the $nreg dialogues that once failed pass again" "$bad" "" "$nreg" ">=17"
out=$("$PEER" -p "$PROBE" -s "$seed" -n "$n" -t "${FUZZPEER_TIMEOUT:-1}" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^fuzz_peer: (FAIL|[0-9]+ dialogues)|^  scenario' | head -40 |
	while IFS= read -r l; do lab_diag "$l"; done
lab_check "fuzz_peer: $n dialogues (seed $seed), every oracle holds" "$rc" 0 \
	"$(printf '%s\n' "$out" | grep -c '^fuzz_peer: FAIL')" 0
lab_summary
