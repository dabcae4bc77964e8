#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# spf-lab.sh - ProbeWhen spf-not-pass end to end: sav-milter behind a
# real Postfix front MTA, the sender domains' SPF records served by the
# lab's authoritative DNS (ldns-testns), the probe's targets the lab's
# Postfix MX and fake servers (milter-lib.sh's world).
#
# Each case is one SMTP transaction from the lab's client address
# (127.0.0.9): the reply swaks saw, the milter's decision line (verdict,
# reason, spf=) and whether a probe happened (an MX query for the
# sender's domain). An SPF pass is accepted unprobed (skipped,
# spf-pass) and remembered; fail, softfail, neutral, none, permerror
# (include loop, more than 10 DNS-querying terms, two records, syntax)
# and temperror (SERVFAIL) go on to the probe, and none of them
# rejects mail by itself.

. "$(dirname "$0")/lib.sh"
lab_isolate "$0" "$@"
. "$(dirname "$0")/milter-lib.sh"

command -v swaks >/dev/null || lab_die "swaks is not installed (make deps)"
lab_init spf

txt()
{
	lab_dns_rrset TXT "$1" "\"$2\""
}

# the records; every domain the probe may reach gets its TXT answer
mlab_dns_extra()
{
	local d i inc=""
	txt pass.test "v=spf1 ip4:127.0.0.9 -all"
	lab_dns_mx pass.test "10 mx.example.test."
	txt incpass.test "v=spf1 include:pass.test -all"
	lab_dns_mx incpass.test "10 mx.example.test."
	txt mxpass.test "v=spf1 mx -all"
	lab_dns_mx mxpass.test "10 mx.mxpass.test."
	lab_dns_a mx.mxpass.test 127.0.0.9
	txt example.test "v=spf1 ip4:192.0.2.1 -all"
	txt catchall.test "v=spf1 ~all"
	txt policy.test "v=spf1 ?all"
	lab_dns_rcode nxdomain.test TXT NXDOMAIN
	# include loop, too many DNS-querying terms, two records, a syntax error
	txt loop1.test "v=spf1 include:loop2.test -all"
	txt loop2.test "v=spf1 include:loop1.test -all"
	lab_dns_mx loop1.test "10 mx.catchall.test."
	for i in $(seq 11); do
		inc="$inc include:i$i.test"
		txt "i$i.test" "v=spf1 -all"
	done
	txt many.test "v=spf1$inc ip4:127.0.0.9 -all"
	lab_dns_mx many.test "10 mx.catchall.test."
	lab_dns_rrset TXT two.test '"v=spf1 +all"' '"v=spf1 -all"'
	lab_dns_mx two.test "10 mx.catchall.test."
	txt syntax.test "v=spf1 ip4:300.0.0.1 +all"
	lab_dns_mx syntax.test "10 mx.catchall.test."
	# SERVFAIL on the record: temperror
	lab_dns_rcode tmp.test TXT SERVFAIL
	lab_dns_mx tmp.test "10 mx.catchall.test."
	# a domain with no SPF at all
	lab_dns_rcode nospf.test TXT NODATA
	lab_dns_mx nospf.test "10 mx.catchall.test."
	for d in slow.test nullmx.test servfail.test; do
		lab_dns_rcode "$d" TXT NODATA
	done
}

mlab_world

CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF" "ClientProbeRate 0" "ProbeWhen spf-not-pass" "SPFTimeout 3s"
mlab_milter_start "$CONF"
lab_postfix_front front 127.0.0.1:2525 "unix:$SOCK"
lab_postfix_start front

# case SENDER REPLY-ERE VERDICT REASON SPF PROBED(0|1) - one transaction
case_()
{
	local from=$1 want=$2 verdict=$3 reason=$4 spf=$5 probed=$6 got line dom=${1#*@}
	lab_dns_mark
	got=$(mlab_swaks "$from")
	line=$(mlab_decision "$from")
	sleep 0.2
	lab_check "<$from>: spf=$spf: $want, verdict=$verdict reason=$reason, probed: $probed" \
		"$got" "~^$want" "$(mlab_field "$line" verdict)" "$verdict" \
		"$(mlab_field "$line" reason)" "$reason" "$(mlab_field "$line" spf)" "$spf" \
		"$(mlab_field "$line" spf_ms)" "~^[0-9]+$" \
		"$(lab_dns_queries_since "$dom" MX)" "$probed"
}

case_ nobody@pass.test "250 " skipped spf-pass pass 0
# the pass is remembered for the domain and the client: no second TXT query
lab_dns_mark
got=$(mlab_swaks other@pass.test)
line=$(mlab_decision other@pass.test)
lab_check "remembered pass: another sender of pass.test from the same client: no new query for pass.test, no spf_ms" \
	"$got" "~^250 " "$(mlab_field "$line" reason)" spf-pass "$(lab_dns_queries_since pass.test)" 0 \
	"$(mlab_field "$line" spf)" pass "$line" "!~ spf_ms="
case_ nobody@incpass.test "250 " skipped spf-pass pass 0
# the mx mechanism asks for the MX itself (one query), but no probe follows
case_ nobody@mxpass.test "250 " skipped spf-pass pass 1
lab_is "$(lab_dns_queries mx.mxpass.test A)" 1 "mx mechanism: one address look-up of the exchange, then no probe"
case_ nobody@example.test "550 5\\.1\\.7 " invalid user-unknown fail 1
case_ alice@example.test "250 " valid user-ok fail 1
case_ anyone@catchall.test "250 " catch-all catch-all softfail 1
case_ someone@policy.test "250 " unknown policy-block neutral 1
case_ u@nospf.test "250 " catch-all catch-all none 1
case_ u@loop1.test "250 " catch-all catch-all permerror 1
case_ u@many.test "250 " catch-all catch-all permerror 1
case_ u@two.test "250 " catch-all catch-all permerror 1
case_ u@syntax.test "250 " catch-all catch-all permerror 1
case_ u@tmp.test "250 " catch-all catch-all temperror 1
case_ u@nxdomain.test "550 5\\.1\\.8 " bad-domain nxdomain none 1
lab_is "$(lab_dns_queries i11.test TXT)" 0 "more than 10 DNS-querying terms: the 11th include is never asked"
# the include loop ends at the term limit: at most 10 TXT look-ups of the pair
lab_check "include loop: bounded (at most 11 TXT queries for the two domains)" \
	"$(( $(lab_dns_queries loop1.test TXT) + $(lab_dns_queries loop2.test TXT) ))" "<=11"
# a client that SPF does not name, for a domain that passes 127.0.0.9
got=$(MLAB_CLIENT_IP=127.0.0.10 mlab_swaks bob@pass.test)
line=$(mlab_decision bob@pass.test)
lab_check "pass.test from another client (127.0.0.10): spf=fail, probed (the MX says 554 relay: unknown, accepted)" \
	"$(mlab_field "$line" spf)" fail "$(mlab_field "$line" reason)" "~^(policy-block|user-unknown|rcpt-syntax|undetermined)$"

lab_summary
