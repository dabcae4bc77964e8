#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run-units.sh - run each Check suite; print one total line at the end.
pass=0; fail=0; failed=""
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	name=$(basename "$t")
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | tail -1)
	if [ -n "$line" ]; then
		echo "$name: $line"
		# a suite that could not run some of its cases says so on a SKIP: line
		printf '%s\n' "$out" | grep '^SKIP: ' || true
		n=$(echo "$line" | sed 's/.*Checks: \([0-9]*\).*/\1/')
		f=$(echo "$line" | sed 's/.*Failures: \([0-9]*\).*/\1/')
		e=$(echo "$line" | sed 's/.*Errors: \([0-9]*\).*/\1/')
		pass=$((pass + n - f - e)); fail=$((fail + f + e))
	else
		fail=$((fail + 1))
	fi
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		failed="$failed $name"
		printf '%s\n' "$out" | grep -vE '^[0-9]+%: Checks' | tail -40
	fi
done
echo "unit: $pass passed, $fail failed"
[ -z "$failed" ] || { echo "failing suites:$failed"; exit 1; }
