#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# probe-starttls-lab.sh - STARTTLS in the probe against real Postfix
# servers with a self-signed certificate, inside a loopback-only network
# namespace.
#
# The world:
#   ldns-testns on 127.0.0.1:53;
#   Postfix "may" for tls.test on 127.0.0.2:25: smtpd_tls_security_level
#     may (STARTTLS offered, plaintext allowed);
#   Postfix "enc" for enc.test on 127.0.0.3:25: encrypt (MAIL in
#     plaintext gets 530 5.7.0 Must issue a STARTTLS command first);
#   Postfix "strip" for strip.test on 127.0.0.5:25: encrypt too, reached
#     through a perl relay on 127.0.0.4:25 that removes STARTTLS from the
#     plaintext EHLO reply (as a downgrading middlebox does) and passes
#     everything else, the TLS bytes included: a server that wants TLS
#     and does not advertise it;
#   Postfix "plain" for plain.test on 127.0.0.6:25: no TLS at all;
#   for the milter's decision line: sav-milter behind a Postfix front MTA
#     on 127.0.0.1:2525, driven by swaks.
# Each has alice and bob (250) and answers anybody else 550 5.1.1. The
# certificate is made here: openssl req -x509 -newkey rsa:2048 -nodes
# -subj /CN=mx.lab.test -days 2.
#
# Checks: the TLS session (-v "tls:" line, JSON "tls", Postfix's own
# "TLS connection established", MAIL only after the handshake, EHLO
# twice), the verdicts inside TLS, --tls never, a TLS-required server
# with ProbeTLS may (real verdict) and never (unknown/starttls-required,
# not invalid even with StrictNullSender yes), the needs-tls domain
# fact (learnt, cached, used at once by the next probe), and tls= in
# the milter's decision line with its Postfix-style "Untrusted TLS
# connection established to ..." line.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"
lab_init starttls

PROBE=${PROBE:-$LAB_BUILD/sav-probe}
CACHE=${CACHE:-$LAB_BUILD/sav-cache}
[ -x "$PROBE" ] || lab_die "no $PROBE (make all)"
command -v openssl >/dev/null || lab_die "no openssl command"

# ---------------------------------------------------------------------
# DNS, certificate, servers

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
for d in tls.test:127.0.0.2 enc.test:127.0.0.3 strip.test:127.0.0.4 plain.test:127.0.0.6; do
	lab_dns_mx "${d%%:*}" "10 mx.${d%%:*}."
	lab_dns_a "mx.${d%%:*}" "${d#*:}"
done
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=mx.lab.test -days 2 \
	-keyout "$LAB_DIR/key.pem" -out "$LAB_DIR/cert.pem" >"$LAB_DIR/openssl.log" 2>&1 ||
	{ cat "$LAB_DIR/openssl.log" >&2; lab_die "openssl req failed"; }
chmod 644 "$LAB_DIR/key.pem" "$LAB_DIR/cert.pem"

# tls_mx NAME IP DOMAIN LEVEL - a lab_postfix_mx with TLS at LEVEL
tls_mx()
{
	local name=$1 ip=$2 domain=$3 level=$4 d
	lab_postfix_mx "$name" "$ip" "$domain" alice bob
	d=$(lab_postfix_dir "$name")
	if [ "$level" != none ]; then
		lab_postfix_set "$name" "smtpd_tls_cert_file = $LAB_DIR/cert.pem" \
			"smtpd_tls_key_file = $LAB_DIR/key.pem" \
			"smtpd_tls_security_level = $level" "smtpd_tls_loglevel = 1"
		echo 'tlsmgr    unix  -       -       n       1000?   1       tlsmgr' >>"$d/conf/master.cf"
	fi
	lab_postfix_start "$name"
}
tls_mx may 127.0.0.2 tls.test may
tls_mx enc 127.0.0.3 enc.test encrypt
tls_mx strip 127.0.0.5 strip.test encrypt
tls_mx plain 127.0.0.6 plain.test none

# the STARTTLS-stripping relay: 127.0.0.4:25 -> 127.0.0.5:25
lab_spawn strip-relay perl -MIO::Socket::INET -MIO::Select -e '
	my ($lip, $lport, $uip, $uport) = @ARGV;
	$| = 1;
	my $l = IO::Socket::INET->new(LocalAddr => $lip, LocalPort => $lport, Listen => 16,
		ReuseAddr => 1) or die "listen: $!";
	$SIG{CHLD} = "IGNORE";
	print "ready\n";
	while (1) {
		my $c = $l->accept or next;
		print "accept\n";
		if (fork) { close $c; next }
		my $u = IO::Socket::INET->new(PeerAddr => $uip, PeerPort => $uport) or exit 1;
		my $sel = IO::Select->new($c, $u);
		my ($raw, $buf) = (0, "");
		while (my @r = $sel->can_read(30)) {
			for my $h (@r) {
				my $n = sysread($h, my $d, 16384);
				exit 0 unless $n;
				if ($h == $c) {
					$raw = 1 if $d =~ /^STARTTLS\r?$/mi;
					syswrite($u, $d);
				} elsif ($raw) {
					syswrite($c, $buf . $d);
					$buf = "";
				} else {
					$buf .= $d;
					while ($buf =~ s/^([^\n]*\n)//) {
						my $line = $1;
						if ($line =~ /^250-STARTTLS\r?\n$/i) { print "stripped\n"; next }
						syswrite($c, $line);
					}
				}
			}
		}
		exit 0;
	}' 127.0.0.4 25 127.0.0.5 25
lab_wait_file "$LAB_DIR/strip-relay.log" '^ready' || lab_die "the stripping relay did not start"
relay_conns()
{
	grep -c '^accept' "$LAB_DIR/strip-relay.log"
}

# probe [OPTION...] ADDRESS - sav-probe --json -v; sets J (JSON), T (the
# -v trace) and RC
probe()
{
	J=$("$PROBE" --json -v --resolver 127.0.0.1 --allow-private --helo probe.lab.test \
		--timeout 20 "$@" 2>"$LAB_DIR/trace")
	RC=$?
	T=$(cat "$LAB_DIR/trace")
	printf '=== %s\n%s\n%s\n' "$*" "$J" "$T" >>"$LAB_DIR/probes.log"
}

# order FIRST-ERE SECOND-ERE - "yes" when the trace has a line matching
# FIRST before the first one matching SECOND
order()
{
	printf '%s\n' "$T" | awk -v a="$1" -v b="$2" '
		$0 ~ a && !sa { sa = NR } $0 ~ b && !sb { sb = NR }
		END { print (sa && sb && sa < sb) ? "yes" : "no" }'
}

# the certificate names mx.lab.test, the MX is mx.tls.test: both reasons
TLSLINE='^tls: TLSv1\.3 TLS_[A-Z0-9_]+, untrusted \(self-signed, name mismatch\)$'

# ---------------------------------------------------------------------
# 1. STARTTLS offered

probe alice@tls.test
lab_check "offered: alice@tls.test is valid, over TLSv1.3" \
	"$(lab_json_str "$J" verdict)" valid "$(lab_json_str "$J" tls)" TLSv1.3 "$RC" 0
lab_like "$(printf '%s\n' "$T" | grep '^tls: ')" "$TLSLINE" \
	"offered: -v shows the tls: line (protocol, cipher, untrusted (self-signed, name mismatch))"
lab_check "offered: STARTTLS after the first EHLO, MAIL only after the handshake, EHLO again inside" \
	"$(order '^C: EHLO ' '^C: STARTTLS$')" yes "$(order '^S: 220 .*TLS' '^tls: ')" yes \
	"$(order '^tls: ' '^C: MAIL FROM:')" yes "$(printf '%s\n' "$T" | grep -c '^C: EHLO ')" 2
lab_like "$(grep -c 'TLS connection established from' "$(lab_postfix_log may)")" '^[1-9]' \
	"offered: Postfix logged the TLS session"

probe nobody@tls.test
lab_check "offered: nobody@tls.test is invalid (550 5.1.1 inside TLS)" \
	"$(lab_json_str "$J" verdict)" invalid "$(lab_json_num "$J" code)" 550 \
	"$(lab_json_str "$J" enhanced)" 5.1.1 "$(lab_json_str "$J" tls)" TLSv1.3

probe --tls never alice@tls.test
lab_check "offered, --tls never: valid in plaintext, no STARTTLS, \"tls\":null" \
	"$(lab_json_str "$J" verdict)" valid "$(lab_json_num "$J" tls)" null \
	"$(printf '%s\n' "$T" | grep -c '^C: STARTTLS')" 0

# ---------------------------------------------------------------------
# 2. TLS required (smtpd_tls_security_level = encrypt)

probe alice@enc.test
lab_check "required, may: alice@enc.test gets the real verdict (valid), over TLS" \
	"$(lab_json_str "$J" verdict)" valid "$(lab_json_str "$J" tls)" TLSv1.3
probe nobody@enc.test
lab_check "required, may: nobody@enc.test gets the real verdict (invalid)" \
	"$(lab_json_str "$J" verdict)" invalid "$(lab_json_str "$J" reason)" user-unknown

printf 'StrictNullSender yes\nProbeTLS never\n' >"$LAB_DIR/never.conf"
probe -c "$LAB_DIR/never.conf" alice@enc.test
lab_check "required, ProbeTLS never + StrictNullSender yes: unknown/starttls-required, never invalid" \
	"$(lab_json_str "$J" verdict)" unknown "$(lab_json_str "$J" reason)" starttls-required \
	"$(lab_json_num "$J" code)" 530 "$RC" 2 "$(lab_json_num "$J" tls)" null
printf 'StrictNullSender yes\n' >"$LAB_DIR/strict.conf"
probe -c "$LAB_DIR/strict.conf" --tls never nobody@enc.test
lab_check "required, --tls never + StrictNullSender yes: unknown/starttls-required for nobody too" \
	"$(lab_json_str "$J" verdict)" unknown "$(lab_json_str "$J" reason)" starttls-required
probe -c "$LAB_DIR/strict.conf" alice@enc.test
lab_check "required, may + StrictNullSender yes: valid" "$(lab_json_str "$J" verdict)" valid

# ---------------------------------------------------------------------
# 3. needs TLS, not advertised (the stripping relay), and the domain fact

DB=$LAB_DIR/cache.mdb
c0=$(relay_conns)
probe --cache "$DB" alice@strip.test
c1=$(relay_conns)
lab_check "not advertised: 530 in plaintext, then STARTTLS anyway: the real verdict (valid)" \
	"$(lab_json_str "$J" verdict)" valid "$(lab_json_str "$J" tls)" TLSv1.3 \
	"$((c1 - c0))" 2 "$(grep -c '^stripped' "$LAB_DIR/strip-relay.log")" ">=1"
lab_like "$(printf '%s\n' "$T" | grep 'asks for TLS')" 'probe: 530 in plaintext asks for TLS; again with STARTTLS' \
	"not advertised: the trace says why it asked again"
lab_like "$("$CACHE" -f "$DB" get strip.test 2>&1)" 'needs-tls' \
	"not advertised: the cache holds the domain fact needs-tls"
probe --cache "$DB" bob@strip.test
c2=$(relay_conns)
lab_check "needs-tls cached: the next probe starts TLS at once (one connection, valid)" \
	"$(lab_json_str "$J" verdict)" valid "$(lab_json_str "$J" tls)" TLSv1.3 "$((c2 - c1))" 1
lab_like "$(printf '%s\n' "$T" | grep 'needs TLS (cached)')" 'strip\.test needs TLS' \
	"needs-tls cached: the trace names the fact"
probe --cache "$DB" --tls never nobody@strip.test
lab_check "needs-tls cached, --tls never: the fact is ignored, unknown/starttls-required" \
	"$(lab_json_str "$J" verdict)" unknown "$(lab_json_str "$J" reason)" starttls-required

# ---------------------------------------------------------------------
# 4. the milter's decision line

command -v swaks >/dev/null || lab_die "swaks is not installed (make deps)"
CONF=$LAB_DIR/sav-milter.conf
mlab_milter_conf "$CONF" "ClientProbeRate 0"
mlab_milter_start "$CONF"
lab_postfix_front front 127.0.0.1:2525 "unix:$LAB_DIR/milter/sav.sock"
lab_postfix_start front
got=$(mlab_swaks alice@tls.test)
line=$(mlab_decision alice@tls.test)
lab_check "milter: alice@tls.test accepted, decision line has tls=TLSv1.3" "$got" "~^250 " \
	"$(mlab_field "$line" verdict)" valid "$(mlab_field "$line" tls)" TLSv1.3
lab_like "$(grep 'TLS connection established to mx.tls.test' "$LAB_DIR/milter.log" | head -1)" \
	'Untrusted TLS connection established to mx\.tls\.test\[127\.0\.0\.2\]:25: TLSv1\.3 with cipher TLS_[A-Z0-9_]+ \(self-signed, name mismatch\)$' \
	"milter: logs the session's trust as Postfix does"
got=$(mlab_swaks alice@plain.test)
line=$(mlab_decision alice@plain.test)
lab_check "milter: alice@plain.test (no TLS offered) has tls=none" \
	"$(mlab_field "$line" verdict)" valid "$(mlab_field "$line" tls)" none
got=$(mlab_swaks alice@tls.test)
line=$(mlab_decision alice@tls.test)
lab_check "milter: a cached verdict has no tls=" "$(mlab_field "$line" cache)" hit \
	"$(printf '%s\n' "$line" | grep -c ' tls=')" 0

lab_summary
