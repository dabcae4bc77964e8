#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# manlint.sh - check the manual pages and what an administrator installs
# (make manlint; make check runs it).
#
#   1. every doc/*.[158] passes "mandoc -T lint -W warning" (style-level
#      messages are not failures) and "groff -ww -z" with no output at all;
#   2. every key of probe/conf.c's keys[] table appears in
#      etc/sav-milter.conf (as "Key value" or "# Key value") and in
#      doc/sav-milter.conf.5 (as ".It Cm Key"), neither names a key the
#      table lacks, and each "# Key value" line of the sample shows the
#      table's default;
#   3. every reason token of probe/core/verdict.c's reason_names[] table
#      has an entry in doc/sav-probe.1;
#   4. with build/sav-probe built: etc/sav-milter.conf loads, and so does
#      the same file with every "# Key value" line switched on.
#
# Prints "manlint: N passed, M failed" and exits 1 when anything failed.
# A check that cannot run (no mandoc, no groff, no build/sav-probe) says
# so and counts as neither.

cd "$(dirname "$0")/.." || exit 1

pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/manlint.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

ok() {
	pass=$((pass + 1))
}

bad() {
	fail=$((fail + 1))
	printf 'manlint: FAIL: %s\n' "$*"
}

note() {
	printf 'manlint: %s\n' "$*"
}

have() {
	command -v "$1" >/dev/null 2>&1
}

# ---- 1. the pages themselves -------------------------------------------

have_mandoc=0
have_groff=0
if have mandoc; then
	have_mandoc=1
else
	note "mandoc not installed: linting with groff only (apt-get install mandoc)"
fi
if have groff; then
	have_groff=1
else
	note "groff not installed: linting with mandoc only"
fi
if [ $have_mandoc = 0 ] && [ $have_groff = 0 ]; then
	bad "neither mandoc nor groff is installed: the pages cannot be checked"
fi

pages=0
for page in doc/*.[158]; do
	[ -f "$page" ] || continue
	pages=$((pages + 1))
	msgs=""
	if [ $have_mandoc = 1 ]; then
		# -W warning: warnings, errors and worse; STYLE messages (such as
		# "referenced manual not found" before installation) are not shown
		out=$(mandoc -T lint -W warning "$page" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			msgs="$msgs
mandoc (exit $rc):
$out"
		fi
	fi
	if [ $have_groff = 1 ]; then
		out=$(LC_ALL=C groff -ww -z -mandoc -Tutf8 "$page" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			msgs="$msgs
groff -ww (exit $rc):
$out"
		fi
	fi
	if [ -z "$msgs" ]; then
		ok
	else
		bad "$page:$msgs"
	fi
done
for want in sav-milter.8 sav-milter.conf.5 sav-probe.1 sav-cache.8; do
	if [ -f "doc/$want" ]; then
		ok
	else
		bad "doc/$want is missing"
	fi
done

# ---- 2. configuration keys: conf.c's table is the truth ------------------

# name<TAB>default, the default being \001 for NULL (no default text)
awk '
	/keys\[\][ \t]*=[ \t]*\{/ { intable = 1; next }
	intable && /\{[ \t]*NULL/ { exit }
	intable && /^[ \t]*\{[ \t]*"/ {
		n = split($0, q, "\"")
		name = q[2]
		if (q[3] ~ /NULL/)
			def = "\001"
		else
			def = q[4]
		printf "%s\t%s\n", name, def
	}
' probe/conf.c > "$tmp/keys"
nkeys=$(wc -l < "$tmp/keys")
if [ "$nkeys" -lt 10 ]; then
	bad "found only $nkeys keys in probe/conf.c's keys[] table: has its layout changed?"
fi

conf=etc/sav-milter.conf
if [ -f "$conf" ]; then
	out=$(awk -F '\t' '
		NR == FNR { def[$1] = $2; order[++n] = $1; next }
		/^##/ { next }
		{
			line = $0
			commented = 0
			if (line ~ /^#/) {
				sub(/^#[ \t]?/, "", line)
				commented = 1
			}
			if (line !~ /^[A-Z][A-Za-z0-9.-]*([ \t]|$)/)
				next
			k = line
			sub(/[ \t].*/, "", k)
			v = line
			if (v ~ /[ \t]/) {
				sub(/^[^ \t]*[ \t]+/, "", v)
				sub(/[ \t]+$/, "", v)
			} else
				v = ""
			if (!(k in def)) {
				printf "%s:%d: %s is not a key of probe/conf.c\n", FILENAME, FNR, k
				next
			}
			seen[k] = 1
			if (commented && def[k] != "\001" && def[k] != "" && v != def[k])
				printf "%s:%d: # %s %s: the default is \"%s\"\n", FILENAME, FNR, k, v, def[k]
		}
		END {
			for (i = 1; i <= n; i++)
				if (!(order[i] in seen))
					printf "%s: key %s of probe/conf.c is missing\n", FILENAME, order[i]
		}
	' "$tmp/keys" "$conf")
	if [ -z "$out" ]; then
		ok
	else
		bad "$conf does not match probe/conf.c:
$out"
	fi
else
	bad "$conf is missing"
fi

man5=doc/sav-milter.conf.5
if [ -f "$man5" ]; then
	out=$(awk -F '\t' '
		NR == FNR { def[$1] = $2; order[++n] = $1; next }
		/^\.It Cm [A-Z]/ {
			k = $0
			sub(/^\.It Cm /, "", k)
			sub(/[ \t].*/, "", k)
			if (!(k in def))
				printf "%s:%d: .It Cm %s is not a key of probe/conf.c\n", FILENAME, FNR, k
			else
				seen[k] = 1
		}
		END {
			for (i = 1; i <= n; i++)
				if (!(order[i] in seen))
					printf "%s: key %s of probe/conf.c has no \".It Cm %s\" entry\n", FILENAME, order[i], order[i]
		}
	' "$tmp/keys" "$man5")
	if [ -z "$out" ]; then
		ok
	else
		bad "$man5 does not match probe/conf.c:
$out"
	fi
fi

# ---- 3. reason tokens: verdict.c's name table is the truth --------------

man1=doc/sav-probe.1
if [ -f "$man1" ] && [ -f probe/core/verdict.c ]; then
	# the lines '[R_NAME] = "token",' of reason_names[]; R_NONE's "" is no token
	awk '
		/reason_names\[[A-Z_]*\][ \t]*=[ \t]*\{/ { intable = 1; next }
		intable && /^\};/ { exit }
		intable && /^[ \t]*\[R_[A-Z0-9_]*\][ \t]*=[ \t]*"[^"]+"/ {
			n = split($0, q, "\"")
			print q[2]
		}
	' probe/core/verdict.c > "$tmp/reasons"
	out=$(awk '
		NR == FNR { want[++n] = $1; next }
		/^\.It Cm / {
			line = $0
			sub(/^\.It Cm /, "", line)
			m = split(line, w, /[ ,]+/)
			for (i = 1; i <= m; i++)
				have[w[i]] = 1
		}
		END {
			for (i = 1; i <= n; i++)
				if (!(want[i] in have))
					printf "%s: reason %s of probe/core/verdict.c has no \".It Cm %s\" entry\n", FILENAME, want[i], want[i]
		}
	' "$tmp/reasons" "$man1")
	nreasons=$(wc -l < "$tmp/reasons")
	if [ "$nreasons" -ge 30 ] && [ -z "$out" ]; then
		ok
	elif [ "$nreasons" -lt 30 ]; then
		bad "found only $nreasons reason tokens in probe/core/verdict.c's reason_names[]: has its layout changed?"
	else
		bad "$man1 does not list every reason:
$out"
	fi
fi

# ---- 4. the sample configuration loads ---------------------------------

probe=build/sav-probe
if [ -x "$probe" ] && [ -f "$conf" ]; then
	# '<>' is decided without DNS or SMTP (skipped, exit 2); --cache ''
	# keeps the sample's CacheFile from being created. 78 = configuration.
	sed -e 's/^#[ \t]\([A-Z][A-Za-z0-9.-]*[ \t]\)/\1/' "$conf" > "$tmp/all.conf"
	for f in "$conf" "$tmp/all.conf"; do
		out=$("$probe" -c "$f" --cache '' --timeout 1 '<>' 2>&1)
		rc=$?
		what=$f
		[ "$f" = "$tmp/all.conf" ] && what="$conf with every '# Key value' switched on"
		if [ $rc -eq 0 ] || [ $rc -eq 2 ]; then
			ok
		else
			bad "$what does not load (sav-probe exit $rc): $out"
		fi
	done
else
	note "skipped loading $conf: $probe is not built (make all)"
fi

note "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
