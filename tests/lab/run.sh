#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run.sh - the integration lab (`make lab`, last step of `make check`).
#
# Runs every tests/lab/*-lab.sh in name order. Each script puts itself
# into its own loopback-only network namespace (lib.sh lab_isolate), so
# nothing it starts can reach beyond the machine and ports 25 and 53 are
# free. Prints each script's totals and a final line
#
#	lab: N passed, M failed
#
# and exits non-zero on any failure. A script that dies without its own
# summary line counts as one failure. Without root there are no network
# namespaces: the lab says so and is skipped (exit 0); CI runs as root.
#
# LAB_KEEP=1 keeps each script's temp dir (Postfix logs, transcripts).
# LAB_ONLY=probe runs only the scripts whose name starts with "probe".

cd "$(dirname "$0")/../.." || exit 1

if [ "$(id -u)" != 0 ]; then
	echo "lab: skipped (needs root for network namespaces)"
	exit 0
fi

missing=""
for f in build/sav-probe build/tests/fake_smtpd; do
	[ -x "$f" ] || missing="$missing $f"
done
for c in bash ip ss ldns-testns postfix postconf setsid timeout; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
	echo "lab: missing:$missing (make all; make deps as root)" >&2
	echo "lab: 0 passed, 1 failed"
	exit 1
fi

pass=0
fail=0
failed=""
t0=$(date +%s)
out=$(mktemp /tmp/savlab-run.XXXXXX) || exit 1
rcf=$(mktemp /tmp/savlab-rc.XXXXXX) || exit 1
trap 'rm -f "$out" "$rcf"' EXIT
trap 'exit 130' INT TERM HUP

for s in tests/lab/*-lab.sh; do
	[ -f "$s" ] || continue
	name=$(basename "$s" .sh)
	case $name in "${LAB_ONLY-}"*) ;; *) continue ;; esac
	s0=$(date +%s)
	# shown as it runs, kept for the summary line; the status comes back through a file
	echo 1 >"$rcf"
	{ bash "$s" 2>&1; echo $? >"$rcf"; } | tee "$out"
	rc=$(cat "$rcf")
	line=$(grep -E '^lab: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed 's/^lab: \([0-9]*\) passed.*/\1/')
		f=$(echo "$line" | sed 's/.* \([0-9]*\) failed$/\1/')
	else
		p=0
		f=1
	fi
	# a non-zero exit with a clean summary still counts as a failure
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	[ "$f" -eq 0 ] || failed="$failed $name"
	echo "$name: $p passed, $f failed ($(( $(date +%s) - s0 )) s)"
done

echo "lab: total time $(( $(date +%s) - t0 )) s${failed:+; failing:$failed}"
echo "lab: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
