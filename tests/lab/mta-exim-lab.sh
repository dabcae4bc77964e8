#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# mta-exim-lab.sh - sav-probe against a real Exim 4 as the probed MX.
#
# Exim is not installed: Debian's exim4-daemon-light (and the libraries
# it needs that the machine lacks) are fetched with apt-get download
# and unpacked with dpkg-deb -x (mta-lib.sh mta_fetch). It runs as root
# inside the lab's loopback-only namespace with a private configuration
# (-C: a caller other than root loses root privilege with it unless the
# file is in the compiled-in TRUSTED_CONFIG_LIST, Debian's
# /etc/exim4/trusted_configs; root keeps it), spool and logs in the
# temp dir, and the Debian-exim user it is compiled for supplied through
# mta_users when the machine has none. One daemon listens on six
# addresses; the ACLs tell them apart by $received_ip_address:
#
#   127.0.0.2  known.test (alice, bob; anybody else "550 Unrouteable
#              address"), catchall.test (every local part), grey.test
#              (RCPT deferred with 451 4.7.1, as greylisting does)
#   127.0.0.3  blockmail.test: MAIL refused because the client is
#              listed in zen.spamhaus.org (the lab's DNS lists it)
#   127.0.0.4  blockrcpt.test: the same refusal at RCPT
#   127.0.0.5  tlsmay.test: STARTTLS offered, self-signed certificate
#   127.0.0.6  tlsreq.test: STARTTLS offered and required (MAIL before
#              it: 530 5.7.0)
#   127.0.0.7  blockconn.test: the same refusal in the connect ACL,
#              instead of the greeting
#
# Each case checks sav-probe's verdict and records Exim's reply to the
# decisive command (mta_case). When the packages cannot be fetched, or
# Exim does not start, the script says "# skip exim: <why>".

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mta-lib.sh"

MTA_NAME=exim
EXIM_PKGS="exim4-daemon-light libidn12 libgnutls-dane0 libunbound8 libgnutls30 libnsl2 libpcre2-8-0 libdb5.3"
# shellcheck disable=SC2086
mta_fetch $EXIM_PKGS
command -v openssl >/dev/null || mta_skip "no openssl command (the self-signed certificate)"
lab_isolate "$0" "$@"
mta_init exim

EXIM=$(mta_path exim4-daemon-light /usr/sbin/exim4)
[ -x "$EXIM" ] || mta_skip "no exim4 binary in the package"
E=$LAB_DIR/exim
mkdir -p "$E/spool" "$E/log" "$E/tls"
mta_users Debian-exim || lab_die "cannot write the lab's passwd"
EUID_EXIM=$(mta_uid Debian-exim)
mta_selfsigned "$E/tls" mx.tlsmay.test || lab_die "openssl could not make a certificate"
chown -R "$EUID_EXIM:$EUID_EXIM" "$E"

# --- DNS -----------------------------------------------------------------------
CLIENT=$(mta_client_ip)
rev=$(echo "$CLIENT" | awk -F. '{ print $4 "." $3 "." $2 "." $1 }')
lab_dns_a "$rev.zen.spamhaus.org" 127.0.0.2
# Exim asks for the list's TXT too; without an answer each refusal
# would wait for the resolver's time-out
lab_dns_rrset TXT "$rev.zen.spamhaus.org" "\"https://www.spamhaus.org/query/ip/$CLIENT\""
mta_dns known.test 127.0.0.2
mta_dns catchall.test 127.0.0.2
mta_dns grey.test 127.0.0.2
mta_dns blockmail.test 127.0.0.3
mta_dns blockrcpt.test 127.0.0.4
mta_dns tlsmay.test 127.0.0.5
mta_dns tlsreq.test 127.0.0.6
mta_dns blockconn.test 127.0.0.7
mta_dns_start

# --- Exim ----------------------------------------------------------------------
cat >"$E/exim.conf" <<EOF
# sav-milter lab: Exim as the probed MX (never delivers anything)
primary_hostname = mx.exim.test
qualify_domain = exim.test
exim_user = Debian-exim
exim_group = Debian-exim
spool_directory = $E/spool
log_file_path = $E/log/%slog
pid_file_path = $E/exim.pid
keep_environment =
local_interfaces = <; 127.0.0.2.25 ; 127.0.0.3.25 ; 127.0.0.4.25 ; 127.0.0.5.25 ; 127.0.0.6.25 ; 127.0.0.7.25
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
queue_only = true
smtp_accept_max = 50
smtp_accept_max_per_host = 50
domainlist local_domains = known.test : catchall.test : grey.test : blockmail.test : \\
	blockrcpt.test : tlsmay.test : tlsreq.test : blockconn.test
tls_advertise_hosts = \${if match_ip{\$received_ip_address}{127.0.0.5 : 127.0.0.6}{*}{}}
tls_certificate = $E/tls/cert.pem
tls_privatekey = $E/tls/key.pem
acl_smtp_connect = acl_connect
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt

begin acl

acl_connect:
  deny    condition = \${if eq{\$received_ip_address}{127.0.0.7}}
          dnslists = zen.spamhaus.org
          message = 554 5.7.1 Service unavailable; client [\$sender_host_address] blocked using \$dnslist_domain
  accept

acl_mail:
  deny    condition = \${if eq{\$received_ip_address}{127.0.0.6}}
          !encrypted = *
          message = 530 5.7.0 Must issue a STARTTLS command first
  deny    condition = \${if eq{\$received_ip_address}{127.0.0.3}}
          dnslists = zen.spamhaus.org
          message = 554 5.7.1 Service unavailable; client [\$sender_host_address] blocked using \$dnslist_domain
  accept

acl_rcpt:
  deny    condition = \${if eq{\$received_ip_address}{127.0.0.4}}
          dnslists = zen.spamhaus.org
          message = 554 5.7.1 Service unavailable; client [\$sender_host_address] blocked using \$dnslist_domain
  defer   domains = grey.test
          message = 451 4.7.1 Greylisted, please try again later
  require message = relay not permitted
          domains = +local_domains
  require verify = recipient
  accept

begin routers

catchall:
  driver = accept
  domains = catchall.test
  transport = devnull

users:
  driver = accept
  domains = +local_domains
  local_parts = alice : bob : postmaster
  transport = devnull

begin transports

devnull:
  driver = appendfile
  file = /dev/null
  user = Debian-exim
EOF

exim_ver=$(sed 's/^exim4-daemon-light_\([^_]*\)_.*/\1/' "$MTA_ROOT/exim4-daemon-light/.deb" 2>/dev/null)
LD_LIBRARY_PATH=$(mta_ld_path)
export LD_LIBRARY_PATH
mta_spawn exim "$EXIM" -C "$E/exim.conf" -bdf -oP "$E/exim.pid"
for ip in 2 3 4 5 6; do	# not 7: it refuses us at once
	mta_wait_smtp "127.0.0.$ip" 25 100 || {
		sed 's/^/#   /' "$LAB_DIR/exim.log" "$E/log/"* 2>/dev/null | tail -20
		mta_skip "Exim $exim_ver: $MTA_WHY"
	}
done
lab_diag "Exim $exim_ver (Debian package, unpacked in $MTA_ROOT)"

# --- Cases ---------------------------------------------------------------------
STRICT=$LAB_DIR/strict.conf
printf '%s\n' "StrictNullSender yes" "CacheFile" >"$STRICT"

mta_case exim known alice@known.test valid/user-ok
mta_case exim unknown nobody@known.test invalid/user-unknown
mta_case exim catch-all anything@catchall.test catch-all
mta_case exim greylisting alice@grey.test tempfail
mta_case exim policy-at-mail alice@blockmail.test unknown/policy-block
mta_case exim policy-at-mail-strict alice@blockmail.test unknown/policy-block -c "$STRICT"
mta_case exim policy-at-rcpt alice@blockrcpt.test unknown/policy-block
mta_case exim policy-at-connect alice@blockconn.test unknown/greeting-refused
mta_case exim upper-case Alice@known.test valid/user-ok
mta_case exim upper-case-unknown NOBODY@known.test invalid/user-unknown

# the server side first, with another client: the TLS cases below
# mean something only when Exim's STARTTLS works
if mta_tls_works 127.0.0.5; then
	lab_ok "exim: STARTTLS with the self-signed certificate works with openssl s_client"
else
	lab_not_ok "exim: STARTTLS with the self-signed certificate works with openssl s_client" "it does not"
fi
# In plaintext: what every probe did before it spoke STARTTLS, and what
# --tls never does now; the same rows in both cases.
PLAIN=()
mta_has_tls && PLAIN=(--tls never)
mta_case exim starttls-offered-plain alice@tlsmay.test valid/user-ok "${PLAIN[@]}"
mta_case exim starttls-required-plain alice@tlsreq.test unknown/starttls-required "${PLAIN[@]}"
lab_check "exim: starttls-required-plain: no STARTTLS sent, no TLS" \
	"$(grep -c '^C: STARTTLS' "$MTA_OUT/exim-starttls-required-plain.v")" 0 "$MTA_TLS_LINE" ""
mta_case exim starttls-required-plain-unknown nobody@tlsreq.test unknown/starttls-required "${PLAIN[@]}"
mta_case exim starttls-required-plain-strict alice@tlsreq.test unknown/starttls-required "${PLAIN[@]}" -c "$STRICT"

if mta_has_tls; then
	lab_diag "sav-probe speaks STARTTLS: TLS is expected wherever Exim offers it"
	mta_case exim starttls-offered alice@tlsmay.test valid/user-ok
	lab_like "$MTA_TLS_LINE" "^tls: TLSv1\\.[23] .*untrusted" "exim: starttls-offered: the probe used TLS with the self-signed certificate"
	mta_case exim starttls-required alice@tlsreq.test valid/user-ok
	lab_like "$MTA_CMD_TLS" "^TLSv1\\.[23]$" "exim: starttls-required: RCPT went over TLS"
	mta_case exim starttls-required-unknown nobody@tlsreq.test invalid/user-unknown
	mta_case exim starttls-required-strict alice@tlsreq.test valid/user-ok -c "$STRICT"
else
	lab_diag "sav-probe has no STARTTLS yet (no --tls in --help): the TLS cases wait for it"
fi

mta_done
