#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# mta-sendmail-lab.sh - sav-probe against a real Sendmail as the probed
# MX (sendmail-lab.sh has Sendmail as the front MTA calling the milter).
#
# Sendmail is not installed: Debian's sendmail-bin, sendmail-cf and
# libwrap0 (and m4, when the machine lacks it) are fetched with apt-get download and unpacked with dpkg-deb
# -x (mta-lib.sh mta_fetch). The binary is copied into the temp dir
# without its setgid bit (the loader would ignore LD_LIBRARY_PATH), and
# each daemon runs inside the lab's loopback-only namespace in a private
# UTS namespace with a fully qualified host name (Sendmail looks its own
# name up before it reads its configuration). Maps (aliases, access,
# virtusertable) are hash databases built with the package's makemap.
#
# Sendmail's access map keys on the client address, and every probe
# comes from the same loopback address, so each client-address rule has
# a daemon of its own:
#
#   main   127.0.0.60  sm.test (aliases alice, bob; anybody else
#                      "User unknown"), catchall-sm.test (virtusertable
#                      @domain), grey@sm.test refused with 451 4.7.1 by
#                      the access map (To:, blocklist_recipients); no
#                      STARTTLS (daemon modifier M=S)
#          127.0.0.61  sm-tls.test: the same, STARTTLS offered with
#                      a self-signed certificate
#   block  127.0.0.62  "Connect:CLIENT REJECT": Sendmail's own refusal
#                      of the client, given at MAIL
#   block2 127.0.0.64  "Connect:CLIENT ERROR:5.7.1:554 ...": the same
#                      with a site's wording
#   req    127.0.0.63  "TLS_Clt:CLIENT ENCR:128": MAIL before STARTTLS is
#                      refused with 454 4.7.0 encryption too weak
#
# and four common m4 features, each in a daemon of its own:
#
#   pause  127.0.0.65  FEATURE(greet_pause, 500): a client that talks
#                      before the greeting is refused
#   dnsbl  127.0.0.66  FEATURE(dnsbl, zen.spamhaus.org) (the lab's DNS
#                      lists the client): refused at MAIL
#   delay  127.0.0.67  the same with FEATURE(delay_checks): refused at
#                      RCPT
#   rate   127.0.0.68  FEATURE(ratecontrol, , terminate) with
#                      "ClientRate:CLIENT 1": one connection a minute
#                      (a readiness check must not connect there)
#
# When the packages cannot be fetched, or Sendmail does not start, the
# script says "# skip sendmail: <why>".

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mta-lib.sh"

MTA_NAME=sendmail
mta_fetch sendmail-bin sendmail-cf libwrap0 m4
lab_isolate "$0" "$@"
mta_init sendmail
command -v unshare >/dev/null || mta_skip "no unshare (util-linux)"

SMBIN=$(mta_path sendmail-bin /usr/libexec/sendmail/sendmail)
MAKEMAP=$(mta_path sendmail-bin /usr/libexec/sendmail/makemap)
CF=$(mta_path sendmail-cf /usr/share/sendmail/cf)
M4=$(mta_path m4 /usr/bin/m4)
[ -x "$SMBIN" ] || mta_skip "no sendmail binary in the package"
[ -f "$CF/m4/cf.m4" ] || mta_skip "no cf/m4/cf.m4 in sendmail-cf"
SMS=$LAB_DIR/sm
mkdir -p "$SMS/tls"
cp "$SMBIN" "$SMS/sendmail" && chmod 755 "$SMS/sendmail" || lab_die "cannot copy the sendmail binary"
mta_selfsigned "$SMS/tls" mx.sm-tls.test || lab_die "openssl could not make a certificate"
LD_LIBRARY_PATH=$(mta_ld_path)
export LD_LIBRARY_PATH
sm_ver=$(sed 's/^sendmail-bin_\([^_]*\)_.*/\1/' "$MTA_ROOT/sendmail-bin/.deb" 2>/dev/null)

# --- DNS -----------------------------------------------------------------------
CLIENT=$(mta_client_ip)
mta_dns sm.test 127.0.0.60
mta_dns catchall-sm.test 127.0.0.60
mta_dns sm-tls.test 127.0.0.61
mta_dns sm-block.test 127.0.0.62
mta_dns sm-block2.test 127.0.0.64
mta_dns sm-req.test 127.0.0.63
# Sendmail looks up the name of the local address each connection came
# in on: unanswered, every greeting would wait for the resolver's
# time-out (1 s)
for ip in 60 61 62 63 64 65 66 67 68; do
	lab_dns_rrset PTR "$ip.0.0.127.in-addr.arpa" mx.sm.test.
done
lab_dns_a mx.sm.test 127.0.0.60
mta_dns sm-pause.test 127.0.0.65
mta_dns sm-dnsbl.test 127.0.0.66
mta_dns sm-delay.test 127.0.0.67
mta_dns sm-rate.test 127.0.0.68
rev=$(echo "$CLIENT" | awk -F. '{ print $4 "." $3 "." $2 "." $1 }')
lab_dns_a "$rev.zen.spamhaus.org" 127.0.0.2
lab_dns_rrset TXT "$rev.zen.spamhaus.org" "\"https://www.spamhaus.org/query/ip/$CLIENT\""
mta_dns_start

# --- Sendmail ------------------------------------------------------------------
# sm_instance NAME ACCESS DAEMON-LINE... - write, build and start one
# Sendmail with the access map ACCESS (printf %b), the given
# DAEMON_OPTIONS lines and the m4 lines in SM_EXTRA.
sm_instance()
{
	local name=$1 access=$2 sm=$SMS/$1 d daemons=""
	shift 2
	for d in "$@"; do
		daemons="${daemons}DAEMON_OPTIONS(\`$d')dnl
"
	done
	mkdir -p "$sm/mqueue" "$sm/run"
	chmod 700 "$sm/mqueue"
	printf 'alice: root\nbob: root\n' >"$sm/aliases"
	printf '%s\n' sm.test catchall-sm.test sm-tls.test sm-block.test sm-block2.test \
		sm-req.test sm-pause.test sm-dnsbl.test sm-delay.test sm-rate.test >"$sm/local-host-names"
	printf 'hosts files\naliases files\n' >"$sm/service.switch"
	printf '%b' "$access" >"$sm/access"
	printf '@catchall-sm.test\talice\n' >"$sm/virtusertable"
	cat >"$sm/lab.mc" <<EOF
divert(-1)dnl
sav-milter lab: Sendmail as the probed MX (never delivers: no DATA)
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx.sm.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$sm/service.switch')dnl
define(\`QUEUE_DIR', \`$sm/mqueue')dnl
define(\`confPID_FILE', \`$sm/run/sendmail.pid')dnl
define(\`STATUS_FILE', \`$sm/run/statistics')dnl
define(\`ALIAS_FILE', \`$sm/aliases')dnl
define(\`confCW_FILE', \`$sm/local-host-names')dnl
define(\`confDONT_BLAME_SENDMAIL', \`GroupWritableDirPathSafe,TrustStickyBit')dnl
define(\`confREFUSE_LA', \`10000')dnl
define(\`confQUEUE_LA', \`10000')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confCACERT_PATH', \`$SMS/tls')dnl
define(\`confCACERT', \`$SMS/tls/cert.pem')dnl
define(\`confSERVER_CERT', \`$SMS/tls/cert.pem')dnl
define(\`confSERVER_KEY', \`$SMS/tls/key.pem')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`use_cw_file')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`access_db', \`hash -T<TMPF> -o $sm/access')dnl
FEATURE(\`blocklist_recipients')dnl
FEATURE(\`virtusertable', \`hash -o $sm/virtusertable')dnl
${SM_EXTRA-}${daemons}MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
	"$M4" -D_CF_DIR_="$CF/" "$CF/m4/cf.m4" "$sm/lab.mc" >"$sm/lab.cf" 2>"$sm/m4.log" ||
		{ cat "$sm/m4.log" >&2; lab_die "m4 could not build $name's sendmail.cf"; }
	"$MAKEMAP" -C "$sm/lab.cf" hash "$sm/access" <"$sm/access" >"$sm/maps.log" 2>&1 &&
	"$MAKEMAP" -C "$sm/lab.cf" hash "$sm/virtusertable" <"$sm/virtusertable" >>"$sm/maps.log" 2>&1 &&
	"$SMS/sendmail" -C "$sm/lab.cf" -bi >>"$sm/maps.log" 2>&1 ||
		{ sed 's/^/#   /' "$sm/maps.log"; mta_skip "Sendmail $sm_ver: makemap or newaliases failed"; }
	lab_spawn "sendmail-$name" unshare --uts sh -c \
		"hostname mx.sm.test && exec '$SMS/sendmail' -C '$sm/lab.cf' -bD -X '$sm/transcript.log'"
}

sm_instance main 'To:grey@sm.test\tERROR:4.7.1:451 Greylisted, please try again later\n' \
	"Port=25, Addr=127.0.0.60, Name=MTA-plain, M=S" \
	"Port=25, Addr=127.0.0.61, Name=MTA-tls"
sm_instance block "Connect:$CLIENT\tREJECT\n" \
	"Port=25, Addr=127.0.0.62, Name=MTA-block, M=S"
sm_instance block2 "Connect:$CLIENT\tERROR:5.7.1:554 Client host blocked by local policy\n" \
	"Port=25, Addr=127.0.0.64, Name=MTA-block2, M=S"
sm_instance req "TLS_Clt:$CLIENT\tENCR:128\n" \
	"Port=25, Addr=127.0.0.63, Name=MTA-req"
SM_EXTRA="FEATURE(\`greet_pause', \`500')dnl
" sm_instance pause "" "Port=25, Addr=127.0.0.65, Name=MTA-pause, M=S"
SM_EXTRA="FEATURE(\`dnsbl', \`zen.spamhaus.org')dnl
" sm_instance dnsbl "" "Port=25, Addr=127.0.0.66, Name=MTA-dnsbl, M=S"
SM_EXTRA="FEATURE(\`delay_checks')dnl
FEATURE(\`dnsbl', \`zen.spamhaus.org')dnl
" sm_instance delay "" "Port=25, Addr=127.0.0.67, Name=MTA-delay, M=S"
SM_EXTRA="FEATURE(\`ratecontrol', \`', \`terminate')dnl
" sm_instance rate "ClientRate:$CLIENT\t1\n" "Port=25, Addr=127.0.0.68, Name=MTA-rate, M=S"
lab_wait_listen tcp 127.0.0.68 25 100 || mta_skip "Sendmail $sm_ver: nothing listens on 127.0.0.68:25"
for ip in 60 61 62 63 64 65 66 67; do
	mta_wait_smtp "127.0.0.$ip" 25 100 || {
		sed 's/^/#   /' "$LAB_DIR"/sendmail-*.log 2>/dev/null | tail -20
		mta_skip "Sendmail $sm_ver: $MTA_WHY"
	}
done
lab_diag "Sendmail $sm_ver (Debian package, unpacked in $MTA_ROOT), client $CLIENT"

# --- Cases ---------------------------------------------------------------------
STRICT=$LAB_DIR/strict.conf
printf '%s\n' "StrictNullSender yes" "CacheFile" >"$STRICT"

# "nobody" is a system user, which Sendmail's local mailer accepts
mta_case sendmail known alice@sm.test valid/user-ok
mta_case sendmail unknown nosuchuser@sm.test invalid/user-unknown
mta_case sendmail catch-all anything@catchall-sm.test catch-all
mta_case sendmail greylisting grey@sm.test tempfail
mta_case sendmail policy-client-reject alice@sm-block.test unknown/policy-block
mta_case sendmail policy-client-reject-strict alice@sm-block.test unknown/policy-block -c "$STRICT"
mta_case sendmail policy-client-554 alice@sm-block2.test unknown/policy-block
mta_case sendmail policy-client-554-strict alice@sm-block2.test unknown/policy-block -c "$STRICT"
mta_case sendmail policy-dnsbl alice@sm-dnsbl.test unknown/policy-block
mta_case sendmail policy-dnsbl-strict alice@sm-dnsbl.test unknown/policy-block -c "$STRICT"
mta_case sendmail policy-dnsbl-delayed alice@sm-delay.test unknown/policy-block
mta_case sendmail policy-dnsbl-delayed-strict alice@sm-delay.test unknown/policy-block -c "$STRICT"
mta_case sendmail greet-pause-known alice@sm-pause.test valid/user-ok
lab_ge "$(lab_json_num "$MTA_J" elapsed_ms)" 500 \
	"sendmail: greet-pause-known: the greeting came after the 500 ms pause, and the probe waited for it"
mta_case sendmail greet-pause-unknown nosuchuser@sm-pause.test invalid/user-unknown
mta_case sendmail rate-first alice@sm-rate.test valid/user-ok
mta_case sendmail rate-second alice@sm-rate.test tempfail
mta_case sendmail upper-case ALICE@sm.test valid/user-ok
mta_case sendmail upper-case-unknown NOSUCHUSER@sm.test invalid/user-unknown
# a UTF-8 local part (RFC 6531): Debian's Sendmail is built without
# EAI, offers no SMTPUTF8, and the probe must not send the address
mta_case sendmail utf8-no-smtputf8 jörg@sm.test unknown/smtputf8-unsupported
lab_check "sendmail: utf8-no-smtputf8: no SMTPUTF8 offered, no MAIL or RCPT sent" \
	"$(grep -c '^S: 250[- ]SMTPUTF8' "$MTA_OUT/sendmail-utf8-no-smtputf8.v")" 0 \
	"$(grep -Ec '^C: (MAIL|RCPT)' "$MTA_OUT/sendmail-utf8-no-smtputf8.v")" 0

# the server side first, with another client: the TLS cases below
# mean something only when Sendmail's STARTTLS works
if mta_tls_works 127.0.0.61; then
	lab_ok "sendmail: STARTTLS with the self-signed certificate works with openssl s_client"
else
	lab_not_ok "sendmail: STARTTLS with the self-signed certificate works with openssl s_client" "it does not"
fi
# In plaintext: what every probe did before it spoke STARTTLS, and what
# --tls never does now; the same rows in both cases.
PLAIN=()
mta_has_tls && PLAIN=(--tls never)
mta_case sendmail starttls-offered-plain alice@sm-tls.test valid/user-ok "${PLAIN[@]}"
lab_check "sendmail: starttls-offered-plain: Sendmail offered STARTTLS, the probe stayed in plaintext" \
	"$(grep -Ec '^S: 250[- ]STARTTLS' "$MTA_OUT/sendmail-starttls-offered-plain.v")" 1 \
	"$(grep -c '^C: STARTTLS' "$MTA_OUT/sendmail-starttls-offered-plain.v")" 0 "$MTA_TLS_LINE" ""
mta_case sendmail starttls-required-plain alice@sm-req.test unknown/starttls-required "${PLAIN[@]}"
mta_case sendmail starttls-required-plain-unknown nosuchuser@sm-req.test unknown/starttls-required "${PLAIN[@]}"
mta_case sendmail starttls-required-plain-strict alice@sm-req.test unknown/starttls-required "${PLAIN[@]}" -c "$STRICT"

if mta_has_tls; then
	lab_diag "sav-probe speaks STARTTLS: TLS is expected wherever Sendmail offers it"
	mta_case sendmail starttls-offered alice@sm-tls.test valid/user-ok
	lab_like "$MTA_TLS_LINE" "^tls: TLSv1\\.[23] .*untrusted" "sendmail: starttls-offered: the probe used TLS with the self-signed certificate"
	mta_case sendmail starttls-offered-unknown nosuchuser@sm-tls.test invalid/user-unknown
	mta_case sendmail starttls-required alice@sm-req.test valid/user-ok
	lab_like "$MTA_CMD_TLS" "^TLSv1\\.[23]$" "sendmail: starttls-required: RCPT went over TLS"
	mta_case sendmail starttls-required-unknown nosuchuser@sm-req.test invalid/user-unknown
	mta_case sendmail starttls-required-strict alice@sm-req.test valid/user-ok -c "$STRICT"
else
	lab_diag "sav-probe has no STARTTLS yet (no --tls in --help): the TLS cases wait for it"
fi

mta_done
