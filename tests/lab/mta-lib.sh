# SPDX-License-Identifier: BSD-2-Clause
# mta-lib.sh - shared helpers for the scripts that put sav-probe in
# front of real MTAs (Exim, OpenSMTPD, Sendmail, Haraka, Postfix) as the
# probed MX, and collect each server's real reply lines (bash). Sourced
# after lib.sh; not a test itself (run.sh runs only *-lab.sh).
#
# A script looks like this:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$(dirname "$0")/mta-lib.sh"
#	MTA_NAME=exim
#	mta_fetch exim4-base exim4-daemon-light	# before lab_isolate: network
#	lab_isolate "$0" "$@"
#	mta_init exim				# lab_init, table rows reset
#	mta_dns known.test 127.0.0.2		# MX + A in the lab's DNS
#	mta_dns_start
#	... start the server on 127.0.0.2:25 (mta_wait_smtp 127.0.0.2) ...
#	mta_case exim known alice@known.test valid/user-ok
#	mta_case exim unknown nobody@known.test invalid
#	mta_done				# doc check, summary
#
# mta_fetch PKG...
#	apt-get download each Debian package that is not installed on
#	the machine into $MTA_CACHE (default /var/cache/sav-lab/debs; a
#	.deb already there is reused) and unpack it with dpkg-deb -x into
#	$MTA_ROOT/PKG (default /var/cache/sav-lab/root; redone only when
#	the .deb changed). Must run before lab_isolate: the namespace has
#	no network. When a package cannot be fetched or unpacked, the
#	script prints "# skip NAME: REASON" and the lab summary line with
#	nothing passed and nothing failed, and exits 0 (a server that
#	cannot be brought up on a machine is skipped, not failed); use
#	mta_skip REASON for the same later on (a server that does not
#	start). mta_ld_path prints the LD_LIBRARY_PATH for the unpacked
#	libraries; mta_path PKG FILE the path of FILE in PKG's tree.
#
# mta_case MTA CASE ADDRESS EXPECT [sav-probe options...]
#	runs build/sav-probe --json -v against the lab DNS (the MX of
#	ADDRESS's domain; mta_dns) and checks its verdict: EXPECT is
#	"verdict" or "verdict/reason", or several such separated by "|"
#	(any one of them passes). Prints one TAP line (lab_check). Keeps
#	the -v transcript and the JSON in $MTA_OUT/MTA-CASE.{v,json} and
#	appends to $MTA_TABLE one TSV row:
#		MTA  CASE  COMMAND  REPLY  VERDICT/REASON  TLS
#	COMMAND is the client line the decisive reply answered (from the
#	transcript: replies are paired with the commands in the order they
#	were sent, pipelined or not; "(greeting)" for the banner), REPLY
#	is that reply exactly as the server sent it (lines of a multi-line
#	reply joined by the two characters "\n"), VERDICT/REASON is what
#	the probe concluded (whether or not it was the expected one), TLS
#	the protocol COMMAND went over (empty in plaintext). Sets MTA_V,
#	MTA_R, MTA_J, MTA_RC (exit status), MTA_CMD, MTA_REPLY, MTA_CMD_TLS
#	and MTA_TLS_LINE (the transcript's first "tls: ..." line) for
#	further checks by the caller.
#
# mta_done
#	writes MTA's markdown rows to $MTA_OUT/MTA.md, checks that
#	doc/mta-replies.md has each of them verbatim, prints the summary.
#
# mta_table_md [MTA]
#	prints $MTA_TABLE's rows (of MTA only, when given) as markdown
#	table rows for doc/mta-replies.md:
#		| CASE | `COMMAND` | `REPLY` | VERDICT/REASON |
#	(COMMAND followed by "(TLSv1.3)" when it went over TLS).
#
# Other helpers:
#	mta_dns DOMAIN IP, mta_dns_start	the lab's DNS (MX, A; the
#						client's PTR and A)
#	mta_client_ip				our connections' source
#	mta_wait_smtp IP [PORT] [TENTHS]	listening and greeting 2xx
#	mta_selfsigned DIR CN			DIR/key.pem, DIR/cert.pem
#	mta_tls_works IP [PORT]			the server's STARTTLS works
#						with openssl s_client
#	mta_has_tls				sav-probe has --tls
#	mta_users USER[:HOME]..., mta_uid USER,	system users and compiled-in
#	mta_bind DIR PATH, mta_spawn NAME CMD...	paths a server insists
#						on, without touching the
#						machine
#
# Functions are prefixed mta_; globals MTA_*.

MTA_CACHE=${MTA_CACHE:-/var/cache/sav-lab/debs}
MTA_ROOT=${MTA_ROOT:-/var/cache/sav-lab/root}
MTA_PROBE=${MTA_PROBE:-$LAB_BUILD/sav-probe}
MTA_OUT=${MTA_OUT:-$LAB_BUILD/lab/mta}
MTA_TABLE=${MTA_TABLE:-$MTA_OUT/mta-replies.tsv}
MTA_HELO=${MTA_HELO:-probe.lab.test}
MTA_TIMEOUT=${MTA_TIMEOUT:-10}
MTA_WHY=""
MTA_NAME=${MTA_NAME:-$(basename "$0" .sh | sed 's/^mta-//; s/-lab$//')}
export MTA_CACHE MTA_ROOT MTA_OUT MTA_TABLE

# ---------------------------------------------------------------------
# Packages

# mta_skip REASON... - report this MTA as skipped and end the script
# with a clean, empty summary.
mta_skip()
{
	echo "# skip $MTA_NAME: $*"
	echo "lab: 0 passed, 0 failed"
	exit 0
}

# mta_installed PKG - true when dpkg has PKG installed.
mta_installed()
{
	dpkg-query -W -f '${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

# mta_deb PKG VERSION - the cached .deb of PKG at VERSION, if any (apt
# writes an epoch's colon as %3a).
mta_deb()
{
	local f
	for f in "$MTA_CACHE/${1}_${2/:/%3a}_"*.deb; do
		[ -f "$f" ] && echo "$f" && return 0
	done
	return 0
}

# mta_fetch_one PKG - download (or reuse) PKG's .deb and unpack it into
# $MTA_ROOT/PKG; the stamp $MTA_ROOT/PKG/.deb names the unpacked file.
# Called with the cache lock held. Errors on stderr.
mta_fetch_one()
{
	local pkg=$1 ver deb tmp
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "no candidate for $pkg in apt's lists (apt-get update?)" >&2
		return 1
	fi
	deb=$(mta_deb "$pkg" "$ver")
	if [ -z "$deb" ]; then
		(cd "$MTA_CACHE" && apt-get download -q "$pkg=$ver") \
			>"$MTA_CACHE/.download.log" 2>&1 ||
			{ echo "apt-get download $pkg: $(grep -E '^(E|W):' "$MTA_CACHE/.download.log" | tail -1)" >&2; return 1; }
		deb=$(mta_deb "$pkg" "$ver")
		[ -n "$deb" ] || { echo "apt-get download $pkg left no .deb" >&2; return 1; }
	fi
	if [ "$(cat "$MTA_ROOT/$pkg/.deb" 2>/dev/null)" = "$(basename "$deb")" ]; then
		return 0
	fi
	tmp=$(mktemp -d "$MTA_ROOT/.$pkg.XXXXXX") || return 1
	if ! dpkg-deb -x "$deb" "$tmp" 2>"$tmp.err"; then
		echo "dpkg-deb -x $(basename "$deb"): $(tail -1 "$tmp.err")" >&2
		rm -rf "$tmp" "$tmp.err"
		return 1
	fi
	rm -f "$tmp.err"
	basename "$deb" >"$tmp/.deb"
	rm -rf "${MTA_ROOT:?}/$pkg"
	mv "$tmp" "$MTA_ROOT/$pkg"
}

# mta_fetch PKG... - see the top. Packages dpkg has installed are left
# to the system (their libraries load from the usual places). Sets and
# exports MTA_PKGS (the unpacked ones).
mta_fetch()
{
	local pkg err
	lab_in_netns && return 0	# done by the outer run
	MTA_PKGS=""
	for pkg in "$@"; do
		mta_installed "$pkg" || MTA_PKGS="$MTA_PKGS $pkg"
	done
	export MTA_PKGS
	[ -n "$MTA_PKGS" ] || return 0
	{ command -v apt-get && command -v dpkg-deb; } >/dev/null ||
		mta_skip "no apt-get/dpkg-deb on this machine"
	mkdir -p "$MTA_CACHE" "$MTA_ROOT" 2>/dev/null || mta_skip "cannot create $MTA_CACHE or $MTA_ROOT"
	err=$(
		exec 9>"$MTA_ROOT/.lock"
		flock -w 300 9 || { echo "cannot lock $MTA_ROOT/.lock"; exit 1; }
		for pkg in $MTA_PKGS; do
			mta_fetch_one "$pkg" 2>&1 || exit 1
		done
	) || mta_skip "cannot fetch or unpack the Debian packages: ${err:-unknown error}"
}

# mta_path PKG FILE - FILE (absolute inside the package) in PKG's
# unpacked tree, or on the system when PKG is installed.
mta_path()
{
	case " ${MTA_PKGS-} " in
	*" $1 "*) echo "$MTA_ROOT/$1$2" ;;
	*) echo "$2" ;;
	esac
}

# mta_ld_path - LD_LIBRARY_PATH for the unpacked packages' libraries.
mta_ld_path()
{
	local pkg d p=""
	for pkg in ${MTA_PKGS-}; do
		for d in usr/lib/x86_64-linux-gnu lib/x86_64-linux-gnu usr/lib; do
			[ -d "$MTA_ROOT/$pkg/$d" ] && p="$p${p:+:}$MTA_ROOT/$pkg/$d"
		done
	done
	echo "$p"
}

# ---------------------------------------------------------------------
# World

# mta_init MTA - lab_init, and forget MTA's rows from earlier runs in
# $MTA_TABLE.
mta_init()
{
	MTA_NAME=$1
	lab_init "mta-$1"
	mkdir -p "$MTA_OUT" || lab_die "cannot create $MTA_OUT"
	if [ -f "$MTA_TABLE" ]; then
		awk -F '\t' -v m="$1" '$1 != m' "$MTA_TABLE" >"$MTA_TABLE.$$" &&
			mv "$MTA_TABLE.$$" "$MTA_TABLE"
	fi
	rm -f "$MTA_OUT/$1-"*.v "$MTA_OUT/$1-"*.json
	LAB_DNS_DATA=$LAB_DIR/dns.data
	: >"$LAB_DNS_DATA"
	[ -x "$MTA_PROBE" ] || lab_die "no $MTA_PROBE (make all)"
}

# mta_dns DOMAIN IP - DOMAIN's MX is mx.DOMAIN with address IP.
mta_dns()
{
	lab_dns_mx "$1" "10 mx.$1."
	lab_dns_a "mx.$1" "$2"
}

# mta_client_ip - the address the probe's connections come from (the
# source the kernel picks towards 127.0.0.2; 127.0.0.1 on Linux).
mta_client_ip()
{
	local ip
	ip=$(ip route get 127.0.0.2 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
	echo "${ip:-127.0.0.1}"
}

# mta_dns_start - the client's reverse and forward names (PTR of
# mta_client_ip -> $MTA_HELO -> that address: servers that look the
# client up, as OpenSMTPD and Sendmail do, get a prompt, consistent
# answer), the fallback entries and ldns-testns on :53.
mta_dns_start()
{
	local ip rev
	ip=$(mta_client_ip)
	rev=$(echo "$ip" | awk -F. '{ print $4 "." $3 "." $2 "." $1 }')
	lab_dns_rrset PTR "$rev.in-addr.arpa" "$MTA_HELO."
	lab_dns_a "$MTA_HELO" "$ip"
	lab_dns_fallback
	lab_dns_start "$LAB_DNS_DATA"
}

# mta_wait_smtp IP [PORT] [TENTHS] - wait (default 10 s) until something
# listens on IP:PORT (default 25), then connect once and read the
# greeting (within 10 s); false, with the reason in MTA_WHY, when there
# is no listener or no 2xx greeting. Sets MTA_BANNER.
mta_wait_smtp()
{
	local ip=$1 port=${2:-25}
	MTA_BANNER="" MTA_WHY=""
	if ! lab_wait_listen tcp "$ip" "$port" "${3:-100}"; then
		MTA_WHY="nothing listens on $ip:$port"
		return 1
	fi
	# shellcheck disable=SC2016 # expanded by the inner bash
	MTA_BANNER=$(timeout 10 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		IFS= read -r l <&3 && printf "%s\n" "${l%$(printf "\r")}"
		printf "QUIT\r\n" >&3' "$ip" "$port" 2>/dev/null)
	# shellcheck disable=SC2034 # MTA_WHY is for the caller
	case $MTA_BANNER in
	2[0-9][0-9]*) return 0 ;;
	"") MTA_WHY="no greeting from $ip:$port within 10 s" ;;
	*) MTA_WHY="greeting from $ip:$port is not 2xx: $MTA_BANNER" ;;
	esac
	return 1
}

# mta_selfsigned DIR CN - DIR/key.pem and DIR/cert.pem, a self-signed
# RSA certificate for CN valid for a year.
mta_selfsigned()
{
	mkdir -p "$1" &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$2" \
		-keyout "$1/key.pem" -out "$1/cert.pem" >"$1/openssl.log" 2>&1 &&
	chmod 600 "$1/key.pem"
}

# mta_users USER... - servers that insist on their own system users
# (Exim's Debian-exim, OpenSMTPD's _smtpd and _smtpq) get them without
# touching the machine: copies of /etc/passwd and /etc/group in
# $LAB_DIR/etc with each missing USER added (uid = gid from 60100 up,
# no login), which mta_spawn bind-mounts over the real ones for
# one command. USER:HOME gives the user a home directory (the one the
# server chroots into). Prints nothing; sets MTA_USERS_ADDED (the new
# ones).
mta_users()
{
	local u h arg id=60100
	mkdir -p "$LAB_DIR/etc" || return 1
	cp /etc/passwd "$LAB_DIR/etc/passwd" && cp /etc/group "$LAB_DIR/etc/group" || return 1
	MTA_USERS_ADDED=""
	for arg in "$@"; do
		u=${arg%%:*} h=/nonexistent
		[ "$u" = "$arg" ] || h=${arg#*:}
		getent passwd "$u" >/dev/null && continue
		while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do
			id=$((id + 1))
		done
		printf '%s:x:%d:%d:sav lab %s:%s:/usr/sbin/nologin\n' "$u" "$id" "$id" "$u" "$h" >>"$LAB_DIR/etc/passwd"
		getent group "$u" >/dev/null ||
			printf '%s:x:%d:\n' "$u" "$id" >>"$LAB_DIR/etc/group"
		MTA_USERS_ADDED="$MTA_USERS_ADDED $u"
		id=$((id + 1))
	done
}

# mta_bind DIR PATH - have the next mta_spawn see DIR at PATH (a bind
# mount in its own mount namespace), for the paths a server has
# compiled in (OpenSMTPD's /var/spool/smtpd, /var/run/smtpd.sock).
mta_bind()
{
	MTA_BINDS="${MTA_BINDS-}${MTA_BINDS:+ }$1=$2"
}

# mta_spawn NAME CMD [ARGS...] - lab_spawn NAME CMD..., with the passwd
# and group files of mta_users and the directories of mta_bind
# bind-mounted in a mount namespace of CMD's own (nothing else sees
# them); a plain lab_spawn when there is nothing to mount.
mta_spawn()
{
	local name=$1 binds=${MTA_BINDS-}
	shift
	if [ -n "${MTA_USERS_ADDED-}" ]; then
		binds="$binds${binds:+ }$LAB_DIR/etc/passwd=/etc/passwd $LAB_DIR/etc/group=/etc/group"
	fi
	if [ -z "$binds" ]; then
		lab_spawn "$name" "$@"
		return
	fi
	# shellcheck disable=SC2016 # expanded by the inner sh
	lab_spawn "$name" unshare --mount --propagation private sh -c '
		for b in $0; do
			mount --bind "${b%%=*}" "${b#*=}" || exit 1
		done
		exec "$@"' "$binds" "$@"
}

# mta_uid USER - USER's uid, seen through mta_users' files.
mta_uid()
{
	awk -F: -v u="$1" '$1 == u { print $3; exit }' "$LAB_DIR/etc/passwd" 2>/dev/null
}

# mta_tls_works IP [PORT] - true when an independent client (openssl
# s_client -starttls smtp) completes a STARTTLS handshake with IP:PORT
# (default 25) and the server answers EHLO and QUIT inside it: tells a
# server whose TLS is broken from a probe that fails at it.
mta_tls_works()
{
	printf 'EHLO tlscheck.lab.test\r\nQUIT\r\n' |
		timeout 10 openssl s_client -starttls smtp -connect "$1:${2:-25}" -quiet -ign_eof 2>/dev/null |
		grep -q '^221'
}

# mta_has_tls - true when sav-probe has STARTTLS (--tls in --help).
mta_has_tls()
{
	"$MTA_PROBE" --help 2>&1 | grep -q -- '--tls'
}

# ---------------------------------------------------------------------
# Cases

# mta_decisive TRANSCRIPT CODE TEXT ADDRESS - print
# "COMMAND<TAB>REPLY<TAB>TLS": the reply in the -v TRANSCRIPT with basic
# code CODE whose text (the lines' texts after the code and the first
# line's enhanced code, joined by a space, as the probe keeps it) is
# TEXT, the command it answered, and the TLS protocol that command went
# over ("" in plaintext; from the "tls: PROTOCOL ..." line). Replies pair with commands first in, first out from each
# "smtp: connect" on (the greeting first). Of several matches the last
# one that answered a command naming ADDRESS wins, else the last one.
mta_decisive()
{
	awk -v code="$2" -v want="$3" -v addr="$4" '
	function strip(l,   t) {
		t = substr(l, 5)
		return t
	}
	function done_reply(   cmd, t, e, ct) {
		ct = (qh < qt) ? qtls[qh] : ""
		cmd = (qh < qt) ? q[qh++] : "(unknown)"
		t = rtext
		e = ""
		if (match(t, /^[245]\.[0-9]+\.[0-9]+( |$)/)) {
			e = substr(t, 1, RLENGTH)
			sub(/ $/, "", e)
		}
		# the same enhanced code is dropped from every line
		if (e != "") {
			n = split(rlines, L, "\034")
			t = ""
			for (i = 1; i <= n; i++) {
				x = strip(L[i])
				if (index(x, e " ") == 1) x = substr(x, length(e) + 2)
				else if (x == e) x = ""
				t = t (i > 1 && x != "" && t != "" ? " " : "") x
			}
		}
		ok = (rcode == code)
		if (ok && want != "") {
			if (want ~ /\.\.\.$/) ok = index(t, substr(want, 1, length(want) - 3)) == 1
			else ok = (t == want)
		}
		if (ok) {
			out = rlines
			gsub(/\034/, "\\n", out)
			best = cmd "\t" out "\t" ct
			if (index(tolower(cmd), tolower(addr)) > 0) named = best
		}
		rlines = ""
		rtext = ""
	}
	/^smtp: connect / { qh = qt = 0; q[qt++] = "(greeting)"; rlines = ""; tls = ""; next }
	/^tls: / { split($0, w, " "); tls = w[2]; next }
	/^C: / { q[qt++] = substr($0, 4); qtls[qt - 1] = tls; next }
	/^S: [0-9][0-9][0-9]/ {
		l = substr($0, 4)
		rcode = substr(l, 1, 3)
		x = strip(l)
		rlines = rlines (rlines != "" ? "\034" : "") l
		rtext = rtext (rtext != "" && x != "" ? " " : "") x
		if (substr(l, 4, 1) != "-") done_reply()
		next
	}
	END {
		if (named != "") print named
		else if (best != "") print best
		else print "-\t(no reply)\t"
	}' "$1"
}

# mta_json_unescape - the JSON string escapes sav-probe writes, undone.
mta_json_unescape()
{
	printf '%s' "$1" | sed 's/\\"/"/g; s/\\\//\//g; s/\\\\/\\/g'
}

# mta_case MTA CASE ADDRESS EXPECT [sav-probe options...] - see the top.
mta_case()
{
	local mta=$1 case=$2 addr=$3 expect=$4 base got ok=0 alt code text row f
	shift 4
	base=$MTA_OUT/$mta-$case
	timeout $((MTA_TIMEOUT + 10)) "$MTA_PROBE" --json -v --resolver 127.0.0.1 --allow-private \
		--helo "$MTA_HELO" --timeout "$MTA_TIMEOUT" "$@" "$addr" >"$base.json" 2>"$base.v"
	# shellcheck disable=SC2034 # for the caller
	MTA_RC=$?
	MTA_J=$(head -n 1 "$base.json")
	MTA_V=$(lab_json_str "$MTA_J" verdict)
	MTA_R=$(lab_json_str "$MTA_J" reason)
	code=$(lab_json_num "$MTA_J" code)
	text=$(mta_json_unescape "$(lab_json_str "$MTA_J" text)")
	row=$(mta_decisive "$base.v" "${code:-0}" "$text" "$addr")
	MTA_CMD=${row%%	*}
	row=${row#*	}
	MTA_REPLY=${row%	*}
	MTA_CMD_TLS=${row##*	}
	MTA_TLS_LINE=$(grep -m1 '^tls: ' "$base.v")
	got="$MTA_V/$MTA_R"
	IFS='|' read -r -a alt <<<"$expect"
	for f in "${alt[@]}"; do
		case $f in
		*/*) [ "$got" = "$f" ] && ok=1 ;;
		*) [ "$MTA_V" = "$f" ] && ok=1 ;;
		esac
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mta" "$case" "$MTA_CMD" "$MTA_REPLY" "$got" "$MTA_CMD_TLS" >>"$MTA_TABLE"
	lab_diag "$mta $case: $MTA_CMD${MTA_CMD_TLS:+ (over $MTA_CMD_TLS)} -> $MTA_REPLY${MTA_TLS_LINE:+ ($MTA_TLS_LINE)}"
	if [ $ok = 1 ]; then
		lab_ok "$mta: $case: $addr is $got"
	else
		lab_not_ok "$mta: $case: $addr" "got '$got', want '$expect'"
		lab_diag "json: $MTA_J"
		tail -n 15 "$base.v" | sed 's/^/#   /'
	fi
}

# mta_table_md [MTA] - see the top.
mta_table_md()
{
	[ -f "$MTA_TABLE" ] || return 0
	awk -F '\t' -v m="${1-}" '
	function code(s) {
		gsub(/\|/, "\\|", s)
		gsub(/\\n/, "`<br>`", s)
		return "`" s "`"
	}
	m == "" || $1 == m {
		printf "| %s | %s%s | %s | %s |\n", $2, code($3), ($6 != "" ? " (" $6 ")" : ""), code($4), $5
	}' "$MTA_TABLE"
}

# mta_done - the markdown rows of this MTA into $MTA_OUT/MTA.md; one
# check that doc/mta-replies.md ($MTA_DOC) holds each of them as it is
# (the table quotes the lab, so a server or probe change that alters a
# row shows up here); then lab_summary (the script's exit status).
mta_done()
{
	local md=$MTA_OUT/$MTA_NAME.md doc=${MTA_DOC:-$LAB_SRC/doc/mta-replies.md} row missing=0 first=""
	mta_table_md "$MTA_NAME" >"$md"
	lab_diag "reply table rows: $md"
	while IFS= read -r row; do
		if ! grep -qxF -- "$row" "$doc" 2>/dev/null; then
			missing=$((missing + 1))
			[ -n "$first" ] || first=$row
		fi
	done <"$md"
	lab_check "$MTA_NAME: $(basename "$doc") quotes every reply of this run" \
		"$missing" 0 "$first" ""
	lab_summary
}
