#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# demo.sh - `make demo`: sav-milter end to end in a private, loopback-only
# network namespace, in well under two minutes:
#
#   fake DNS (ldns-testns)  example.test MX mx.example.test = 127.0.0.2;
#                           no-such-domain.test does not exist (NXDOMAIN)
#   remote MX               a real Postfix on 127.0.0.2:25 for example.test,
#                           mailboxes alice and bob; grey@ is greylisted
#   front MTA               a real Postfix on 127.0.0.1:2525 with
#                           smtpd_milters = unix:.../sav-milter.sock
#   sav-milter              probes each sender's domain, as configured in
#                           the printed sav-milter.conf
#
# swaks sends four messages and the demo prints what the SMTP client saw
# and the milter's log line for each. Everything is removed at the end.
# Needs root (network namespaces, Postfix, ports 25 and 53 inside the
# namespace); without it, says so and exits 1.

[ -n "${BASH_VERSION-}" ] || exec bash "$0" "$@"

if [ "$(id -u)" != 0 ]; then
	cat >&2 <<'EOF'
make demo needs root: it creates a private network namespace (ip netns),
starts two Postfix instances and a fake DNS server inside it (ports 25
and 53 there, nothing outside), and installs missing Debian packages.
Run it as root, e.g.:  sudo make demo
EOF
	exit 1
fi

cd "$(dirname "$0")/../.." || exit 1
. tests/lab/lib.sh

missing=""
for c in ip ldns-testns postfix postconf swaks setsid; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -x "$LAB_BUILD/sav-milter" ] || missing="$missing $LAB_BUILD/sav-milter"
if [ -n "$missing" ]; then
	echo "demo: missing:$missing (run: make deps all)" >&2
	exit 1
fi

if ! lab_in_netns; then
	DEMO_T0=$(lab_now_ms)
	export DEMO_T0
	echo "sav-milter demo: setting up a private network namespace (only lo, nothing leaves it)"
fi
lab_isolate "$0" "$@"
. tests/lab/milter-lib.sh

lab_init demo

# --- the world ---------------------------------------------------------------
LAB_DNS_DATA=$LAB_DIR/dns.data
: >"$LAB_DNS_DATA"
lab_dns_mx example.test "10 mx.example.test."
lab_dns_a mx.example.test 127.0.0.2
lab_dns_rcode no-such-domain.test MX NXDOMAIN
lab_dns_fallback
lab_dns_start "$LAB_DNS_DATA"

lab_postfix_mx mx 127.0.0.2 example.test alice bob
lab_postfix_start mx

CONF=$LAB_DIR/sav-milter.conf
SOCK=$LAB_DIR/milter/sav.sock
mlab_milter_conf "$CONF"
mlab_milter_start "$CONF"

lab_postfix_front front 127.0.0.1:2525 "unix:$SOCK"
lab_postfix_start front

pfv=$(postconf -d -h mail_version 2>/dev/null)
cat <<EOF

  fake DNS      ldns-testns on 127.0.0.1:53
                  example.test         MX 10 mx.example.test (127.0.0.2)
                  no-such-domain.test  NXDOMAIN
  remote MX     Postfix $pfv on 127.0.0.2:25 for example.test
                  mailboxes: alice, bob; grey@ answers 450 4.7.1 (greylisting)
  front MTA     Postfix $pfv on 127.0.0.1:2525
                  smtpd_milters = unix:$SOCK
  sav-milter    $CONF:
EOF
sed 's/^/                  /' "$CONF"
echo

# --- the mail ------------------------------------------------------------------
ok=0
n=0
show()
{
	local what=$1 from=$2 want=$3 got line
	n=$((n + 1))
	got=$(mlab_swaks "$from")
	line=$(mlab_decision "$from")
	printf '%d. %s\n' "$n" "$what"
	printf '   swaks --from %s --to rcpt@dest.test --server 127.0.0.1:2525\n' "$from"
	printf '   SMTP reply:  %s\n' "$got"
	printf '   milter log:  %s\n' "${line#sav-milter: }"
	if printf '%s\n' "$got" | grep -Eq -- "$want"; then
		ok=$((ok + 1))
	else
		printf '   UNEXPECTED: wanted a reply matching /%s/\n' "$want"
	fi
	echo
}

show "a real sender is accepted" alice@example.test '^250 '
show "an unknown user at a real domain is rejected" nobody@example.test '^550 5\.1\.7 '
show "a domain that does not exist is rejected" someone@no-such-domain.test '^550 5\.1\.8 '
show "a greylisted sender is told to try again later" grey@example.test '^4[0-9][0-9] 4\.'

echo "what the remote MX saw (the probes, from its maillog):"
grep -E 'NOQUEUE: reject: RCPT|connect from' "$(lab_postfix_log mx)" | sed 's/^[A-Z][a-z][a-z] [ 0-9:]* [^ ]* /  /' | head -12
echo

t=$(( ($(lab_now_ms) - ${DEMO_T0:-$(lab_now_ms)}) / 1000 ))
if [ "$ok" -eq "$n" ]; then
	echo "demo: all $n outcomes as expected, in $t s; cleaning up"
	exit 0
fi
echo "demo: $ok of $n outcomes as expected, in $t s; cleaning up"
exit 1
