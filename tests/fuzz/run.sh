#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run.sh SECONDS TARGET... - run the libFuzzer targets of build/fuzz.
#
# For each target: first replay every input under tests/fuzz/regress/
# TARGET (each once; any failure fails the run), then, when SECONDS > 0,
# fuzz for SECONDS seconds from the seeds in tests/fuzz/corpus/TARGET
# plus what earlier runs found (build/fuzz/corpus/TARGET, never the
# source tree). Any crash, leak, time-out (FUZZ_TIMEOUT s per input,
# 10) or sanitizer report fails the run; the input that did it is left
# in build/fuzz/artifacts/TARGET/ and named in the output. Prints one
# line per target: executions, coverage (edges), features, corpus size.
#
# FUZZ_JOBS=2 runs two targets at a time (never more: two cores).
cd "$(dirname "$0")/../.." || exit 1
secs=$1
shift
FZ=build/fuzz
mkdir -p "$FZ/log"
tmo=${FUZZ_TIMEOUT:-10}
fail=""
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

one() {
	t=$1
	bin=$FZ/fuzz_$t
	log=$FZ/log/$t.log
	mkdir -p "$FZ/log" "$FZ/corpus/$t" "$FZ/artifacts/$t"
	: > "$log"
	if [ -d "tests/fuzz/regress/$t" ] && [ -n "$(ls -A "tests/fuzz/regress/$t" 2>/dev/null)" ]; then
		n=$(ls -A "tests/fuzz/regress/$t" | wc -l)
		if ! "$bin" -timeout="$tmo" -rss_limit_mb=2048 "tests/fuzz/regress/$t"/* >>"$log" 2>&1; then
			echo "fuzz $t: FAIL: a regression input fails again (see $log)"
			grep -E 'ERROR|SUMMARY|Running:' "$log" | tail -5
			return 1
		fi
		echo "fuzz $t: $n regression inputs replayed, all pass"
	fi
	[ "$secs" -gt 0 ] || return 0
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout="$tmo" -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$FZ/artifacts/$t/" $dict $FUZZ_ARGS \
		"$FZ/corpus/$t" "tests/fuzz/corpus/$t" >>"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | sed 's/cov: //')
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | sed 's/ft: //')
	corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | sed 's/corp: //')
	if [ $rc -ne 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error:|^SUMMARY: ' "$log"; then
		art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
		echo "fuzz $t: FAIL after ${execs:-?} executions: input ${art:-?} (see $log)"
		grep -E '^==[0-9]+==ERROR|runtime error:|^SUMMARY: |ALARM|timeout' "$log" | head -5
		return 1
	fi
	echo "fuzz $t: ${secs}s, ${execs:-?} executions, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}, no findings"
	return 0
}

if [ "${FUZZ_JOBS:-1}" -ge 2 ]; then
	set -- "$@"
	while [ $# -gt 0 ]; do
		a=$1; shift
		b=${1:-}; [ $# -gt 0 ] && shift
		one "$a" > "$FZ/log/.out.$a" 2>&1 &
		pa=$!
		pb=""
		if [ -n "$b" ]; then
			one "$b" > "$FZ/log/.out.$b" 2>&1 &
			pb=$!
		fi
		wait $pa || fail="$fail $a"
		cat "$FZ/log/.out.$a"
		if [ -n "$pb" ]; then
			wait $pb || fail="$fail $b"
			cat "$FZ/log/.out.$b"
		fi
	done
else
	for t in "$@"; do
		one "$t" || fail="$fail $t"
	done
fi
[ -z "$fail" ] || { echo "fuzz: failing targets:$fail"; exit 1; }
echo "fuzz: all targets pass"
