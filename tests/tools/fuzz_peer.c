/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_peer - the hostile-peer fuzzer: a fake DNS server and a fake
 * SMTP server in one process, both driven by a seeded generator, and
 * sav-probe run against them once per dialogue, judged by oracles.
 * For the lab only (tests/lab/fuzzpeer-lab.sh runs it inside a
 * loopback-only network namespace, where ports 25 and 53 are free).
 *
 * USAGE
 *	fuzz_peer -p SAV_PROBE [-s SEED] [-n N] [-i INDEX] [-t TIMEOUT] [-v]
 *
 *	-p	the sav-probe to run (the ASan+UBSan build, best)
 *	-s	seed of the run (default 1); dialogue i uses seed*1000003+i
 *	-n	dialogues (default 300)
 *	-i	run only dialogue INDEX of the seed (to reproduce a failure)
 *	-t	sav-probe --timeout (default 2 seconds)
 *	-v	print every dialogue's scenario and sav-probe's verdict
 *
 * Each dialogue probes u<i>@d<i>.test. The DNS server answers the MX
 * and A/AAAA questions for d<i>.test as the scenario says: normal (MX
 * mx.d<i>.test -> 127.0.0.1), NXDOMAIN, SERVFAIL, truncated over UDP
 * (the TCP answer is whole), a packet cut short, garbage, silence, a
 * CNAME loop, a null MX, or an MX that resolves to 0.0.0.0 only. The
 * SMTP server on 127.0.0.1:25 answers each stage (greeting, EHLO or
 * HELO, MAIL, the real RCPT, the catch-all RCPT, QUIT) with a reply
 * drawn from a table and, now and then, a deviation: an extra reply
 * (in the same write or a moment later), a reply of a class that
 * cannot answer the command, a 250 before the greeting, a line of
 * 3000 bytes, a flood of 100 continuation lines, a reset, silence,
 * or every byte dripped one at a time within the deadlines.
 *
 * ORACLES (a failure prints the seed and index that reproduce it)
 *	- sav-probe exits within --timeout + 2 s, with status 0, 1 or 2,
 *	  and no sanitizer report on stderr;
 *	- "valid" needs a connection in which the server answered the
 *	  real RCPT with a 2xx (or a full mailbox), with no deviation up to
 *	  and including that reply; "invalid" likewise needs a mailbox-level 5xx
 *	  (verdict_classify_rcpt says RCPT_NO_MAILBOX) with the code of
 *	  the JSON result;
 *	- an MX that resolves only to 0.0.0.0 is never connected to;
 *	- every command line the probe sent ends in CRLF, holds no other
 *	  CR, LF or NUL and is at most 512 octets.
 * Prints one line per failure and "fuzz_peer: N dialogues, F failures"
 * at the end, with the verdicts seen; exits 1 on any failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "verdict.h"

extern char **environ;

enum dns_mode {
	DNS_NORMAL, DNS_NX, DNS_SERVFAIL, DNS_TRUNC, DNS_SHORT, DNS_GARBAGE, DNS_SILENT,
	DNS_CNAME_LOOP, DNS_NULLMX, DNS_ZERO, DNS_MODES
};
static const char *const dns_names[DNS_MODES] = {
	"normal", "nxdomain", "servfail", "truncated", "short", "garbage", "silent",
	"cname-loop", "null-mx", "zero",
};

/* how one reply of the server deviates, if at all */
enum dev {
	DEV_NONE, DEV_EXTRA_SAME, DEV_EXTRA_LATER, DEV_WRONG_CLASS, DEV_HUGE, DEV_FLOOD,
	DEV_RESET, DEV_SILENT, DEV_CLOSE, DEV_MULTI, DEVS
};
static const char *const dev_names[DEVS] = {
	"", "+extra", "+extra-later", "+wrong-class", "+huge", "+flood", "+reset", "+silent",
	"+close", "+multi",
};

enum stage { S_GREET, S_EHLO, S_MAIL, S_RCPT, S_RANDOM, S_QUIT, S_OTHER, STAGES };
static const char *const stage_names[STAGES] = {
	"greeting", "ehlo", "mail", "rcpt", "random", "quit", "other",
};

struct scen {
	unsigned idx;
	uint64_t rng;
	enum dns_mode dns;
	int	pipelining;
	int	drip;			/* every byte dripped, 1 ms apart */
	int	early250;		/* a 250 line before the greeting */
	const char *reply[STAGES];
	enum dev dev[STAGES];
	char	domain[64], address[96];
};

/* what the server did in one connection: the ground truth */
struct conn_log {
	unsigned idx;			/* the dialogue it belongs to */
	int	deviated;		/* a deviation happened so far */
	int	rcpt_seen;		/* the real RCPT got an answer */
	int	rcpt_clean;		/* ... with no deviation up to and including it */
	char	rcpt_reply[512];
	int	bad_line;		/* a command line broke the wire rules */
};

#define CONNS_MAX	8

static struct {
	pthread_mutex_t mu;
	struct scen sc;
	int	active;
	int	nconn;
	struct conn_log conn[CONNS_MAX];
	volatile int stop;
	int	udp, tcp, smtp;
} W = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int verbose;
static int probe_timeout = 2;	/* sav-probe --timeout, seconds */

static uint32_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return (uint32_t)(x >> 16);
}

static unsigned
pick(uint64_t *s, unsigned n)
{
	return rnd(s) % n;
}

/* ---- the scenario ---- */

static const char *const greet_r[] = {
	"220 mx.peer.test ESMTP", "220-mx.peer.test ESMTP\r\n220-more text\r\n220 ready",
	"421 4.3.2 too busy", "554 5.7.1 no service here", "220 mx.peer.test\n",
};
static const char *const ehlo_r[] = {
	"250-mx.peer.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8",
	"250-mx.peer.test\r\n250 8BITMIME", "250 mx.peer.test", "502 5.5.2 Error: command not recognized",
	"451 4.3.0 try later", "250-mx.peer.test\r\n250-PIPELINING\r\n250 STARTTLS",
};
static const char *const mail_r[] = {
	"250 2.1.0 Ok", "250 2.1.0 Ok", "250 Ok", "550 5.7.1 <>: null sender refused",
	"451 4.3.0 local trouble", "553 5.1.8 sender domain unknown", "250 2.1.0 Ok",
};
static const char *const rcpt_r[] = {
	"250 2.1.5 Ok", "250 2.1.5 Ok", "251 2.1.5 will forward", "550 5.1.1 <x>: User unknown",
	"550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table",
	"550 5.5.1 User unknown", "550 User unknown", "553 5.1.3 bad address syntax",
	"452 Insufficient system storage", "452 4.2.2 Mailbox full", "552 5.2.2 Mailbox full",
	"450 4.7.1 Greylisted, try again later", "550 5.7.1 Client host blocked using zen.spamhaus.org",
	"554 5.7.1 <x>: Relay access denied", "421 4.3.2 closing",
	"550-5.1.1 no such user\r\n550 5.7.1 blocked by policy", "550 5.0.0 <x>... User unknown",
	"250 Ok",
};
static const char *const quit_r[] = { "221 2.0.0 Bye", "221 Bye" };

/*
 * how often each deviation comes, per mille and per stage: a draw p of
 * 0..999 takes the first row it is below (rare: silence and slow ones
 * cost seconds); past the last row, none
 */
static const struct {
	unsigned below;
	enum dev dev;
} dev_odds[] = {
	{ 60, DEV_EXTRA_SAME }, { 100, DEV_EXTRA_LATER }, { 130, DEV_WRONG_CLASS },
	{ 145, DEV_HUGE }, { 160, DEV_FLOOD }, { 175, DEV_RESET }, { 180, DEV_SILENT },
	{ 195, DEV_CLOSE }, { 215, DEV_MULTI },
};

static void
scen_make(struct scen *s, unsigned seed, unsigned idx)
{
	uint64_t *r = &s->rng;
	int i;

	memset(s, 0, sizeof(*s));
	s->idx = idx;
	s->rng = (uint64_t)seed * 1000003u + idx + 1;
	for (i = 0; i < 8; i++)
		(void)rnd(r);
	snprintf(s->domain, sizeof(s->domain), "d%u.test", idx);
	snprintf(s->address, sizeof(s->address), "u%u@%s", idx, s->domain);
	/* DNS: mostly normal, so the SMTP side gets exercised */
	s->dns = pick(r, 100) < 80 ? DNS_NORMAL : (enum dns_mode)(1 + pick(r, DNS_MODES - 1));
	s->reply[S_GREET] = pick(r, 10) < 8 ? greet_r[0] : greet_r[pick(r, 5)];
	s->reply[S_EHLO] = ehlo_r[pick(r, 6)];
	s->reply[S_MAIL] = mail_r[pick(r, 7)];
	s->reply[S_RCPT] = rcpt_r[pick(r, 18)];
	s->reply[S_RANDOM] = rcpt_r[pick(r, 18)];
	s->reply[S_QUIT] = quit_r[pick(r, 2)];
	s->reply[S_OTHER] = "502 5.5.2 Error: command not recognized";
	s->pipelining = strstr(s->reply[S_EHLO], "PIPELINING") != NULL;
	s->drip = pick(r, 100) < 4;
	s->early250 = pick(r, 100) < 3;
	for (i = 0; i < STAGES; i++) {
		unsigned p = pick(r, 1000);
		size_t k;

		for (k = 0; k < sizeof(dev_odds) / sizeof(dev_odds[0]) && p >= dev_odds[k].below; k++)
			;
		s->dev[i] = k < sizeof(dev_odds) / sizeof(dev_odds[0]) ? dev_odds[k].dev : DEV_NONE;
	}
}

static void
scen_str(const struct scen *s, char *buf, size_t size)
{
	size_t off;
	int i;

	off = (size_t)snprintf(buf, size, "dns=%s%s%s%s", dns_names[s->dns],
	    s->pipelining ? " pipelining" : "", s->drip ? " drip" : "", s->early250 ? " early250" : "");
	for (i = 0; i < S_OTHER && off < size; i++) {
		char first[32];
		size_t n = strcspn(s->reply[i], "\r\n");

		snprintf(first, sizeof(first), "%.*s", (int)(n < 24 ? n : 24), s->reply[i]);
		off += (size_t)snprintf(buf + off, size - off, " %s=[%s]%s", stage_names[i], first,
		    dev_names[s->dev[i]]);
	}
}

/* ---- DNS ---- */

static ldns_pkt *
dns_answer(const ldns_pkt *q, const struct scen *s, int tcp)
{
	const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	char *qname = ldns_rdf2str(ldns_rr_owner(qr));
	ldns_rr_type t = ldns_rr_get_type(qr);
	ldns_pkt *a = ldns_pkt_new();
	char rr[512], mx[96];
	size_t ql;

	ldns_pkt_set_id(a, ldns_pkt_id(q));
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_aa(a, true);
	ldns_pkt_set_rd(a, ldns_pkt_rd(q));
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_question(a, ldns_rr_list_clone(ldns_pkt_question(q)));
	ldns_pkt_set_qdcount(a, 1);
	snprintf(mx, sizeof(mx), "mx.%s.", s->domain);
	ql = strlen(qname);
	rr[0] = '\0';
	if (strcasecmp(qname, mx) == 0 || (ql > 2 && strncasecmp(qname, "a.", 2) == 0)) {
		if (t == LDNS_RR_TYPE_A)
			snprintf(rr, sizeof(rr), "%s 60 IN A %s", qname,
			    s->dns == DNS_ZERO ? "0.0.0.0" : "127.0.0.1");
	} else if (t == LDNS_RR_TYPE_MX) {
		switch (s->dns) {
		case DNS_NX:
			ldns_pkt_set_rcode(a, LDNS_RCODE_NXDOMAIN);
			break;
		case DNS_SERVFAIL:
			ldns_pkt_set_rcode(a, LDNS_RCODE_SERVFAIL);
			break;
		case DNS_TRUNC:
			if (!tcp) {
				ldns_pkt_set_tc(a, true);
				break;
			}
			snprintf(rr, sizeof(rr), "%s 60 IN MX 10 %s", qname, mx);
			break;
		case DNS_CNAME_LOOP:
			snprintf(rr, sizeof(rr), "%s 60 IN CNAME a.%s.|a.%s. 60 IN CNAME %s",
			    qname, s->domain, s->domain, qname);
			break;
		case DNS_NULLMX:
			snprintf(rr, sizeof(rr), "%s 60 IN MX 0 .", qname);
			break;
		default:
			snprintf(rr, sizeof(rr), "%s 60 IN MX 10 %s", qname, mx);
			break;
		}
	}
	if (rr[0] != '\0') {
		char *tok, *save;

		for (tok = strtok_r(rr, "|", &save); tok != NULL; tok = strtok_r(NULL, "|", &save)) {
			ldns_rr *x = NULL;

			if (ldns_rr_new_frm_str(&x, tok, 60, NULL, NULL) == LDNS_STATUS_OK)
				ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, x);
		}
	}
	LDNS_FREE(qname);
	return a;
}

/* dns_reply - the bytes answering query q (wire); *len 0: say nothing */
static uint8_t *
dns_reply(const uint8_t *q, size_t qlen, int tcp, size_t *len)
{
	ldns_pkt *qp = NULL, *a;
	uint8_t *wire = NULL;
	struct scen s;
	int active;

	*len = 0;
	pthread_mutex_lock(&W.mu);
	s = W.sc;
	active = W.active;
	pthread_mutex_unlock(&W.mu);
	if (!active || ldns_wire2pkt(&qp, q, qlen) != LDNS_STATUS_OK)
		return NULL;
	if (ldns_rr_list_rr_count(ldns_pkt_question(qp)) != 1 || s.dns == DNS_SILENT) {
		ldns_pkt_free(qp);
		return NULL;
	}
	a = dns_answer(qp, &s, tcp);
	if (ldns_pkt2wire(&wire, a, len) != LDNS_STATUS_OK)
		*len = 0;
	ldns_pkt_free(a);
	ldns_pkt_free(qp);
	if (s.dns == DNS_SHORT && *len > 14)
		*len = 12 + (size_t)(s.rng % (*len - 12));
	if (s.dns == DNS_GARBAGE && *len > 2) {
		size_t i;
		uint64_t g = s.rng;

		for (i = 2; i < *len; i++)
			wire[i] = (uint8_t)rnd(&g);
	}
	return wire;
}

static void *
dns_main(void *arg)
{
	(void)arg;
	while (!W.stop) {
		struct pollfd p[2] = { { W.udp, POLLIN, 0 }, { W.tcp, POLLIN, 0 } };
		uint8_t buf[4096], *out;
		size_t olen;

		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(W.udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

			if (n > 0 && (out = dns_reply(buf, (size_t)n, 0, &olen)) != NULL) {
				if (olen > 0)
					(void)sendto(W.udp, out, olen, 0, (struct sockaddr *)&from, fl);
				free(out);
			}
		}
		if (p[1].revents & POLLIN) {
			int fd = accept(W.tcp, NULL, NULL);
			struct pollfd c = { fd, POLLIN, 0 };
			size_t have = 0;

			if (fd < 0)
				continue;
			while (poll(&c, 1, 1000) > 0) {
				ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);

				if (n <= 0)
					break;
				have += (size_t)n;
				if (have >= 2 && have >= 2 + (size_t)(buf[0] << 8 | buf[1]))
					break;
			}
			if (have > 2 && (out = dns_reply(buf + 2, have - 2, 1, &olen)) != NULL) {
				uint8_t l2[2] = { (uint8_t)(olen >> 8), (uint8_t)olen };

				if (olen > 0) {
					(void)send(fd, l2, 2, MSG_NOSIGNAL);
					(void)send(fd, out, olen, MSG_NOSIGNAL);
				}
				free(out);
			}
			close(fd);
		}
	}
	return NULL;
}

/* ---- SMTP ---- */

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
put(int fd, const char *s, size_t n, int drip)
{
	size_t i;

	if (!drip) {
		(void)send(fd, s, n, MSG_NOSIGNAL);
		return;
	}
	for (i = 0; i < n; i++) {
		(void)send(fd, s + i, 1, MSG_NOSIGNAL);
		if (i % 8 == 0)
			msleep(1);
	}
}

static void
put_reply(int fd, const char *r, int drip)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s%s", r,
	    r[0] != '\0' && r[strlen(r) - 1] == '\n' ? "" : "\r\n");

	put(fd, buf, (size_t)n, drip);
}

/*
 * answer - one stage's reply with its deviation. Returns 0 to go on,
 * -1 when the connection ends here; sets *dev when the reply did not
 * pair one-to-one with the command.
 */
static int
answer(int fd, const struct scen *s, enum stage st, int *dev, char *sent, size_t sentsz)
{
	static const char *const wrong[] = { "354 go ahead", "221 2.0.0 Bye", "220 again", "334 VXNlcg==" };
	const char *r = s->reply[st];
	enum dev d = s->dev[st];
	char big[3100];
	int i;

	snprintf(sent, sentsz, "%s", r);
	switch (d) {
	case DEV_RESET: {
		struct linger lg = { 1, 0 };

		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		*dev = 1;
		return -1;
	}
	case DEV_CLOSE:
		*dev = 1;
		return -1;
	case DEV_SILENT:
		/* until sav-probe has given up: the probe's own deadline decides */
		*dev = 1;
		msleep(probe_timeout * 1000 + 200);
		return -1;
	case DEV_WRONG_CLASS:
		r = wrong[s->idx % 4];
		snprintf(sent, sentsz, "%s", r);
		/* "220 again" is a fine greeting (and a 220 to STARTTLS): no deviation there */
		if (!((st == S_GREET || st == S_OTHER) && strncmp(r, "220", 3) == 0))
			*dev = 1;
		break;
	case DEV_HUGE:
		memset(big, 'h', sizeof(big));
		memcpy(big, r, 3);
		big[3] = ' ';
		big[sizeof(big) - 1] = '\0';
		r = big;
		*dev = 1;
		break;
	case DEV_FLOOD:
		for (i = 0; i < 100; i++) {
			char l[64];

			snprintf(l, sizeof(l), "%.3s-flood line %d", r, i);
			put_reply(fd, l, 0);
		}
		*dev = 1;
		break;
	default:
		break;
	}
	if (d == DEV_MULTI && st != S_GREET) {
		char l[96];

		snprintf(l, sizeof(l), "%.3s-first line of a longer reply", r);
		put_reply(fd, l, s->drip);
	}
	put_reply(fd, r, s->drip);
	if (d == DEV_EXTRA_SAME) {
		put_reply(fd, "250 2.1.5 extra", s->drip);
		*dev = 1;
	} else if (d == DEV_EXTRA_LATER) {
		msleep(20);
		put_reply(fd, "250 2.1.5 extra, later", 0);
		*dev = 1;
	}
	return 0;
}

/* line_ok - the wire rules for one command line (CRLF stripped off already) */
static int
line_ok(const char *l, size_t n)
{
	return n + 2 <= 512 && memchr(l, '\r', n) == NULL && memchr(l, '\0', n) == NULL;
}

static void
serve(int fd, struct conn_log *log)
{
	struct scen s;
	char buf[8192], sent[512];
	size_t have = 0;
	int dev = 0, rcpts = 0;

	pthread_mutex_lock(&W.mu);
	s = W.sc;
	pthread_mutex_unlock(&W.mu);
	log->idx = s.idx;
	if (s.early250) {
		put_reply(fd, "250 early", 0);
		dev = 1;
		msleep(5);
	}
	if (answer(fd, &s, S_GREET, &dev, sent, sizeof(sent)) < 0 || s.reply[S_GREET][0] != '2')
		goto out;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		char *lf;

		while ((lf = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(lf - buf) + 1, n = len - 1;
			enum stage st = S_OTHER;
			int was_rcpt = 0;

			if (n == 0 || buf[n - 1] != '\r' || !line_ok(buf, n - 1))
				log->bad_line = 1;
			if (n > 0 && buf[n - 1] == '\r')
				n--;
			if (n >= 4 && (strncasecmp(buf, "EHLO", 4) == 0 || strncasecmp(buf, "HELO", 4) == 0))
				st = S_EHLO;
			else if (n >= 4 && strncasecmp(buf, "MAIL", 4) == 0)
				st = S_MAIL;
			else if (n >= 4 && strncasecmp(buf, "RCPT", 4) == 0) {
				char want[128];

				snprintf(want, sizeof(want), "RCPT TO:<%s>", s.address);
				was_rcpt = n == strlen(want) && strncasecmp(buf, want, n) == 0;
				st = was_rcpt ? S_RCPT : S_RANDOM;
				rcpts++;
			} else if (n >= 4 && strncasecmp(buf, "QUIT", 4) == 0)
				st = S_QUIT;
			if (st == S_EHLO && strncasecmp(buf, "HELO", 4) == 0 &&
			    strncmp(s.reply[S_EHLO], "250", 3) != 0)
				s.reply[S_EHLO] = "250 mx.peer.test";
			if (answer(fd, &s, st, &dev, sent, sizeof(sent)) < 0)
				goto out;
			/*
			 * a 220 to STARTTLS (a deviation can give one): what
			 * follows is the client's TLS handshake, not command
			 * lines, and this server speaks no TLS; the probe's
			 * handshake fails and it may try once more in plaintext
			 */
			if (st == S_OTHER && n >= 8 && strncasecmp(buf, "STARTTLS", 8) == 0 &&
			    strncmp(sent, "220", 3) == 0)
				goto out;
			if (was_rcpt && !log->rcpt_seen) {
				log->rcpt_seen = 1;
				log->rcpt_clean = !dev;
				snprintf(log->rcpt_reply, sizeof(log->rcpt_reply), "%s", sent);
			}
			/* a stage answered once deviates once: later ones of its kind are plain */
			s.dev[st] = DEV_NONE;
			memmove(buf, buf + len, have - len);
			have -= len;
			if (st == S_QUIT)
				goto out;
		}
		if (have == sizeof(buf) || poll(&p, 1, 3000) <= 0)
			break;
		{
			ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);

			if (r <= 0)
				break;
			have += (size_t)r;
		}
	}
out:
	log->deviated = dev;
	(void)rcpts;
}

static void *
smtp_main(void *arg)
{
	(void)arg;
	while (!W.stop) {
		struct pollfd p = { W.smtp, POLLIN, 0 };
		struct conn_log log;
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((fd = accept(W.smtp, NULL, NULL)) < 0)
			continue;
		memset(&log, 0, sizeof(log));
		serve(fd, &log);
		close(fd);
		pthread_mutex_lock(&W.mu);
		/* a connection that outlived its dialogue (silence) is not the next one's */
		if (W.active && log.idx == W.sc.idx) {
			if (W.nconn < CONNS_MAX)
				W.conn[W.nconn] = log;
			W.nconn++;
		}
		pthread_mutex_unlock(&W.mu);
	}
	return NULL;
}

/* ---- the probe and the oracles ---- */

static int
listen_on(int type, int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t
slurp(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp != NULL) {
		n = fread(buf, 1, size - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return n;
}

/* json_str - the value of "key":"..." into out */
static void
json_str(const char *j, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(j, pat)) == NULL)
		return;
	p += strlen(pat);
	while (*p != '\0' && *p != '"' && n + 1 < size)
		out[n++] = *p++;
	out[n] = '\0';
}

static int
json_int(const char *j, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(j, pat)) == NULL)
		return -1;
	return atoi(p + strlen(pat));
}

/* parse "550 5.1.1 text" (first line) into code, enhanced, text */
static void
reply_parts(const char *r, int *code, char *enh, size_t esz, const char **text)
{
	const char *p = r + 4;
	size_t n = 0;

	*code = atoi(r);
	enh[0] = '\0';
	if (strlen(r) > 4 && p[0] >= '2' && p[0] <= '5' && p[1] == '.') {
		while (p[n] != '\0' && p[n] != ' ' && n + 1 < esz) {
			enh[n] = p[n];
			n++;
		}
		enh[n] = '\0';
		p += n;
		while (*p == ' ')
			p++;
	}
	*text = strlen(r) > 4 ? p : "";
}

static int failures;

static void __attribute__((format(printf, 3, 4)))
fail(unsigned seed, unsigned idx, const char *fmt, ...)
{
	char why[2048], sc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	scen_str(&W.sc, sc, sizeof(sc));
	printf("fuzz_peer: FAIL seed=%u index=%u (rerun: -s %u -i %u): %s\n  scenario: %s\n",
	    seed, idx, seed, idx, why, sc);
	failures++;
}

static void
one(const char *probe, unsigned seed, unsigned idx, int timeout, const char *dir, long *counts)
{
	char out[PATH_MAX], err[PATH_MAX], tmo[16], j[8192], e[16384], verdict[32], sc[1024];
	char *argv[16];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	long long t0, dt;
	int st = 0, done = 0, code, i, ok_valid = 0, ok_invalid = 0;

	pthread_mutex_lock(&W.mu);
	scen_make(&W.sc, seed, idx);
	W.nconn = 0;
	W.active = 1;
	pthread_mutex_unlock(&W.mu);

	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	snprintf(tmo, sizeof(tmo), "%d", timeout);
	i = 0;
	argv[i++] = (char *)probe;
	argv[i++] = "--json";
	argv[i++] = "--resolver";
	argv[i++] = "127.0.0.1";
	argv[i++] = "--allow-private";
	argv[i++] = "--timeout";
	argv[i++] = tmo;
	argv[i++] = "--helo";
	argv[i++] = "probe.peer.test";
	argv[i++] = W.sc.address;
	argv[i] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	t0 = now_ms();
	if (posix_spawn(&pid, probe, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		fail(seed, idx, "cannot run %s", probe);
		return;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (!done) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			done = 1;
		else if (now_ms() - t0 > (timeout + 5) * 1000LL) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail(seed, idx, "sav-probe still running %d s after its --timeout: killed", 5);
			break;
		} else
			msleep(2);
	}
	dt = now_ms() - t0;
	msleep(20);	/* the server thread logs the connection it just served */
	pthread_mutex_lock(&W.mu);
	W.active = 0;
	pthread_mutex_unlock(&W.mu);
	slurp(out, j, sizeof(j));
	slurp(err, e, sizeof(e));
	json_str(j, "verdict", verdict, sizeof(verdict));
	code = json_int(j, "code");
	if (verbose) {
		scen_str(&W.sc, sc, sizeof(sc));
		printf("%u: %s -> %s %d (%lld ms, %d conn)\n", idx, sc, verdict[0] ? verdict : "?",
		    code, dt, W.nconn);
	}
	if (!done)
		return;
	if (dt > (timeout + 2) * 1000LL)
		fail(seed, idx, "sav-probe took %lld ms with --timeout %d", dt, timeout);
	if (!WIFEXITED(st) || WEXITSTATUS(st) > 2)
		fail(seed, idx, "sav-probe ended with %s %d", WIFEXITED(st) ? "status" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	if (strstr(e, "ERROR: AddressSanitizer") != NULL || strstr(e, "runtime error:") != NULL ||
	    strstr(e, "ERROR: LeakSanitizer") != NULL)
		fail(seed, idx, "sanitizer report:\n%.1500s", strstr(e, "ERROR") ? strstr(e, "ERROR") :
		    strstr(e, "runtime error"));
	if (verdict[0] == '\0' && WIFEXITED(st) && WEXITSTATUS(st) <= 2)
		fail(seed, idx, "no verdict in the JSON output: %.200s", j);
	for (i = 0; i < W.nconn && i < CONNS_MAX; i++) {
		const struct conn_log *c = &W.conn[i];
		char enh[16];
		const char *text;
		int rc;

		if (c->bad_line)
			fail(seed, idx, "a command line with a bare CR/LF, a NUL or over 512 octets");
		if (!c->rcpt_seen || !c->rcpt_clean)
			continue;
		reply_parts(c->rcpt_reply, &rc, enh, sizeof(enh), &text);
		/* valid: a 2xx, or a full mailbox (552, x.2.2), which also says it exists */
		if (rc == code && (rc / 100 == 2 || (strchr(c->rcpt_reply, '\n') == NULL &&
		    verdict_classify_rcpt(rc, enh, text) == RCPT_MAILBOX_FULL)))
			ok_valid = 1;
		if (rc / 100 == 5 && rc == code && strchr(c->rcpt_reply, '\n') == NULL &&
		    verdict_classify_rcpt(rc, enh, text) == RCPT_NO_MAILBOX)
			ok_invalid = 1;
		if (rc / 100 == 5 && rc == code && strchr(c->rcpt_reply, '\n') != NULL)
			ok_invalid = 1;	/* multi-line: the probe's reading is checked by the unit tests */
	}
	if (strcmp(verdict, "valid") == 0 && !ok_valid)
		fail(seed, idx, "valid (code %d) without a clean 2xx (or full mailbox) to the RCPT of the address", code);
	if (strcmp(verdict, "invalid") == 0 && !ok_invalid)
		fail(seed, idx, "invalid (code %d) without a clean mailbox-level 5xx to the RCPT", code);
	if (W.sc.dns == DNS_ZERO && W.nconn > 0)
		fail(seed, idx, "connected to an MX that resolves to 0.0.0.0 only");
	for (i = 0; i < VERDICT_COUNT; i++)
		if (strcmp(verdict, verdict_str((enum verdict)i)) == 0)
			counts[i]++;
}

int
main(int argc, char **argv)
{
	const char *probe = NULL;
	unsigned seed = 1, n = 300, only = 0;
	int has_only = 0, timeout = 2, c, i;
	long counts[VERDICT_COUNT] = { 0 };
	pthread_t dt, st;
	char dir[] = "/tmp/fuzz_peer.XXXXXX";
	long long t0 = now_ms();

	while ((c = getopt(argc, argv, "p:s:n:i:t:v")) != -1) {
		switch (c) {
		case 'p': probe = optarg; break;
		case 's': seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': n = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'i': only = (unsigned)strtoul(optarg, NULL, 10); has_only = 1; break;
		case 't': timeout = atoi(optarg); probe_timeout = timeout; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: fuzz_peer -p SAV_PROBE [-s SEED] [-n N] [-i INDEX] [-t TIMEOUT] [-v]\n");
			return 64;
		}
	}
	if (probe == NULL || timeout < 1 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: fuzz_peer -p SAV_PROBE [-s SEED] [-n N] [-i INDEX] [-t TIMEOUT] [-v]\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((W.udp = listen_on(SOCK_DGRAM, 53)) < 0 || (W.tcp = listen_on(SOCK_STREAM, 53)) < 0 ||
	    (W.smtp = listen_on(SOCK_STREAM, 25)) < 0) {
		fprintf(stderr, "fuzz_peer: cannot listen on 127.0.0.1 ports 53 and 25: %s\n",
		    strerror(errno));
		return 69;
	}
	pthread_create(&dt, NULL, dns_main, NULL);
	pthread_create(&st, NULL, smtp_main, NULL);
	printf("fuzz_peer: seed %u, %u dialogues, sav-probe --timeout %d (%s)\n", seed,
	    has_only ? 1 : n, timeout, probe);
	fflush(stdout);
	if (has_only)
		one(probe, seed, only, timeout, dir, counts);
	else
		for (i = 0; i < (int)n; i++) {
			one(probe, seed, (unsigned)i, timeout, dir, counts);
			fflush(stdout);
		}
	W.stop = 1;
	pthread_join(dt, NULL);
	pthread_join(st, NULL);
	{
		char p1[PATH_MAX + 8];

		snprintf(p1, sizeof(p1), "%s/out", dir);
		unlink(p1);
		snprintf(p1, sizeof(p1), "%s/err", dir);
		unlink(p1);
		rmdir(dir);
	}
	printf("fuzz_peer: %u dialogues in %lld s, %d failures; verdicts:", has_only ? 1 : n,
	    (now_ms() - t0) / 1000, failures);
	for (i = 0; i < VERDICT_COUNT; i++)
		if (counts[i] > 0)
			printf(" %s %ld", verdict_str((enum verdict)i), counts[i]);
	printf("\n");
	return failures > 0 ? 1 : 0;
}
