#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# mta-postfix-lab.sh - sav-probe against the machine's Postfix as the
# probed MX, with the same cases as the other mta-*-lab.sh scripts.
#
# One private Postfix instance (lib.sh lab_postfix_mx: virtual
# mailboxes alice, bob; grey@ deferred by check_recipient_access) with
# one smtpd per behaviour in master.cf, told apart by -o overrides:
#
#   127.0.0.70  pf.test, catchall-pf.test (virtual_mailbox_maps
#               "@catchall-pf.test"); no STARTTLS; also the MX of
#               pf-norelay.test, a domain it does not receive for
#   127.0.0.71  pf-tls.test: smtpd_tls_security_level = may, with a
#               self-signed certificate
#   127.0.0.72  pf-req.test: smtpd_tls_security_level = encrypt (MAIL
#               before STARTTLS: 530 5.7.0)
#   127.0.0.73  pf-block.test: the client refused by check_client_access
#               (smtpd_delay_reject = yes, Postfix's default: at RCPT)
#   127.0.0.74  pf-block2.test: the same with smtpd_delay_reject = no,
#               which Postfix answers with the refusal as its greeting
#               (554, then only QUIT)
#   127.0.0.78  pf-rbl.test: reject_rbl_client zen.spamhaus.org (the lab's
#               DNS lists the client)
#
# and postscreen(8) in front of smtpd, as many sites run it, with
# postscreen_access_list emptied (its default permit_mynetworks would
# wave the lab's client through) and a cache of its own per listener:
#
#   127.0.0.75  pf-screen.test: the pregreet test (greet_action enforce):
#               a multi-line "220-" greeting the client must wait out
#   127.0.0.76  pf-deep.test: the deep protocol tests as well
#               (pipelining): the first session is deferred with 450
#               4.3.2 at RCPT, the next goes through to smtpd
#   127.0.0.77  pf-dnsbl.test: postscreen_dnsbl_sites zen.spamhaus.org,
#               enforce: 550 5.7.1 at RCPT
#
# A readiness check must not connect to a postscreen listener (reading
# the first greeting line and leaving is a pregreet), so those are
# waited for by their socket only.
#
# When Postfix or openssl is missing the script says "# skip postfix:
# <why>".

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mta-lib.sh"

MTA_NAME=postfix
lab_isolate "$0" "$@"
mta_init postfix
command -v postfix >/dev/null || mta_skip "postfix is not installed (make deps)"
command -v openssl >/dev/null || mta_skip "no openssl for the certificate"
pf_ver=$(postconf -d -h mail_version 2>/dev/null)

# --- DNS -----------------------------------------------------------------------
CLIENT=$(mta_client_ip)
mta_dns pf.test 127.0.0.70
mta_dns catchall-pf.test 127.0.0.70
mta_dns pf-tls.test 127.0.0.71
mta_dns pf-req.test 127.0.0.72
mta_dns pf-block.test 127.0.0.73
mta_dns pf-block2.test 127.0.0.74
mta_dns pf-screen.test 127.0.0.75
mta_dns pf-deep.test 127.0.0.76
mta_dns pf-dnsbl.test 127.0.0.77
mta_dns pf-rbl.test 127.0.0.78
mta_dns pf-norelay.test 127.0.0.70	# not one of Postfix's domains
rev=$(echo "$CLIENT" | awk -F. '{ print $4 "." $3 "." $2 "." $1 }')
lab_dns_a "$rev.zen.spamhaus.org" 127.0.0.2
lab_dns_rrset TXT "$rev.zen.spamhaus.org" "\"https://www.spamhaus.org/query/ip/$CLIENT\""
mta_dns_start

# --- Postfix -------------------------------------------------------------------
lab_postfix_mx mx 127.0.0.70 pf.test alice bob || lab_die "cannot write the Postfix instance"
D=$(lab_postfix_dir mx)
mta_selfsigned "$D/tls" mx.pf-tls.test || lab_die "openssl could not make a certificate"
printf '%s ok\n' "@catchall-pf.test" "jörg@pf.test" >>"$D/conf/vmailbox"
printf '%s REJECT\n' "$CLIENT" >"$D/conf/client_access"
PFDOMS="pf-tls.test pf-req.test pf-block.test pf-block2.test pf-screen.test pf-deep.test pf-dnsbl.test pf-rbl.test"
for dom in $PFDOMS; do
	printf 'alice@%s ok\nbob@%s ok\n' "$dom" "$dom" >>"$D/conf/vmailbox"
done
lab_postfix_set mx \
	"virtual_mailbox_domains = pf.test catchall-pf.test $PFDOMS" \
	"smtpd_tls_cert_file = $D/tls/cert.pem" "smtpd_tls_key_file = $D/tls/key.pem" \
	"smtpd_tls_security_level = none" \
	"lab_block_client = check_client_access texthash:$D/conf/client_access" \
	"lab_rbl_client = reject_rbl_client zen.spamhaus.org" \
	"postscreen_access_list =" "postscreen_greet_action = enforce" \
	"postscreen_greet_wait = 1s" "postscreen_dnsbl_action = enforce" \
	"postscreen_dnsbl_threshold = 1"
cat >>"$D/conf/master.cf" <<EOF
127.0.0.71:25 inet n - n - - smtpd -o smtpd_tls_security_level=may
127.0.0.72:25 inet n - n - - smtpd -o smtpd_tls_security_level=encrypt
127.0.0.73:25 inet n - n - - smtpd -o smtpd_client_restrictions=\$lab_block_client
127.0.0.74:25 inet n - n - - smtpd -o smtpd_client_restrictions=\$lab_block_client -o smtpd_delay_reject=no
127.0.0.78:25 inet n - n - - smtpd -o smtpd_client_restrictions=\$lab_rbl_client
127.0.0.75:25 inet n - n - 1 postscreen -o postscreen_cache_map=btree:\$data_directory/ps-screen
127.0.0.76:25 inet n - n - 1 postscreen -o postscreen_cache_map=btree:\$data_directory/ps-deep -o postscreen_pipelining_enable=yes
127.0.0.77:25 inet n - n - 1 postscreen -o postscreen_cache_map=btree:\$data_directory/ps-dnsbl -o postscreen_dnsbl_sites=zen.spamhaus.org
smtpd     pass  -       -       n       -       -       smtpd
dnsblog   unix  -       -       n       -       0       dnsblog
tlsproxy  unix  -       -       n       -       0       tlsproxy
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
EOF
lab_postfix_start mx
for ip in 70 71 72 73 78; do
	mta_wait_smtp "127.0.0.$ip" 25 100 || {
		sed 's/^/#   /' "$D/maillog" 2>/dev/null | tail -20
		mta_skip "Postfix $pf_ver: $MTA_WHY"
	}
done
# this one greets with its refusal, the others are postscreen
for ip in 74 75 76 77; do
	lab_wait_listen tcp "127.0.0.$ip" 25 100 || mta_skip "Postfix $pf_ver: nothing listens on 127.0.0.$ip:25"
done
lab_diag "Postfix $pf_ver (the machine's), client $CLIENT"

# --- Cases ---------------------------------------------------------------------
STRICT=$LAB_DIR/strict.conf
printf '%s\n' "StrictNullSender yes" "CacheFile" >"$STRICT"

mta_case postfix known alice@pf.test valid/user-ok
mta_case postfix unknown nobody@pf.test invalid/user-unknown
mta_case postfix catch-all anything@catchall-pf.test catch-all
mta_case postfix greylisting grey@pf.test tempfail
mta_case postfix policy-client-at-rcpt alice@pf-block.test unknown/policy-block
mta_case postfix policy-client-at-rcpt-strict alice@pf-block.test unknown/policy-block -c "$STRICT"
mta_case postfix policy-client-at-greeting alice@pf-block2.test unknown/greeting-refused
mta_case postfix policy-client-at-greeting-strict alice@pf-block2.test unknown/greeting-refused -c "$STRICT"
mta_case postfix relay-denied alice@pf-norelay.test unknown/policy-block
mta_case postfix relay-denied-strict alice@pf-norelay.test unknown/policy-block -c "$STRICT"
mta_case postfix policy-rbl alice@pf-rbl.test unknown/policy-block
mta_case postfix policy-rbl-strict alice@pf-rbl.test unknown/policy-block -c "$STRICT"
mta_case postfix postscreen-pregreet-known alice@pf-screen.test valid/user-ok
lab_like "$(grep -c '^S: 220-' "$MTA_OUT/postfix-postscreen-pregreet-known.v")" "^[1-9]" \
	"postfix: postscreen-pregreet-known: postscreen's greeting is multi-line (220-)"
mta_case postfix postscreen-pregreet-unknown nobody@pf-screen.test invalid/user-unknown
mta_case postfix postscreen-deep-first alice@pf-deep.test tempfail
mta_case postfix postscreen-deep-again alice@pf-deep.test valid/user-ok
mta_case postfix postscreen-dnsbl alice@pf-dnsbl.test unknown/policy-block
mta_case postfix postscreen-dnsbl-strict alice@pf-dnsbl.test unknown/policy-block -c "$STRICT"
mta_case postfix upper-case ALICE@pf.test valid/user-ok
mta_case postfix upper-case-unknown NOBODY@pf.test invalid/user-unknown
# a UTF-8 local part (RFC 6531): Postfix offers SMTPUTF8
mta_case postfix utf8-known jörg@pf.test valid/user-ok
mta_case postfix utf8-unknown jürgen@pf.test invalid/user-unknown

# the server side first, with another client: the TLS cases below
# mean something only when Postfix's STARTTLS works
if mta_tls_works 127.0.0.71; then
	lab_ok "postfix: STARTTLS with the self-signed certificate works with openssl s_client"
else
	lab_not_ok "postfix: STARTTLS with the self-signed certificate works with openssl s_client" "it does not"
fi
# In plaintext: what every probe did before it spoke STARTTLS, and what
# --tls never does now; the same rows in both cases.
PLAIN=()
mta_has_tls && PLAIN=(--tls never)
mta_case postfix starttls-offered-plain alice@pf-tls.test valid/user-ok "${PLAIN[@]}"
lab_check "postfix: starttls-offered-plain: Postfix offered STARTTLS, the probe stayed in plaintext" \
	"$(grep -Ec '^S: 250[- ]STARTTLS' "$MTA_OUT/postfix-starttls-offered-plain.v")" 1 \
	"$(grep -c '^C: STARTTLS' "$MTA_OUT/postfix-starttls-offered-plain.v")" 0 "$MTA_TLS_LINE" ""
mta_case postfix starttls-required-plain alice@pf-req.test unknown/starttls-required "${PLAIN[@]}"
mta_case postfix starttls-required-plain-unknown nobody@pf-req.test unknown/starttls-required "${PLAIN[@]}"
mta_case postfix starttls-required-plain-strict alice@pf-req.test unknown/starttls-required "${PLAIN[@]}" -c "$STRICT"

if mta_has_tls; then
	lab_diag "sav-probe speaks STARTTLS: TLS is expected wherever Postfix offers it"
	mta_case postfix starttls-offered alice@pf-tls.test valid/user-ok
	lab_like "$MTA_TLS_LINE" "^tls: TLSv1\\.[23] .*untrusted" "postfix: starttls-offered: the probe used TLS with the self-signed certificate"
	mta_case postfix starttls-offered-unknown nobody@pf-tls.test invalid/user-unknown
	mta_case postfix starttls-required alice@pf-req.test valid/user-ok
	lab_like "$MTA_CMD_TLS" "^TLSv1\\.[23]$" "postfix: starttls-required: RCPT went over TLS"
	mta_case postfix starttls-required-unknown nobody@pf-req.test invalid/user-unknown
	mta_case postfix starttls-required-strict alice@pf-req.test valid/user-ok -c "$STRICT"
else
	lab_diag "sav-probe has no STARTTLS yet (no --tls in --help): the TLS cases wait for it"
fi

mta_done
