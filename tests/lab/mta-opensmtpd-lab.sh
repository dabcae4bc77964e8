#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# mta-opensmtpd-lab.sh - sav-probe against a real OpenSMTPD as the
# probed MX.
#
# OpenSMTPD is not installed: Debian's opensmtpd package (and the
# libraries it needs that the machine lacks) is fetched with apt-get
# download and unpacked with dpkg-deb -x (mta-lib.sh mta_fetch). It
# runs as root in the foreground (smtpd -d -f CONF) inside the lab's
# loopback-only namespace. Its spool, its control socket and its chroot
# directory are compiled in (/var/spool/smtpd, /var/run/smtpd.sock,
# /var/lib/opensmtpd/empty): the server alone sees private /var/spool,
# /var/lib and /run from the temp dir (mta_bind), and the opensmtpd/opensmtpq users Debian
# creates for it (plus vmail, the owner of the virtual mailboxes) are
# supplied by mta_users when the machine has none. One daemon listens
# on six addresses:
#
#   127.0.0.2  known.test (virtual users alice, bob; anybody else gets
#              OpenSMTPD's answer for a virtual domain), catchall.test
#              (a virtual "@domain" entry), local.test (system users
#              through the local action: vmail known), grey.test (a
#              builtin filter answers RCPT 451 4.7.1, as greylisting)
#   127.0.0.3  blockmail.test: a builtin filter refuses MAIL from the
#              client's address (src table) with 554 5.7.1
#   127.0.0.4  blockrule.test: the rule set's "match from src <table>
#              ... reject" for the client's address
#   127.0.0.5  tlsmay.test: STARTTLS offered, self-signed certificate
#   127.0.0.6  tlsreq.test: tls-require (MAIL before STARTTLS: 530 5.5.1)
#   127.0.0.7  blockconn.test: a builtin filter at connect answers the
#              client's address with 554 5.7.1 and disconnects
#
# Each case checks sav-probe's verdict and records OpenSMTPD's reply to
# the decisive command (mta_case). When the package cannot be fetched,
# or smtpd does not start, the script says "# skip opensmtpd: <why>".

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mta-lib.sh"

MTA_NAME=opensmtpd
SMTPD_PKGS="opensmtpd libevent-2.1-7 libssl3 libdb5.3 libcrypt1 libpam0g zlib1g"
# shellcheck disable=SC2086
mta_fetch $SMTPD_PKGS
command -v openssl >/dev/null || mta_skip "no openssl command (the self-signed certificate)"
lab_isolate "$0" "$@"
mta_init opensmtpd

SMTPD=$(mta_path opensmtpd /usr/sbin/smtpd)
[ -x "$SMTPD" ] || mta_skip "no smtpd binary in the package"
D=$LAB_DIR/smtpd
V=$D/var
mkdir -p "$V/spool/smtpd" "$V/run" "$V/mail" "$V/lib/opensmtpd/empty" "$D/tls" "$D/mbox"
chmod 711 "$V/spool/smtpd"
chmod 755 "$V/lib/opensmtpd/empty"
mta_users opensmtpd:/var/lib/opensmtpd/empty opensmtpq:/var/lib/opensmtpd/empty vmail:"$D/mbox" ||
	lab_die "cannot write the lab's passwd"
chown "$(mta_uid vmail)" "$D/mbox"
mta_selfsigned "$D/tls" mx.smtpd.test || lab_die "openssl could not make a certificate"
# not all of /var: the unpacked package itself lives under /var/cache
mta_bind "$V/spool" /var/spool
mta_bind "$V/lib" /var/lib
mta_bind "$V/run" /run

# --- DNS -----------------------------------------------------------------------
CLIENT=$(mta_client_ip)
for d in known.test catchall.test local.test grey.test; do
	mta_dns "$d" 127.0.0.2
done
mta_dns blockmail.test 127.0.0.3
mta_dns blockrule.test 127.0.0.4
mta_dns tlsmay.test 127.0.0.5
mta_dns tlsreq.test 127.0.0.6
mta_dns blockconn.test 127.0.0.7
# smtpd looks up the machine's host name at start-up (the fallback
# entries answer), and each client's PTR and its name's A before it
# greets (mta_dns_start answers those)
mta_dns_start

# --- OpenSMTPD -----------------------------------------------------------------
: >"$D/vusers"
for d in known.test grey.test blockmail.test blockrule.test tlsmay.test tlsreq.test blockconn.test; do
	printf 'alice@%s vmail\nbob@%s vmail\npostmaster@%s vmail\n' "$d" "$d" "$d" >>"$D/vusers"
done
printf '@catchall.test vmail\n' >>"$D/vusers"
# as every installation has it (RFC 5321 4.5.1): postmaster is delivered
printf 'postmaster: root\n' >"$D/aliases"
printf '%s\n' "$CLIENT" >"$D/blocked"
printf '%s\n' '@grey\.test$' >"$D/greyre"
cat >"$D/smtpd.conf" <<EOF
# sav-milter lab: OpenSMTPD as the probed MX (never delivers anything)
pki mx.smtpd.test cert "$D/tls/cert.pem"
pki mx.smtpd.test key "$D/tls/key.pem"
table vusers file:$D/vusers
table aliases file:$D/aliases
table blocked file:$D/blocked
table greyre file:$D/greyre

filter "grey" phase rcpt-to match rcpt-to regex <greyre> reject "451 4.7.1 Greylisted, please try again later"
filter "block" phase mail-from match src <blocked> reject "554 5.7.1 Client host rejected: blocked using zen.spamhaus.org"
filter "blockconn" phase connect match src <blocked> disconnect "554 5.7.1 Client host rejected: blocked using zen.spamhaus.org"

listen on 127.0.0.2 port 25 hostname mx.smtpd.test filter "grey"
listen on 127.0.0.3 port 25 hostname mx.smtpd.test filter "block"
listen on 127.0.0.4 port 25 hostname mx.smtpd.test tag BLOCKRULE
listen on 127.0.0.5 port 25 hostname mx.smtpd.test tls pki mx.smtpd.test
listen on 127.0.0.6 port 25 hostname mx.smtpd.test tls-require pki mx.smtpd.test
listen on 127.0.0.7 port 25 hostname mx.smtpd.test filter "blockconn"

action "virtual" mbox virtual <vusers>
action "local" mbox alias <aliases>

match from src <blocked> tag BLOCKRULE for any reject
match from any for domain "local.test" action "local"
match from any for domain { known.test, catchall.test, grey.test, blockmail.test, blockrule.test, tlsmay.test, tlsreq.test, blockconn.test } action "virtual"
EOF

smtpd_ver=$(sed 's/^opensmtpd_\([^_]*\)_.*/\1/' "$MTA_ROOT/opensmtpd/.deb" 2>/dev/null)
LD_LIBRARY_PATH=$(mta_ld_path)
export LD_LIBRARY_PATH
mta_spawn smtpd "$SMTPD" -d -f "$D/smtpd.conf"
for ip in 2 3 4 5 6; do	# not 7: it refuses us at once
	mta_wait_smtp "127.0.0.$ip" 25 100 || {
		sed 's/^/#   /' "$LAB_DIR/smtpd.log" | tail -20
		mta_skip "OpenSMTPD $smtpd_ver: $MTA_WHY"
	}
done
lab_diag "OpenSMTPD $smtpd_ver (Debian package, unpacked in $MTA_ROOT)"

# --- Cases ---------------------------------------------------------------------
STRICT=$LAB_DIR/strict.conf
printf '%s\n' "StrictNullSender yes" "CacheFile" >"$STRICT"

mta_case opensmtpd known alice@known.test valid/user-ok
mta_case opensmtpd unknown nobody@known.test invalid/user-unknown
mta_case opensmtpd local-known vmail@local.test valid/user-ok
mta_case opensmtpd local-unknown nosuchuser@local.test invalid/user-unknown
mta_case opensmtpd catch-all anything@catchall.test catch-all
mta_case opensmtpd greylisting alice@grey.test tempfail
mta_case opensmtpd policy-at-mail alice@blockmail.test unknown/policy-block
mta_case opensmtpd policy-at-mail-strict alice@blockmail.test unknown/policy-block -c "$STRICT"
mta_case opensmtpd policy-at-connect alice@blockconn.test unknown/greeting-refused
# The rule set's reject answers RCPT exactly as for an unknown user
# ("550 Invalid recipient: <...>", no enhanced code), so nothing on the
# wire tells the two apart and the probe says invalid: a false reject
# of every sender of a domain whose MX refuses our address this way.
# Kept failing, visibly, until the probe can tell (e.g. by asking for
# postmaster, which no real mailbox policy refuses).
mta_case opensmtpd policy-rule alice@blockrule.test unknown
mta_case opensmtpd upper-case Alice@known.test valid/user-ok
mta_case opensmtpd upper-case-unknown NOBODY@known.test invalid/user-unknown

# starts TLS once, sees the handshake fail, and goes on in plaintext on
# a new connection
tls_fell_back()	# CASE
{
	local v=$MTA_OUT/opensmtpd-$1.v
	lab_check "opensmtpd: $1: one STARTTLS, the handshake failed, once more in plaintext" \
		"$(grep -c '^C: STARTTLS' "$v")" 1 "$(grep -c '^smtp: connect ' "$v")" 2 \
		"$MTA_TLS_LINE" "" "$MTA_CMD_TLS" ""
}

# In plaintext: what every probe did before it spoke STARTTLS, and what
# --tls never does now; the same rows in both cases.
PLAIN=()
mta_has_tls && PLAIN=(--tls never)
mta_case opensmtpd starttls-offered-plain alice@tlsmay.test valid/user-ok "${PLAIN[@]}"
mta_case opensmtpd starttls-required-plain alice@tlsreq.test unknown/starttls-required "${PLAIN[@]}"
lab_check "opensmtpd: starttls-required-plain: no STARTTLS sent, no TLS" \
	"$(grep -c '^C: STARTTLS' "$MTA_OUT/opensmtpd-starttls-required-plain.v")" 0 "$MTA_TLS_LINE" ""
mta_case opensmtpd starttls-required-plain-unknown nobody@tlsreq.test unknown/starttls-required "${PLAIN[@]}"
mta_case opensmtpd starttls-required-plain-strict alice@tlsreq.test unknown/starttls-required "${PLAIN[@]}" -c "$STRICT"

SMTPD_TLS=0
if mta_tls_works 127.0.0.5; then
	SMTPD_TLS=1
else
	lab_diag "OpenSMTPD's STARTTLS handshake fails with openssl s_client too (its TLS code and OpenSSL 3)"
fi
if mta_has_tls && [ $SMTPD_TLS = 1 ]; then
	lab_diag "sav-probe speaks STARTTLS: TLS is expected wherever OpenSMTPD offers it"
	mta_case opensmtpd starttls-offered alice@tlsmay.test valid/user-ok
	lab_like "$MTA_TLS_LINE" "^tls: TLSv1\\.[23] .*untrusted" "opensmtpd: starttls-offered: the probe used TLS with the self-signed certificate"
	mta_case opensmtpd starttls-required alice@tlsreq.test valid/user-ok
	lab_like "$MTA_CMD_TLS" "^TLSv1\\.[23]$" "opensmtpd: starttls-required: RCPT went over TLS"
	mta_case opensmtpd starttls-required-unknown nobody@tlsreq.test invalid/user-unknown
	mta_case opensmtpd starttls-required-strict alice@tlsreq.test valid/user-ok -c "$STRICT"
elif mta_has_tls; then
	lab_diag "sav-probe speaks STARTTLS, OpenSMTPD's handshake fails: plaintext once, as Postfix does"
	mta_case opensmtpd starttls-offered alice@tlsmay.test valid/user-ok
	tls_fell_back starttls-offered
	mta_case opensmtpd starttls-required alice@tlsreq.test unknown/starttls-required
	tls_fell_back starttls-required
	mta_case opensmtpd starttls-required-unknown nobody@tlsreq.test unknown/starttls-required
	mta_case opensmtpd starttls-required-strict alice@tlsreq.test unknown/starttls-required -c "$STRICT"
else
	lab_diag "sav-probe has no STARTTLS yet (no --tls in --help): the TLS cases wait for it"
fi

mta_done
