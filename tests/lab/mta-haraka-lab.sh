#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# mta-haraka-lab.sh - sav-probe against a real Haraka (Node.js) as the
# probed MX.
#
# Haraka comes from the npm registry: `npm install Haraka@HARAKA_VERSION`
# (default the version this script was written against) into
# /var/cache/sav-lab/npm/haraka-VERSION, with npm's own cache beside it
# and install scripts off (nothing is compiled), before lab_isolate:
# the namespace has no network. Without node or npm, or when the
# registry cannot be reached, the script says "# skip haraka: <why>".
#
# Each instance is a private Haraka directory (Haraka's shipped config/
# copied, then smtp.ini, plugins, me, host_list and tls.ini written)
# with the real tls, access, delay_deny and rcpt_to.in_host_list
# plugins and three small lab plugins (plugins/lab_*.js, written below):
# the known mailboxes, a greylisting-style 451 4.7.1 (the real greylist
# plugin never greylists a private address such as the lab's), and a
# refusal of MAIL before STARTTLS (Haraka has no such setting for
# inbound mail). Any recipient no plugin accepts gets Haraka's own
# "550 I cannot deliver mail for <...>". Only the tls instance has the
# tls plugin (STARTTLS with a self-signed certificate), so that the
# other rows read the same whether or not the probe speaks STARTTLS.
#
#   main    127.0.0.80  hk.test (alice, bob), catchall-hk.test
#                       (rcpt_to.in_host_list: every local part),
#                       grey@hk.test 451
#   tls     127.0.0.81  hk-tls.test: STARTTLS offered
#           127.0.0.82  hk-req.test: MAIL before STARTTLS refused (530 5.7.0)
#   block   127.0.0.83  the access plugin refuses our client address:
#                       its 554 is the greeting
#   block2  127.0.0.84  the same behind delay_deny, which holds the
#                       refusal until RCPT (550, no enhanced code, and
#                       the connection is closed)
#   helo    127.0.0.86  the helo.checks plugin with forward_dns checked
#                       and enforced (and private addresses not skipped)

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mta-lib.sh"

MTA_NAME=haraka
HARAKA_VERSION=${HARAKA_VERSION:-3.3.4}
HK_CACHE=${HK_CACHE:-/var/cache/sav-lab/npm}

# hk_fetch - make sure $HK_CACHE/haraka-$HARAKA_VERSION holds an
# installed Haraka; errors on stderr. Runs outside the namespace.
hk_fetch()
{
	local dir=$HK_CACHE/haraka-$HARAKA_VERSION tmp
	[ -x "$dir/node_modules/.bin/haraka" ] && [ -f "$dir/.complete" ] && return 0
	mkdir -p "$HK_CACHE" || return 1
	(
		flock -w 300 9 || { echo "cannot lock $HK_CACHE" >&2; exit 1; }
		[ -f "$dir/.complete" ] && exit 0
		tmp=$(mktemp -d "$HK_CACHE/.haraka.XXXXXX") || exit 1
		trap 'rm -rf "$tmp"' EXIT
		timeout 240 npm install --prefix "$tmp" --cache "$HK_CACHE/cache" \
			--no-audit --no-fund --ignore-scripts --loglevel=error \
			--fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 \
			"Haraka@$HARAKA_VERSION" >"$tmp/npm.log" 2>&1 ||
			{ echo "npm install Haraka@$HARAKA_VERSION failed: $(grep -m1 -E 'ERR|error' "$tmp/npm.log")" >&2; exit 1; }
		[ -x "$tmp/node_modules/.bin/haraka" ] || { echo "npm left no haraka binary" >&2; exit 1; }
		touch "$tmp/.complete"
		rm -rf "$dir"
		mv "$tmp" "$dir"
	) 9>"$HK_CACHE/haraka.lock"
}

if ! lab_in_netns; then
	command -v node >/dev/null || mta_skip "no node (Node.js) on this machine"
	command -v npm >/dev/null || mta_skip "no npm on this machine"
	node_major=$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p')
	[ "${node_major:-0}" -ge 20 ] ||
		mta_skip "node $(node --version 2>/dev/null) is too old for Haraka $HARAKA_VERSION (it needs 20 or later)"
	err=$(hk_fetch 2>&1) || mta_skip "cannot install Haraka from the npm registry: ${err:-unknown error}"
fi
lab_isolate "$0" "$@"
mta_init haraka
HKDIR=$HK_CACHE/haraka-$HARAKA_VERSION
HARAKA=$HKDIR/node_modules/.bin/haraka
[ -x "$HARAKA" ] || mta_skip "no haraka in $HKDIR"
command -v openssl >/dev/null || mta_skip "no openssl for the certificate"

# --- DNS -----------------------------------------------------------------------
CLIENT=$(mta_client_ip)
mta_dns hk.test 127.0.0.80
mta_dns catchall-hk.test 127.0.0.80
mta_dns hk-tls.test 127.0.0.81
mta_dns hk-req.test 127.0.0.82
mta_dns hk-block.test 127.0.0.83
mta_dns hk-block2.test 127.0.0.84
mta_dns hk-helo.test 127.0.0.86
mta_dns_start

# --- Haraka --------------------------------------------------------------------
HK=$LAB_DIR/haraka
mkdir -p "$HK/tls"
mta_selfsigned "$HK/tls" mx.haraka.test || lab_die "openssl could not make a certificate"
# Haraka would generate 2048-bit DH parameters at start-up (minutes);
# DSA-style ones take a fraction of a second
openssl dhparam -dsaparam -out "$HK/tls/dhparams.pem" 2048 >/dev/null 2>&1 ||
	lab_die "openssl could not make DH parameters"

# hk_instance NAME LISTEN PLUGIN... - write Haraka directory NAME
# listening on LISTEN (ip:port,...) with the PLUGINs in that order, and
# start it; sets HK_LAST (the directory).
hk_instance()
{
	local name=$1 listen=$2 d=$HK/$1 p
	shift 2
	mkdir -p "$d/plugins" "$d/queue"
	cp -r "$HKDIR/node_modules/Haraka/config" "$d/config" || lab_die "cannot copy Haraka's config"
	printf 'listen=%s\nnodes=\n' "$listen" >"$d/config/smtp.ini"
	echo mx.haraka.test >"$d/config/me"
	echo catchall-hk.test >"$d/config/host_list"
	printf '%s\n' alice@hk.test bob@hk.test alice@hk-tls.test alice@hk-req.test \
		alice@hk-block.test alice@hk-block2.test alice@hk-helo.test jörg@hk.test \
		postmaster@hk.test postmaster@hk-tls.test postmaster@hk-req.test \
		postmaster@hk-block.test postmaster@hk-block2.test postmaster@hk-helo.test >"$d/config/lab_users"
	printf 'level=info\n' >"$d/config/log.ini"
	cp "$HK/tls/key.pem" "$d/config/tls_key.pem"
	cp "$HK/tls/cert.pem" "$d/config/tls_cert.pem"
	cp "$HK/tls/dhparams.pem" "$d/config/dhparams.pem"
	printf 'key=tls_key.pem\ncert=tls_cert.pem\ndhparam=dhparams.pem\n' >"$d/config/tls.ini"
	: >"$d/config/plugins"
	for p in "$@"; do
		echo "$p" >>"$d/config/plugins"
	done
	cat >"$d/plugins/lab_users.js" <<'EOF'
'use strict'
// sav-milter lab: the known mailboxes of config/lab_users (one address a
// line, compared in lower case); any other recipient is left to the next
// plugin, and without one to Haraka's own refusal
exports.register = function () {
    this.register_hook('rcpt', 'lab_users')
}
exports.lab_users = function (next, connection, params) {
    const rcpt = params[0]
    const users = this.config.get('lab_users', 'list').map((u) => u.toLowerCase())
    if (users.includes(`${rcpt.user}@${rcpt.host}`.toLowerCase())) return next(OK)
    next()
}
EOF
	cat >"$d/plugins/lab_greylist.js" <<'EOF'
'use strict'
// sav-milter lab: grey@ is deferred with the reply haraka-plugin-greylist
// gives a new triplet (DSN.sec_unauthorized, 451)
const DSN = require('haraka-dsn')
exports.register = function () {
    this.register_hook('rcpt', 'lab_greylist')
}
exports.lab_greylist = function (next, connection, params) {
    if (params[0].user.toLowerCase() !== 'grey') return next()
    next(DENYSOFT, DSN.sec_unauthorized('Greylisted, please try again later', '451'))
}
EOF
	cat >"$d/plugins/lab_require_tls.js" <<'EOF'
'use strict'
// sav-milter lab: MAIL before STARTTLS is refused on the local addresses
// listed in config/lab_require_tls
const DSN = require('haraka-dsn')
exports.register = function () {
    this.register_hook('mail', 'lab_require_tls')
}
exports.lab_require_tls = function (next, connection) {
    const ips = this.config.get('lab_require_tls', 'list')
    if (connection.tls.enabled || !ips.includes(connection.local.ip)) return next()
    next(DENY, DSN.create(530, 'Must issue a STARTTLS command first', 7, 0))
}
EOF
	printf '%s\n' "$CLIENT" >"$d/config/connect.rdns_access.blacklist"
	lab_spawn "haraka-$name" "$HARAKA" -c "$d"
	HK_LAST=$d
}

hk_instance main 127.0.0.80:25 lab_greylist lab_users rcpt_to.in_host_list
hk_instance tls 127.0.0.81:25,127.0.0.82:25 tls lab_require_tls lab_users
echo 127.0.0.82 >"$HK_LAST/config/lab_require_tls"
hk_instance block 127.0.0.83:25 access lab_users
hk_instance block2 127.0.0.84:25 delay_deny access lab_users
hk_instance helo 127.0.0.86:25 helo.checks lab_users
printf '[skip]\nprivate_ip=false\n[check]\nforward_dns=true\n[reject]\nforward_dns=true\n' >"$HK_LAST/config/helo.checks.ini"
for ip in 80 81 82 84 86; do
	mta_wait_smtp "127.0.0.$ip" 25 200 || {
		sed 's/^/#   /' "$LAB_DIR"/haraka-*.log 2>/dev/null | tail -20
		mta_skip "Haraka $HARAKA_VERSION: $MTA_WHY"
	}
done
# this one greets with its refusal
lab_wait_listen tcp 127.0.0.83 25 200 || mta_skip "Haraka $HARAKA_VERSION: nothing listens on 127.0.0.83:25"
lab_diag "Haraka $HARAKA_VERSION (npm, in $HKDIR) on node $(node --version), client $CLIENT"

# --- Cases ---------------------------------------------------------------------
STRICT=$LAB_DIR/strict.conf
printf '%s\n' "StrictNullSender yes" "CacheFile" >"$STRICT"

mta_case haraka known alice@hk.test valid/user-ok
mta_case haraka unknown nobody@hk.test invalid/user-unknown
mta_case haraka catch-all anything@catchall-hk.test catch-all
mta_case haraka greylisting grey@hk.test tempfail
mta_case haraka policy-client-at-greeting alice@hk-block.test unknown/greeting-refused
mta_case haraka policy-client-at-greeting-strict alice@hk-block.test unknown/greeting-refused -c "$STRICT"
mta_case haraka policy-client-delayed alice@hk-block2.test unknown/policy-block
mta_case haraka policy-client-delayed-strict alice@hk-block2.test unknown/policy-block -c "$STRICT"
mta_case haraka helo-ok alice@hk-helo.test valid/user-ok
# a HELO name without an address: the plugin refuses EHLO, the probe
# falls back to HELO, which it lets through (it runs each test once a
# connection)
mta_case haraka helo-unresolvable alice@hk-helo.test valid/user-ok --helo nohost.lab.test
lab_check "haraka: helo-unresolvable: EHLO refused with 550, HELO sent after it" \
	"$(grep -A1 '^C: EHLO nohost' "$MTA_OUT/haraka-helo-unresolvable.v" | grep -c '^S: 550 ')" 1 \
	"$(grep -c '^C: HELO nohost.lab.test' "$MTA_OUT/haraka-helo-unresolvable.v")" 1
mta_case haraka upper-case ALICE@hk.test valid/user-ok
mta_case haraka upper-case-unknown NOBODY@hk.test invalid/user-unknown
# a UTF-8 local part (RFC 6531): Haraka offers SMTPUTF8
mta_case haraka utf8-known jörg@hk.test valid/user-ok
mta_case haraka utf8-unknown jürgen@hk.test invalid/user-unknown

# the server side first, with another client: the TLS cases below
# mean something only when Haraka's STARTTLS works
if mta_tls_works 127.0.0.81; then
	lab_ok "haraka: STARTTLS with the self-signed certificate works with openssl s_client"
else
	lab_not_ok "haraka: STARTTLS with the self-signed certificate works with openssl s_client" "it does not"
fi
# In plaintext: what every probe did before it spoke STARTTLS, and what
# --tls never does now; the same rows in both cases.
PLAIN=()
mta_has_tls && PLAIN=(--tls never)
mta_case haraka starttls-offered-plain alice@hk-tls.test valid/user-ok "${PLAIN[@]}"
lab_check "haraka: starttls-offered-plain: Haraka offered STARTTLS, the probe stayed in plaintext" \
	"$(grep -Ec '^S: 250[- ]STARTTLS' "$MTA_OUT/haraka-starttls-offered-plain.v")" 1 \
	"$(grep -c '^C: STARTTLS' "$MTA_OUT/haraka-starttls-offered-plain.v")" 0 "$MTA_TLS_LINE" ""
mta_case haraka starttls-required-plain alice@hk-req.test unknown/starttls-required "${PLAIN[@]}"
mta_case haraka starttls-required-plain-unknown nobody@hk-req.test unknown/starttls-required "${PLAIN[@]}"
mta_case haraka starttls-required-plain-strict alice@hk-req.test unknown/starttls-required "${PLAIN[@]}" -c "$STRICT"

if mta_has_tls; then
	lab_diag "sav-probe speaks STARTTLS: TLS is expected wherever Haraka offers it"
	mta_case haraka starttls-offered alice@hk-tls.test valid/user-ok
	lab_like "$MTA_TLS_LINE" "^tls: TLSv1\\.[23] .*untrusted" "haraka: starttls-offered: the probe used TLS with the self-signed certificate"
	mta_case haraka starttls-offered-unknown nobody@hk-tls.test invalid/user-unknown
	mta_case haraka starttls-required alice@hk-req.test valid/user-ok
	lab_like "$MTA_CMD_TLS" "^TLSv1\\.[23]$" "haraka: starttls-required: RCPT went over TLS"
	mta_case haraka starttls-required-unknown nobody@hk-req.test invalid/user-unknown
	mta_case haraka starttls-required-strict alice@hk-req.test valid/user-ok -c "$STRICT"
else
	lab_diag "sav-probe has no STARTTLS yet (no --tls in --help): the TLS cases wait for it"
fi

mta_done
