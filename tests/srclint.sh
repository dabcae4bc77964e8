#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# srclint.sh - check that the sources and documents explain themselves
# (make srclint; make check runs it).
#
#   1. no file of the repository refers to a document that is not in it:
#      the design notes, the hard-case catalogue, the lab recipes or the
#      style guide kept beside the project during its development, or a
#      path into the directory beside the checkout that held them;
#   2. no comment or test name cites a case of that catalogue by its tag
#      (a letter A to F and a number, such as the tag of "a server that
#      refuses MAIL FROM:<>") in parentheses or at the start of a quoted
#      test name, instead of stating the rule;
#   3. every source file carries the licence line
#      "SPDX-License-Identifier: BSD-2-Clause": first line of .c, .h,
#      .lua, .awk files, of the Makefile and of shell libraries that are
#      only sourced; second line, after "#!", of scripts.
#
# Files are the ones git tracks (all files under the tree, build
# directories aside, when this is not a git checkout). Prints
# "srclint: N passed, M failed" and exits 1 when anything failed.

cd "$(dirname "$0")/.." || exit 1

pass=0
fail=0

bad() {
	fail=$((fail + 1))
	printf 'srclint: FAIL: %s\n' "$*"
}

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files)
else
	files=$(find . -type f ! -path './.git/*' ! -path './build/*' ! -path './build-san/*' |
		sed 's|^\./||')
fi

# The names are built from pieces so that a search of the tree does not find them here.
d=DESIGN; c=CASES; l=LAB; s=STYLE
sh=shared
refs="($d|$c|$l|$s)\\.md|\\.\\./$sh|/work/$sh"
tag='(A(1[0-3]|[1-9])|B(20|1[0-9]|[1-9])|C(1[0-2]|[2-9])|D(1[0-2]|[1-9])|E(1[0-3]|[1-9])|F(1[0-2]|[1-9]))'
tags="$tag([,/-] ?$tag| and $tag)*"
# a tag list that opens a parenthesis; a quoted name that starts
# with one; a comment that starts with one. C1 is left out: it is also the
# name of a set of control characters (as C0 is).
cites="\\(($c(\\.md)? )?$tags[):, ]|\"$tags[ /]|(/\\*|^[[:space:]]*(\\*|#|--)) $tags:? "

for f in $files; do
	[ -f "$f" ] || continue
	case $f in
	LICENSE|*.png|*.gz) continue ;;
	esac
	self=0
	[ "$f" = tests/srclint.sh ] && self=1
	# 1. references to documents outside the repository
	if [ $self = 0 ] && grep -nE "$refs" "$f" >/dev/null 2>&1; then
		bad "$f refers to a document outside the repository:" \
			"$(grep -nE "$refs" "$f" | head -3 | tr '\n' ' ')"
	else
		pass=$((pass + 1))
	fi
	# 2. case tags
	hits=$(grep -nE "$cites" "$f" 2>/dev/null | head -3)
	if [ $self = 0 ] && [ -n "$hits" ]; then
		bad "$f cites a case tag instead of the rule:" "$(printf '%s' "$hits" | tr '\n' ' ')"
	else
		pass=$((pass + 1))
	fi
	# 3. the licence line
	want=
	case $f in
	*.c|*.h)	want='/* SPDX-License-Identifier: BSD-2-Clause */' ;;
	*.lua)		want='-- SPDX-License-Identifier: BSD-2-Clause' ;;
	*.sh|*.awk|Makefile|.ci/run)
			want='# SPDX-License-Identifier: BSD-2-Clause' ;;
	esac
	[ -n "$want" ] || continue
	if [ "$(head -c 2 "$f")" = '#!' ]; then
		line=$(sed -n 2p "$f")
	else
		line=$(sed -n 1p "$f")
	fi
	if [ "$line" = "$want" ]; then
		pass=$((pass + 1))
	else
		bad "$f lacks the licence line \"$want\" (first line, or second after #!)"
	fi
done

printf 'srclint: %d passed, %d failed\n' "$pass" "$fail"
[ "$fail" -eq 0 ]
