#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# probe-tls-lab.sh - sav-probe's STARTTLS against good and hostile TLS
# peers, inside a loopback-only network namespace.
#
# The world:
#   ldns-testns on 127.0.0.1:53, one domain per case, each with one MX
#     host mx.DOMAIN (two for inject2.test);
#   certificates made here with the openssl command: a self-signed one
#     for the MX names, an expired one (validity in 2020, signed with
#     `openssl ca -selfsign -startdate -enddate`, as OpenSSL 3.0 has no
#     negative -days) and one issued for another host name; and a lab CA
#     with a current, an expired and a wrong-name certificate of its own,
#     for the trust words of -v (trusted, expired, name mismatch, unknown
#     issuer) when the probe is given the CA by SSL_CERT_FILE;
#   fake_smtpd instances on 127.0.0.60 and up, one per behaviour: real
#     TLS with each certificate; garbage instead of a ServerHello (text,
#     and a bogus TLS record); a close right after "220 Ready to start
#     TLS"; a stall after it; a handshake trickled a byte per 100 ms;
#     plaintext replies injected in the 220's write; 454 to STARTTLS;
#     TLS required (530 to MAIL in plaintext) with STARTTLS offered,
#     without it offered, and with every handshake failing; other
#     extensions inside TLS than before; TLS 1.2 at most, and TLS 1.1
#     at most (below what the probe accepts).
#
# Before the probe cases, openssl s_client checks that each TLS server
# really serves what it claims (the certificate, its expiry, its name),
# so a passing probe case cannot come from a server that quietly did
# something else. Then each case runs sav-probe --json -v and checks
# the verdict, the "tls" JSON member and the -v "tls:" line, and from
# the fake servers' transcripts what went on the wire: connections,
# STARTTLS commands, whether MAIL and RCPT went inside TLS, the SNI,
# the client's plaintext after STARTTLS, how long a stalled handshake
# was waited for.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
lab_init probetls

PROBE=${PROBE:-$LAB_BUILD/sav-probe}
[ -x "$PROBE" ] || lab_die "no $PROBE (make all)"
command -v openssl >/dev/null || lab_die "no openssl command"

# ---------------------------------------------------------------------
# Certificates (P-256 keys: fast to make)

CERTS=$LAB_DIR/certs
mkdir -p "$CERTS/ca"
newkey()	# NAME CN SAN: key NAME.key and request NAME.csr
{
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$CERTS/$1.key" -out "$CERTS/$1.csr" -subj "/CN=$2" \
		-addext "subjectAltName=$3" 2>>"$LAB_DIR/openssl.log"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$CERTS/self.key" -out "$CERTS/self.pem" -subj /CN=mx.tlsok.test \
	-addext "subjectAltName=DNS:mx.tlsok.test,DNS:mx.inject.test,DNS:mx1.inject2.test,DNS:mx.tlsreq.test,DNS:mx.tls12.test,DNS:mx.tls11.test,DNS:mx.capdrop.test,DNS:mx.capadd.test" \
	2>>"$LAB_DIR/openssl.log" || lab_die "openssl: self-signed certificate"
# expired: a throw-away CA configuration signs the request with its own key
: >"$CERTS/ca/index.txt"
echo 01 >"$CERTS/ca/serial"
cat >"$CERTS/ca.cnf" <<EOF
[ ca ]
default_ca = lab
[ lab ]
dir = $CERTS/ca
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
commonName = supplied
EOF
newkey expired mx.expired.test DNS:mx.expired.test &&
openssl ca -batch -config "$CERTS/ca.cnf" -selfsign -keyfile "$CERTS/expired.key" \
	-in "$CERTS/expired.csr" -out "$CERTS/expired.pem" -notext \
	-startdate 20200101000000Z -enddate 20200201000000Z >>"$LAB_DIR/openssl.log" 2>&1 ||
	lab_die "openssl: expired certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$CERTS/wrong.key" -out "$CERTS/wrong.pem" -subj /CN=other.example.net \
	-addext "subjectAltName=DNS:other.example.net" \
	2>>"$LAB_DIR/openssl.log" || lab_die "openssl: wrong-name certificate"

# a lab CA and three certificates it issued: current, expired, for
# another name; the probe trusts the CA only where SSL_CERT_FILE says so
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" -subj "/CN=sav lab CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	2>>"$LAB_DIR/openssl.log" || lab_die "openssl: lab CA"
casign()	# NAME START END: sign NAME.csr with the lab CA
{
	openssl ca -batch -config "$CERTS/ca.cnf" -cert "$CERTS/ca.pem" -keyfile "$CERTS/ca.key" \
		-in "$CERTS/$1.csr" -out "$CERTS/$1.pem" -notext -startdate "$2" -enddate "$3" \
		>>"$LAB_DIR/openssl.log" 2>&1
}
now=$(date -u +%Y%m%d%H%M%SZ)
later=$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
{ newkey cagood mx.cagood.test DNS:mx.cagood.test && casign cagood "$now" "$later"; } ||
	lab_die "openssl: CA-issued certificate"
{ newkey caexp mx.caexp.test DNS:mx.caexp.test &&
	casign caexp 20200101000000Z 20200201000000Z; } || lab_die "openssl: CA-issued expired certificate"
{ newkey cawrong other.example.net DNS:other.example.net && casign cawrong "$now" "$later"; } ||
	lab_die "openssl: CA-issued wrong-name certificate"

openssl x509 -in "$CERTS/expired.pem" -noout -checkend 0 >/dev/null
exp_rc=$?
lab_check "certificates: the expired one ended in 2020, the others are current" \
	"$exp_rc" 1 "$(openssl x509 -in "$CERTS/expired.pem" -noout -enddate)" "~2020" \
	"$(openssl x509 -in "$CERTS/self.pem" -noout -checkend 86400 >/dev/null; echo $?)" 0
lab_check "certificates: the wrong-name one is not for mx.wrongname.test" \
	"$(openssl x509 -in "$CERTS/wrong.pem" -noout -checkhost mx.wrongname.test)" "~does NOT match" \
	"$(openssl x509 -in "$CERTS/self.pem" -noout -checkhost mx.tlsok.test)" "~does match"

# ---------------------------------------------------------------------
# DNS

LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
mx1()	# DOMAIN IP: one MX host "mx.DOMAIN" with one A record
{
	lab_dns_mx "$1" "10 mx.$1."
	lab_dns_a "mx.$1" "$2"
}
mx1 tlsok.test 127.0.0.60
mx1 expired.test 127.0.0.61
mx1 wrongname.test 127.0.0.62
mx1 garbage.test 127.0.0.63
mx1 garbin.test 127.0.0.64
mx1 close.test 127.0.0.65
mx1 stall.test 127.0.0.66
mx1 inject.test 127.0.0.67
lab_dns_mx inject2.test "10 mx1.inject2.test." "20 mx2.inject2.test."
lab_dns_a mx1.inject2.test 127.0.0.67
lab_dns_a mx2.inject2.test 127.0.0.68
mx1 g454.test 127.0.0.69
mx1 tlsreq.test 127.0.0.70
mx1 tlshide.test 127.0.0.71
mx1 tls12.test 127.0.0.72
mx1 tls11.test 127.0.0.73
mx1 cagood.test 127.0.0.74
mx1 caexp.test 127.0.0.75
mx1 cawrong.test 127.0.0.76
mx1 capdrop.test 127.0.0.77
mx1 capadd.test 127.0.0.78
mx1 reqgarb.test 127.0.0.79
mx1 trickle.test 127.0.0.80
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

# ---------------------------------------------------------------------
# SMTP servers (the real answers are 550 unless a line says otherwise;
# every hostile server would say 250 for u@ in a plaintext dialogue)

export LAB_FAKE_NOWAIT=1
SELF="-C $CERTS/self.pem -K $CERTS/self.key"
LAB_FAKE_OPTS=$SELF lab_fake_start tlsok 127.0.0.60:25 <<'EOF'
rcpt u@tlsok.test 250 2.1.5 Ok
EOF
LAB_FAKE_OPTS="-C $CERTS/expired.pem -K $CERTS/expired.key" lab_fake_start expired 127.0.0.61:25 <<'EOF'
rcpt u@expired.test 250 2.1.5 Ok
EOF
LAB_FAKE_OPTS="-C $CERTS/wrong.pem -K $CERTS/wrong.key" lab_fake_start wrongname 127.0.0.62:25 <<'EOF'
rcpt u@wrongname.test 250 2.1.5 Ok
EOF
lab_fake_start garbage 127.0.0.63:25 <<'EOF'
tls garbage
idle 30000
rcpt u@garbage.test 250 2.1.5 Ok
EOF
# a handshake record header, then bytes that are no ServerHello
lab_fake_start garbin 127.0.0.64:25 <<'EOF'
tls garbage \x16\x03\x03\x00\x0c\x02\x00\x00\x08\xde\xad\xbe\xef\x00\x00\x00\x00
idle 30000
rcpt u@garbin.test 250 2.1.5 Ok
EOF
lab_fake_start close 127.0.0.65:25 <<'EOF'
tls close
rcpt u@close.test 250 2.1.5 Ok
EOF
lab_fake_start stall 127.0.0.66:25 <<'EOF'
tls stall
idle 30000
rcpt u@stall.test 250 2.1.5 Ok
EOF
# the injected line would turn the real 550 into a 250 for a client
# that read it as an answer
LAB_FAKE_OPTS=$SELF lab_fake_start inject 127.0.0.67:25 <<'EOF'
tls inject 250 2.1.5 Ok (injected before the TLS handshake)|250 2.1.5 Ok (injected, second line)
EOF
lab_fake_start inject2b 127.0.0.68:25 <<'EOF'
rcpt default 550 5.1.1 <u@inject2.test>: mx2 says user unknown
EOF
lab_fake_start g454 127.0.0.69:25 <<'EOF'
tls-offer yes
starttls 454 4.7.0 TLS not available due to local problem
rcpt u@g454.test 250 2.1.5 Ok
EOF
LAB_FAKE_OPTS=$SELF lab_fake_start tlsreq 127.0.0.70:25 <<'EOF'
tls-required
rcpt u@tlsreq.test 250 2.1.5 Ok
EOF
# demands TLS, never offers it (as behind a firewall that rewrites the
# STARTTLS keyword), and does not know the command
lab_fake_start tlshide 127.0.0.71:25 <<'EOF'
tls-required
tls-offer no
ehlo 250-fake.test|250-XXXXXXXA|250-PIPELINING|250 8BITMIME
starttls 500 5.5.2 Error: command not recognized
rcpt * 250 2.1.5 Ok
EOF
LAB_FAKE_OPTS=$SELF lab_fake_start tls12 127.0.0.72:25 <<'EOF'
tls-max 1.2
rcpt u@tls12.test 250 2.1.5 Ok
EOF
# TLS 1.1 at most: below what the probe accepts
LAB_FAKE_OPTS=$SELF lab_fake_start tls11 127.0.0.73:25 <<'EOF'
tls-max 1.1
rcpt u@tls11.test 250 2.1.5 Ok
EOF
for c in cagood:74 caexp:75 cawrong:76; do
	n=${c%:*}
	LAB_FAKE_OPTS="-C $CERTS/$n.pem -K $CERTS/$n.key" lab_fake_start "$n" "127.0.0.${c#*:}:25" \
		<<<"rcpt u@$n.test 250 2.1.5 Ok"
done
# other extensions inside TLS than before it: PIPELINING withdrawn, added
LAB_FAKE_OPTS=$SELF lab_fake_start capdrop 127.0.0.77:25 <<'EOF'
ehlo 250-fake.test|250-PIPELINING|250 8BITMIME
tls-ehlo 250-fake.test|250 8BITMIME
rcpt u@capdrop.test 250 2.1.5 Ok
EOF
LAB_FAKE_OPTS=$SELF lab_fake_start capadd 127.0.0.78:25 <<'EOF'
ehlo 250-fake.test|250 8BITMIME
tls-ehlo 250-fake.test|250-PIPELINING|250 8BITMIME
rcpt u@capadd.test 250 2.1.5 Ok
EOF
# a real handshake, one byte every 100 ms (about 75 s in all): every
# read is quick, the whole is far beyond a step's time
LAB_FAKE_OPTS=$SELF lab_fake_start trickle 127.0.0.80:25 <<'EOF'
tls trickle 1 100
idle 30000
rcpt u@trickle.test 250 2.1.5 Ok
EOF
# demands TLS, and its handshake always fails
lab_fake_start reqgarb 127.0.0.79:25 <<'EOF'
tls-required
tls garbage
idle 30000
rcpt * 250 2.1.5 Ok
EOF
unset LAB_FAKE_NOWAIT
lab_fake_wait

# ---------------------------------------------------------------------
# The servers themselves, seen by openssl s_client

# sclient IP NAME [OPTIONS...] - a STARTTLS session with openssl
# s_client (-brief): prints its summary lines
sclient()
{
	local ip=$1 name=$2
	shift 2
	echo QUIT | timeout 10 openssl s_client -starttls smtp -connect "$ip:25" \
		-servername "$name" -brief "$@" 2>&1
}
S=$(sclient 127.0.0.60 mx.tlsok.test -CAfile "$CERTS/self.pem" -verify_hostname mx.tlsok.test)
lab_check "server: real TLS with the self-signed certificate (s_client: established, verifies against it)" \
	"$S" "~CONNECTION ESTABLISHED" "$S" "~Verification: OK" "$S" "~Protocol version: TLSv1\\.3" \
	"$(grep -c ' TLS established TLSv1.3 [^ ]* sni=mx.tlsok.test$' "$LAB_DIR/tlsok.tr")" 1
S=$(sclient 127.0.0.61 mx.expired.test -CAfile "$CERTS/expired.pem")
lab_check "server: serves the expired certificate" \
	"$S" "~CONNECTION ESTABLISHED" "$S" "~Verification error: certificate has expired"
S=$(sclient 127.0.0.62 mx.wrongname.test -CAfile "$CERTS/wrong.pem" -verify_hostname mx.wrongname.test)
lab_check "server: serves a certificate for another name" \
	"$S" "~CONNECTION ESTABLISHED" "$S" "~Verification error: hostname mismatch"
S=$(sclient 127.0.0.63 mx.garbage.test)
lab_check "server: garbage after the ClientHello (s_client: no handshake)" \
	"$S" "!~CONNECTION ESTABLISHED" "$(grep -c ' TLS garbage sent 41 bytes after a [0-9]*-byte ClientHello' "$LAB_DIR/garbage.tr")" 1
S=$(sclient 127.0.0.65 mx.close.test)
lab_check "server: closes after the 220 (s_client: EOF, or a reset for its ClientHello)" \
	"$S" "~unexpected eof|errno=104" "$(grep -c ' CLOSE right after the 220 to STARTTLS' "$LAB_DIR/close.tr")" 1
# raw IP CMDS - a plaintext session (bash /dev/tcp): send CMDS (\r\n
# escapes) after the greeting, print what came back within 2 s
raw()
{
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/25" || exit 1; printf "$2" >&3; timeout 2 cat <&3' raw "$1" "$2"
}
S=$(raw 127.0.0.67 'EHLO lab\r\nSTARTTLS\r\n')
lab_check "server: injection: the 220 and both injected lines come back to a plaintext STARTTLS" \
	"$S" "~250-STARTTLS" "$S" "~220 2\.0\.0 Ready to start TLS" \
	"$(printf '%s\n' "$S" | grep -c 'injected')" 2
S=$(raw 127.0.0.70 'EHLO lab\r\nMAIL FROM:<>\r\nQUIT\r\n')
lab_check "server: TLS required: STARTTLS offered, 530 to MAIL in plaintext" \
	"$S" "~250-STARTTLS" "$S" "~530 5\.7\.0 Must issue a STARTTLS command first"
S=$(raw 127.0.0.71 'EHLO lab\r\nMAIL FROM:<>\r\nSTARTTLS\r\nQUIT\r\n')
lab_check "server: TLS required, not offered: no STARTTLS in EHLO, 530 to MAIL, 500 to STARTTLS" \
	"$S" "!~250[- ]STARTTLS" "$S" "~530 5\.7\.0 " "$S" "~500 5\.5\.2 "
S=$(raw 127.0.0.69 'EHLO lab\r\nSTARTTLS\r\nQUIT\r\n')
lab_check "server: 454: STARTTLS offered and answered 454 4.7.0" \
	"$S" "~250-STARTTLS" "$S" "~454 4\.7\.0 TLS not available due to local problem"
S=$(sclient 127.0.0.72 mx.tls12.test)
lab_check "server: tls-max 1.2: the handshake is TLS 1.2" "$S" "~Protocol version: TLSv1\\.2"
S=$(sclient 127.0.0.73 mx.tls11.test -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
S2=$(sclient 127.0.0.73 mx.tls11.test)
lab_check "server: tls-max 1.1: TLS 1.1 for a client that allows it, no handshake for one that wants 1.2" \
	"$S" "~Protocol version: TLSv1\\.1" "$S2" "!~CONNECTION ESTABLISHED"
S=$(sclient 127.0.0.74 mx.cagood.test -CAfile "$CERTS/ca.pem" -verify_hostname mx.cagood.test)
S2=$(sclient 127.0.0.75 mx.caexp.test -CAfile "$CERTS/ca.pem" -verify_hostname mx.caexp.test)
S3=$(sclient 127.0.0.76 mx.cawrong.test -CAfile "$CERTS/ca.pem" -verify_hostname mx.cawrong.test)
lab_check "server: certificates from the lab CA: one verifies, one expired, one for another name" \
	"$S" "~Verification: OK" "$S2" "~Verification error: certificate has expired" \
	"$S3" "~Verification error: hostname mismatch"
tls_fake0=$(lab_conns_total)

# ---------------------------------------------------------------------
# Running the probe

NPROBE=0
# sp [ARGS...] - sav-probe --json -v with a fresh configuration (short
# step time-outs, its own cache file unless $SP_CACHE names one, plus
# the lines of $CONF_EXTRA; $SP_ENV: environment words for the probe);
# sets J, RC, MS, V, R, CODE, TLS (the "tls" member: protocol or
# "null"), VTLS (the -v "tls:" line) and SP_ERR (the -v trace).
sp()
{
	local t0 conf
	NPROBE=$((NPROBE + 1))
	conf=$LAB_DIR/probe-$NPROBE.conf
	printf '%s\n' "Resolver 127.0.0.1" "AllowPrivateTargets yes" \
		"ConnectTimeout 1s" "GreetingTimeout 1s" "CommandTimeout 2s" \
		"CacheFile ${SP_CACHE:-$LAB_DIR/cache-$NPROBE.mdb}" >"$conf"
	[ -n "${CONF_EXTRA-}" ] && printf '%s\n' "$CONF_EXTRA" >>"$conf"
	SP_ERR=$LAB_DIR/probe-$NPROBE.err
	SP_CMD="${SP_ENV:+$SP_ENV }sav-probe --json -v -c $conf $*"
	t0=$(lab_now_ms)
	# shellcheck disable=SC2086
	env ${SP_ENV-} timeout 60 "$PROBE" --json -v -c "$conf" "$@" >"$LAB_DIR/probe-$NPROBE.out" \
		2>"$SP_ERR"
	RC=$?
	MS=$(( $(lab_now_ms) - t0 ))
	J=$(head -n 1 "$LAB_DIR/probe-$NPROBE.out")
	V=$(lab_json_str "$J" verdict)
	R=$(lab_json_str "$J" reason)
	CODE=$(lab_json_num "$J" code)
	TLS=$(lab_json_str "$J" tls)
	[ -z "$TLS" ] && printf '%s' "$J" | grep -q '"tls":null' && TLS=null
	VTLS=$(grep -E '(^|[^a-z])tls: ' "$SP_ERR" | head -1)
}

expect()
{
	local f=$LAB_FAIL
	lab_check "$@"
	if [ "$LAB_FAIL" -gt "$f" ]; then
		lab_diag "command: $SP_CMD"
		lab_diag "json: $J"
		lab_diag "exit $RC, ${MS} ms"
		tail -n 15 "$SP_ERR" | sed 's/^/#   /'
	fi
}

# Transcript queries. Connection numbers start at 1 in each transcript;
# SINCE counts only connections after that number (take it with
# lab_fake_conns before a run).

# cmds NAME SINCE WHERE ERE - client lines matching ERE, WHERE tls
# (inside a TLS session), plain (outside) or any
cmds()
{
	awk -v since="$2" -v where="$3" -v re="$4" '
		$1 + 0 <= since + 0 { next }
		$2 == "TLS" && $3 == "established" { t[$1] = 1; next }
		$2 == "C:" {
			l = $0; sub(/^[0-9]+ C: /, "", l)
			if (l !~ re) next
			if (where == "any" || (where == "tls") == ($1 in t)) c++
		}
		END { print c + 0 }' "$LAB_DIR/$1.tr"
}

# events NAME SINCE ERE - transcript lines (connection number removed)
# of the connections after SINCE that match ERE
events()
{
	awk -v since="$2" -v re="$3" '
		$1 ~ /^[0-9]+$/ && $1 + 0 > since + 0 {
			l = $0; sub(/^[0-9]+ /, "", l); if (l ~ re) c++
		}
		END { print c + 0 }' "$LAB_DIR/$1.tr"
}

# tls_pipelined NAME SINCE - reads inside TLS that held several lines
tls_pipelined()
{
	awk -v since="$2" '$1 + 0 <= since + 0 { next }
		$2 == "TLS" && $3 == "established" { t[$1] = 1 }
		$2 == "PIPELINED" && ($1 in t) { c++ } END { print c + 0 }' "$LAB_DIR/$1.tr"
}

# conn_cmds NAME N ERE - client lines of connection N matching ERE
conn_cmds()
{
	awk -v n="$2" -v re="$3" '$1 == n && $2 == "C:" {
		l = $0; sub(/^[0-9]+ C: /, "", l); if (l ~ re) c++ } END { print c + 0 }' "$LAB_DIR/$1.tr"
}

# ---------------------------------------------------------------------
# Good TLS: self-signed, expired, wrong name (all fine in "may")

n0=$(lab_fake_conns tlsok)
sp u@tlsok.test
expect "tls: self-signed certificate: valid, the RCPT inside TLS, one connection" \
	"$V" valid "$R" user-ok "$RC" 0 "$(( $(lab_fake_conns tlsok) - n0 ))" 1 \
	"$(events tlsok "$n0" '^TLS established TLSv1\.[23] ')" 1 \
	"$(cmds tlsok "$n0" tls '^RCPT TO:<u@tlsok.test>$')" 1 \
	"$(cmds tlsok "$n0" plain '^(MAIL|RCPT)')" 0
expect "tls: self-signed: JSON tls is the protocol, -v says untrusted (self-signed)" \
	"$TLS" "~^TLSv1\\.[23]$" "$VTLS" "~tls: TLSv1\\.[23] [A-Z0-9_-]+, untrusted \\(self-signed\\)"
expect "tls: SNI is the MX host name; EHLO again inside TLS; nothing pipelined after STARTTLS" \
	"$(events tlsok "$n0" '^TLS established .* sni=mx\.tlsok\.test$')" 1 \
	"$(cmds tlsok "$n0" tls '^EHLO ')" 1 "$(cmds tlsok "$n0" plain '^EHLO ')" 1 \
	"$(events tlsok "$n0" '^TLS plaintext after STARTTLS')" 0

n0=$(lab_fake_conns tlsok)
sp --tls never u@tlsok.test
expect "tls: --tls never: plaintext, no STARTTLS sent, tls null, still valid" \
	"$V" valid "$TLS" null "$(cmds tlsok "$n0" any '^STARTTLS')" 0 \
	"$(cmds tlsok "$n0" plain '^RCPT TO:<u@tlsok.test>$')" 1

n0=$(lab_fake_conns tlsok)
sp nobody@tlsok.test
expect "tls: an unknown user inside TLS: invalid user-unknown" \
	"$V" invalid "$R" user-unknown "$CODE" 550 "$(cmds tlsok "$n0" tls '^RCPT TO:<nobody@tlsok.test>$')" 1

# both certificates are self-signed too: every reason is named, not only the first
for c in expired:expired wrongname:"name mismatch"; do
	why=${c#*:}
	c=${c%%:*}
	n0=$(lab_fake_conns $c)
	sp "u@$c.test"
	lab_diag "tls: $c certificate: -v says: ${VTLS:-nothing}"
	expect "tls: $c certificate, ProbeTLS may: valid inside TLS, untrusted (self-signed, $why), one connection" \
		"$V" valid "$RC" 0 "$TLS" "~^TLSv1\\.[23]$" \
		"$VTLS" "~tls: TLSv1\\.[23] [A-Z0-9_-]+, untrusted \\(self-signed, $why\\)\$" \
		"$(cmds $c "$n0" tls "^RCPT TO:<u@$c.test>\$")" 1 "$(( $(lab_fake_conns $c) - n0 ))" 1
done

n0=$(lab_fake_conns tls12)
sp u@tls12.test
expect "tls: a TLS 1.2 server: valid inside TLS, JSON tls TLSv1.2, -v says so" \
	"$V" valid "$TLS" TLSv1.2 "$VTLS" "~tls: TLSv1\\.2 [A-Z0-9_-]+, untrusted \\(self-signed\\)" \
	"$(cmds tls12 "$n0" tls '^RCPT TO:<u@tls12.test>$')" 1

# The EHLO inside TLS replaces the one before it
n0=$(lab_fake_conns capdrop)
sp u@capdrop.test
expect "tls: PIPELINING offered before TLS, not inside: valid, nothing pipelined inside TLS" \
	"$V" valid "$(tls_pipelined capdrop "$n0")" 0 "$(cmds capdrop "$n0" tls '^RCPT TO:')" 2 \
	"$(cmds capdrop "$n0" tls '^EHLO ')" 1
n0=$(lab_fake_conns capadd)
sp u@capadd.test
expect "tls: PIPELINING offered only inside TLS: valid, MAIL, both RCPTs and QUIT pipelined inside TLS" \
	"$V" valid "$(events capadd "$n0" '^PIPELINED 4$')" 1 "$(tls_pipelined capadd "$n0")" 1 \
	"$(cmds capadd "$n0" tls '^RCPT TO:')" 2

# The reason words past "self-signed": a chain to a CA the probe trusts
# (SSL_CERT_FILE: OpenSSL's default trust store, which the probe uses)
SP_ENV="SSL_CERT_FILE=$CERTS/ca.pem"
sp u@cagood.test
expect "tls: a certificate from a CA the probe trusts: valid, -v says trusted" \
	"$V" valid "$VTLS" "~tls: TLSv1\\.[23] [A-Z0-9_-]+, trusted\$"
sp u@caexp.test
expect "tls: an expired certificate from a trusted CA: valid, -v says untrusted (expired)" \
	"$V" valid "$VTLS" "~, untrusted \\(expired\\)\$"
sp u@cawrong.test
expect "tls: a trusted CA's certificate for another name: valid, -v says untrusted (name mismatch)" \
	"$V" valid "$VTLS" "~, untrusted \\(name mismatch\\)\$"
unset SP_ENV
sp u@cagood.test
expect "tls: the same certificate without the CA in the trust store: valid, -v says untrusted (unknown issuer)" \
	"$V" valid "$VTLS" "~, untrusted \\(unknown issuer\\)\$"

# ---------------------------------------------------------------------
# Failed handshakes: one plaintext retry on the same host, never a loop

for c in garbage garbin close stall trickle tls11; do
	n0=$(lab_fake_conns $c)
	sp --timeout 15 "u@$c.test"
	lab_diag "tls: $c: $(( $(lab_fake_conns $c) - n0 )) connections, verdict $V/$R, ${MS} ms"
	expect "tls: $c after the 220: STARTTLS once, at most one plaintext retry, within the time-out" \
		"$(cmds $c "$n0" any '^STARTTLS')" 1 "$(( $(lab_fake_conns $c) - n0 ))" "<=2" \
		"$MS" "<=8000" "$V" "~^(valid|tempfail|unknown)$"
	expect "tls: $c: reconnected once in plaintext, no STARTTLS there, the real verdict (valid)" \
		"$(( $(lab_fake_conns $c) - n0 ))" 2 "$(conn_cmds $c $((n0 + 2)) '^STARTTLS')" 0 \
		"$(conn_cmds $c $((n0 + 2)) '^RCPT TO:<u@'"$c"'.test>$')" 1 \
		"$(conn_cmds $c $((n0 + 1)) '^(MAIL|RCPT)')" 0 "$V" valid "$RC" 0 "$TLS" null
done
# the stalled handshake: how long the client waited, seen by the server
st=$(sed -n 's/^[0-9]* TLS stall: received \([0-9]*\) bytes, client closed after \([0-9]*\) ms$/\1 \2/p' \
	"$LAB_DIR/stall.tr" | tail -1)
lab_diag "tls: stall: the client sent ${st%% *} bytes (its ClientHello) and gave up after ${st##* } ms"
lab_check "tls: stalled handshake: the client sent a ClientHello and hung up within CommandTimeout (2 s) plus 1 s" \
	"${st%% *}" ">=1" "${st##* }" "<=3000"
tr=$(sed -n 's/^[0-9]* TLS failed client closed after \([0-9]*\) ms, \([0-9]*\) bytes of the handshake sent$/\1 \2/p' \
	"$LAB_DIR/trickle.tr" | tail -1)
lab_diag "tls: trickled handshake: the client hung up after ${tr%% *} ms, ${tr##* } bytes of it received"
lab_check "tls: handshake trickled a byte per 100 ms: the whole handshake under one step deadline (gone within 3 s, not per read)" \
	"${tr%% *}" "<=3000" "${tr%% *}" ">=1000" "$(grep -c ' TLS established' "$LAB_DIR/trickle.tr")" 0

# ---------------------------------------------------------------------
# STARTTLS response injection

n0=$(lab_fake_conns inject)
sp u@inject.test
expect "tls: plaintext injected after the 220: tempfail protocol-error, never valid, no MAIL or RCPT sent" \
	"$V" tempfail "$R" protocol-error "$RC" 2 "$(( $(lab_fake_conns inject) - n0 ))" 1 \
	"$(cmds inject "$n0" any '^(MAIL|RCPT)')" 0
inj=$(grep -c 'injected' "$LAB_DIR/probe-$NPROBE.out")
expect "tls: the injected line is never an answer (not in the JSON)" "$inj" 0

n0=$(lab_fake_conns inject) m0=$(lab_fake_conns inject2b)
sp u@inject2.test
expect "tls: injection at MX 1, MX 2 answers 550: invalid from MX 2, MX 1 got no MAIL or RCPT" \
	"$V" invalid "$R" user-unknown "$RC" 1 "$(cmds inject "$n0" any '^(MAIL|RCPT)')" 0 \
	"$(( $(lab_fake_conns inject2b) - m0 ))" 1 "$(cmds inject2b "$m0" any '^RCPT TO:<u@inject2.test>$')" 1 \
	"$(lab_json_str "$J" reply)" "!~injected"

# ---------------------------------------------------------------------
# 454 to STARTTLS

n0=$(lab_fake_conns g454)
sp u@g454.test
lab_diag "tls: 454: $(( $(lab_fake_conns g454) - n0 )) connections"
expect "tls: STARTTLS answered 454: one STARTTLS, the dialogue in plaintext gives the real verdict (valid)" \
	"$V" valid "$RC" 0 "$TLS" null "$(cmds g454 "$n0" any '^STARTTLS')" 1 \
	"$(cmds g454 "$n0" plain '^RCPT TO:<u@g454.test>$')" 1 "$(( $(lab_fake_conns g454) - n0 ))" "<=2"

# ---------------------------------------------------------------------
# TLS required

for strict in no yes; do
	CONF_EXTRA="StrictNullSender $strict"
	n0=$(lab_fake_conns tlsreq)
	sp u@tlsreq.test
	expect "tls: TLS required and offered (StrictNullSender $strict): valid via TLS, never a 530" \
		"$V" valid "$(cmds tlsreq "$n0" tls '^RCPT TO:<u@tlsreq.test>$')" 1 \
		"$(events tlsreq "$n0" '^S: 530 ')" 0 "$(( $(lab_fake_conns tlsreq) - n0 ))" 1
	n0=$(lab_fake_conns tlsreq)
	sp nobody@tlsreq.test
	expect "tls: TLS required and offered (StrictNullSender $strict): an unknown user is invalid user-unknown via TLS" \
		"$V" invalid "$R" user-unknown "$CODE" 550 \
		"$(cmds tlsreq "$n0" tls '^RCPT TO:<nobody@tlsreq.test>$')" 1
	n0=$(lab_fake_conns tlsreq)
	sp --tls never u@tlsreq.test
	expect "tls: TLS required, --tls never (StrictNullSender $strict): unknown starttls-required, never invalid" \
		"$V" unknown "$R" starttls-required "$RC" 2 "$(cmds tlsreq "$n0" any '^STARTTLS')" 0 \
		"$(( $(lab_fake_conns tlsreq) - n0 ))" "<=2"

	n0=$(lab_fake_conns tlshide)
	sp u@tlshide.test
	lab_diag "tls: TLS required, not offered: $(( $(lab_fake_conns tlshide) - n0 )) connections, $(cmds tlshide "$n0" any '^STARTTLS') STARTTLS"
	expect "tls: TLS required but not offered (StrictNullSender $strict): unknown starttls-required, never invalid, no loop" \
		"$V" unknown "$R" starttls-required "$RC" 2 "$(( $(lab_fake_conns tlshide) - n0 ))" "<=2" \
		"$(cmds tlshide "$n0" any '^STARTTLS')" "<=1"

	# TLS demanded, and every handshake fails: the "needs TLS" answer must
	# not send the probe round in circles, now or from the cache
	n0=$(lab_fake_conns reqgarb)
	SP_CACHE=$LAB_DIR/reqgarb-$strict.mdb
	sp u@reqgarb.test
	lab_diag "tls: TLS required, handshake fails (StrictNullSender $strict): $(( $(lab_fake_conns reqgarb) - n0 )) connections, $(cmds reqgarb "$n0" any '^STARTTLS') STARTTLS, $V/$R, ${MS} ms"
	expect "tls: TLS required, every handshake fails (StrictNullSender $strict): never invalid, at most 3 connections and 2 STARTTLS" \
		"$V" "~^(unknown|tempfail)$" "$RC" 2 "$(( $(lab_fake_conns reqgarb) - n0 ))" "<=3" \
		"$(cmds reqgarb "$n0" any '^STARTTLS')" "<=2" "$MS" "<=8000"
	n0=$(lab_fake_conns reqgarb)
	sp u2@reqgarb.test
	lab_diag "tls: the same, second address with the cache: $(( $(lab_fake_conns reqgarb) - n0 )) connections, $V/$R"
	expect "tls: TLS required, every handshake fails, second address from the same cache (StrictNullSender $strict): never invalid, at most 3 connections" \
		"$V" "~^(unknown|tempfail)$" "$RC" 2 "$(( $(lab_fake_conns reqgarb) - n0 ))" "<=3" \
		"$(cmds reqgarb "$n0" any '^STARTTLS')" "<=2"
	unset SP_CACHE
done
unset CONF_EXTRA

lab_diag "$NPROBE sav-probe runs, $(( $(lab_conns_total) - tls_fake0 )) connections"
lab_summary
