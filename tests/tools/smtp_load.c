/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtp_load - a small SMTP load generator for the lab's benchmarks and
 * soak runs (Postfix's smtp-source sends from one sender only; this one
 * takes the senders round-robin from a list).
 *
 * USAGE
 *	smtp_load -s SESSIONS -n MESSAGES [-m MSGS_PER_CONNECTION] [-f SENDERS_FILE | -F SENDER]
 *		  [-t RCPT] [-b BIND_IP] [-o RESULTS_FILE] [-T TIMEOUT_S] HOST:PORT
 *
 *	-s	concurrent sessions (one thread and one connection each), 1..1000
 *	-n	messages in all, shared by the sessions (0..100,000,000)
 *	-m	messages per connection (default 1): after that many
 *		transactions the session sends QUIT and connects again
 *	-f	senders, one a line (blank lines and lines starting with
 *		'#' are skipped; "<>" is the null sender); message i (in the
 *		global order in which the sessions claim them) uses line
 *		i modulo the number of senders
 *	-F	one sender for every message (default loadtest@load.test)
 *	-t	recipient (default rcpt@dest.test)
 *	-b	local address to bind each connection to (numeric)
 *	-o	results file: one line per transaction, in message order,
 *		"SENDER MAILCODE FINALCODE MS"
 *	-T	time-out in seconds (default 30) for the connect and for
 *		each reply (every read is bounded by it)
 *	HOST:PORT  numeric or resolvable host, IPv6 in brackets: [::1]:25
 *
 * Each session connects, reads the greeting, sends EHLO, then for each
 * message MAIL FROM:<sender>, RCPT TO:<rcpt>, DATA and a tiny message;
 * a refusal at MAIL, RCPT or DATA is followed by RSET. No pipelining:
 * each command waits for its reply. When the messages run out the
 * session sends QUIT.
 *
 * Results: MAILCODE is the reply to MAIL (0 if it never came);
 * FINALCODE is the reply to the end of DATA, or the failing reply code
 * at MAIL, RCPT or DATA (or at the greeting or EHLO when the session
 * could not start), or 0 on a connection failure, time-out, lost
 * connection or malformed reply. MS is the time the transaction took,
 * from its start (the connect, greeting and EHLO included when the
 * message opened the connection) to its final reply. On standard
 * output a summary:
 *
 *	messages N sessions S in T.TTT s: R.R msg/s; replies: 250=.., 450=.., 550=.., errors=..
 *
 * counting FINALCODEs (250, 450 and 550 always shown, any other code
 * seen too, in ascending order; errors are the 0s). Exit 0 when it ran,
 * even if some transactions were refused or failed; 1 on a usage error
 * or when not one connection could be made.
 *
 * Security: the server's replies are untrusted: each reply line is cut
 * at 1,000 bytes and a reply at 100 lines (more is a malformed reply),
 * only the three-digit code is kept, and nothing of the reply text is
 * printed. Senders and the recipient are checked to be printable ASCII
 * without spaces or angle brackets, so they cannot inject commands.
 *
 * Thread rules: the options, the sender list and the results array are
 * set up before the threads start and read-only afterwards, except that
 * each thread writes only the results slots of the messages it claimed
 * (one atomic counter hands out message numbers). The connect count
 * and the first error text are atomics.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS	1000
#define MAX_MESSAGES	100000000L
#define MAX_ADDR	320		/* longest sender or recipient accepted */
#define MAX_LINE	1000		/* reply line cut (RFC 5321 says 512) */
#define MAX_LINES	100		/* lines in one reply */
#define EHLO_NAME	"smtp-load.lab.test"

struct result {
	short	mailcode;
	short	finalcode;
	int	ms;
};

struct conn {
	int	fd;
	size_t	off, len;		/* unread bytes: buf[off .. len) */
	char	buf[4096];
};

/* set up in main, read-only in the threads */
static struct {
	int		sessions;
	long		messages;
	long		per_conn;
	char		**senders;
	size_t		nsenders;
	const char	*rcpt;
	struct addrinfo	*dest;
	struct addrinfo	*bind;
	int		timeout_ms;
	struct result	*res;
} g;

static atomic_long next_msg;
static atomic_long connects;
static atomic_int first_err;		/* 0 until one thread reported an error text */

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
left_ms(int64_t deadline)
{
	int64_t left = (deadline - now_us() + 999) / 1000;

	return left > 0 ? (int)left : 0;
}

/* report - the first connection-level error, once, to stderr */
static void
report(const char *what, int err)
{
	int no = 0;

	if (atomic_compare_exchange_strong(&first_err, &no, 1))
		fprintf(stderr, "smtp_load: %s: %s (first error; others are only counted)\n",
		    what, err ? strerror(err) : "failed");
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->off = c->len = 0;
}

/* conn_open - non-blocking connect under the time-out; 0 or -1 */
static int
conn_open(struct conn *c)
{
	const struct addrinfo *a = g.dest;
	int64_t deadline = now_us() + (int64_t)g.timeout_ms * 1000;
	struct pollfd p;
	socklen_t len;
	int fd, err = 0, r;

	fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
	if (fd < 0) {
		report("socket", errno);
		return -1;
	}
	if (g.bind != NULL && bind(fd, g.bind->ai_addr, g.bind->ai_addrlen) != 0) {
		report("bind", errno);
		close(fd);
		return -1;
	}
	if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			report("connect", errno);
			close(fd);
			return -1;
		}
		p.fd = fd;
		p.events = POLLOUT;
		do
			r = poll(&p, 1, left_ms(deadline));
		while (r < 0 && errno == EINTR);
		len = sizeof(err);
		if (r <= 0) {
			err = r == 0 ? ETIMEDOUT : errno;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
			err = errno;
		}
		if (err != 0) {
			report("connect", err);
			close(fd);
			return -1;
		}
	}
	c->fd = fd;
	c->off = c->len = 0;
	atomic_fetch_add(&connects, 1);
	return 0;
}

/* send_all - write every byte before the deadline; 0 or -1 */
static int
send_all(struct conn *c, const char *s, size_t n, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	ssize_t w;
	int r;

	while (n > 0) {
		w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		r = poll(&p, 1, left_ms(deadline));
		if (r == 0 || (r < 0 && errno != EINTR))
			return -1;
	}
	return 0;
}

/* read_line - one line (CRLF or LF) into line (cut at MAX_LINE); its length or -1 */
static int
read_line(struct conn *c, char *line, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	size_t n = 0, total = 0;
	ssize_t got;
	int r;

	for (;;) {
		while (c->off < c->len) {
			char ch = c->buf[c->off++];

			if (ch == '\n') {
				if (n > 0 && line[n - 1] == '\r')
					n--;
				line[n] = '\0';
				return (int)n;
			}
			if (++total > MAX_LINE)
				return -1;
			line[n++] = ch;
		}
		c->off = c->len = 0;
		r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		c->len = (size_t)got;
	}
}

/*
 * read_reply - one whole reply; its code (200..599), or -1 on a time-out
 * (the deadline covers every line), a lost connection or a malformed
 * reply (no code, codes that differ between lines, too many lines).
 */
static int
read_reply(struct conn *c, int64_t deadline)
{
	char line[MAX_LINE + 1];
	int i, n, code = -1, this;

	for (i = 0; i < MAX_LINES; i++) {
		n = read_line(c, line, deadline);
		if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-'))
			return -1;
		this = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (code >= 0 && this != code)
			return -1;
		code = this;
		if (n == 3 || line[3] == ' ')
			return code;
	}
	return -1;
}

/* command - send one command line (fmt ends in CRLF) and read the reply; its code or -1 */
static int command(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
command(struct conn *c, const char *fmt, ...)
{
	char line[MAX_ADDR + 64];
	int64_t deadline = now_us() + (int64_t)g.timeout_ms * 1000;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	if (send_all(c, line, (size_t)n, deadline) != 0)
		return -1;
	return read_reply(c, deadline);
}

/* session_open - connect, greeting, EHLO; 0, or the failing code (or -1) with c closed */
static int
session_open(struct conn *c)
{
	int code;

	if (conn_open(c) != 0)
		return -1;
	code = read_reply(c, now_us() + (int64_t)g.timeout_ms * 1000);
	if (code == 220)
		code = command(c, "EHLO %s\r\n", EHLO_NAME);
	if (code >= 200 && code < 300)
		return 0;
	if (code < 0)
		report("greeting or EHLO", 0);
	conn_close(c);
	return code;
}

/* refused - after a refusal in a transaction: RSET, or close if that fails */
static void
refused(struct conn *c, int code)
{
	if (code == 421 || command(c, "RSET\r\n") != 250)
		conn_close(c);
}

/* transaction - one message on an open session; fills r, closes c on errors */
static void
transaction(struct conn *c, long i, struct result *r)
{
	const char *s = g.senders[(size_t)i % g.nsenders];
	const char *arg = strcmp(s, "<>") == 0 ? "" : s;
	char msg[2 * MAX_ADDR + 256];
	int64_t deadline;
	int code, n;

	code = command(c, "MAIL FROM:<%s>\r\n", arg);
	r->mailcode = (short)(code > 0 ? code : 0);
	if (code < 0)
		goto lost;
	if (code / 100 != 2) {
		r->finalcode = (short)code;
		refused(c, code);
		return;
	}
	code = command(c, "RCPT TO:<%s>\r\n", g.rcpt);
	if (code < 0)
		goto lost;
	if (code / 100 != 2) {
		r->finalcode = (short)code;
		refused(c, code);
		return;
	}
	code = command(c, "DATA\r\n");
	if (code < 0)
		goto lost;
	if (code / 100 != 3) {
		r->finalcode = (short)code;
		refused(c, code);
		return;
	}
	n = snprintf(msg, sizeof(msg),
	    "From: <%s>\r\nTo: <%s>\r\nSubject: smtp_load message %ld\r\n\r\n"
	    "A test message from smtp_load.\r\n.\r\n", arg, g.rcpt, i + 1);
	if (n < 0 || (size_t)n >= sizeof(msg))
		goto lost;
	deadline = now_us() + (int64_t)g.timeout_ms * 1000;
	if (send_all(c, msg, (size_t)n, deadline) != 0)
		goto lost;
	code = read_reply(c, deadline);
	if (code < 0)
		goto lost;
	r->finalcode = (short)code;
	if (code == 421)
		conn_close(c);
	return;
lost:
	r->finalcode = 0;
	conn_close(c);
}

static void
quit(struct conn *c)
{
	if (c->fd >= 0)
		(void)command(c, "QUIT\r\n");
	conn_close(c);
}

static void *
worker(void *arg)
{
	struct conn *c = arg;
	struct result *r;
	long i, on_conn = 0;
	int64_t t0;
	int code;

	c->fd = -1;
	for (;;) {
		i = atomic_fetch_add(&next_msg, 1);
		if (i >= g.messages)
			break;
		r = &g.res[i];
		t0 = now_us();
		if (c->fd < 0) {
			code = session_open(c);
			on_conn = 0;
			if (code != 0) {
				r->mailcode = 0;
				r->finalcode = (short)(code > 0 ? code : 0);
				r->ms = (int)((now_us() - t0) / 1000);
				continue;
			}
		}
		transaction(c, i, r);
		r->ms = (int)((now_us() - t0) / 1000);
		if (c->fd >= 0 && ++on_conn >= g.per_conn)
			quit(c);
	}
	quit(c);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtp_load -s SESSIONS -n MESSAGES [-m MSGS_PER_CONNECTION] "
	    "[-f SENDERS_FILE | -F SENDER]\n"
	    "                 [-t RCPT] [-b BIND_IP] [-o RESULTS_FILE] [-T TIMEOUT_S] HOST:PORT\n");
	exit(1);
}

/* num - a decimal in [lo, hi], or usage */
static long
num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "smtp_load: %s: want a number from %ld to %ld, got \"%s\"\n", what, lo, hi, s);
		usage();
	}
	return v;
}

/* addr_ok - printable ASCII, no space or angle brackets, bounded; "<>" allowed as a sender */
static int
addr_ok(const char *s, int sender)
{
	size_t n = strlen(s), i;

	if (sender && strcmp(s, "<>") == 0)
		return 1;
	if (n == 0 || n > MAX_ADDR)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '<' || s[i] == '>')
			return 0;
	return 1;
}

static void
add_sender(const char *s, size_t *cap)
{
	if (!addr_ok(s, 1)) {
		fprintf(stderr, "smtp_load: bad sender \"%.60s\" (printable, no spaces or <>, at most %d bytes)\n",
		    s, MAX_ADDR);
		exit(1);
	}
	if (g.nsenders == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		g.senders = realloc(g.senders, *cap * sizeof(*g.senders));
		if (g.senders == NULL) {
			perror("smtp_load");
			exit(1);
		}
	}
	if ((g.senders[g.nsenders++] = strdup(s)) == NULL) {
		perror("smtp_load");
		exit(1);
	}
}

static void
read_senders(const char *file, size_t *cap)
{
	char line[MAX_ADDR + 4];
	FILE *fp = fopen(file, "r");
	size_t n;

	if (fp == NULL) {
		fprintf(stderr, "smtp_load: %s: %s\n", file, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		n = strlen(line);
		if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
			fprintf(stderr, "smtp_load: %s: a line longer than %d bytes\n", file, MAX_ADDR);
			exit(1);
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
		    line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		add_sender(line, cap);
	}
	fclose(fp);
	if (g.nsenders == 0) {
		fprintf(stderr, "smtp_load: %s: no senders\n", file);
		exit(1);
	}
}

/* resolve - HOST:PORT or [V6]:PORT (port NULL: a bare numeric address to bind to) */
static struct addrinfo *
resolve(const char *spec, int numeric_bind, int family)
{
	char host[256];
	const char *port = NULL, *h = spec;
	struct addrinfo hints = { 0 }, *res = NULL;
	size_t n;
	int e;

	if (!numeric_bind) {
		const char *colon = strrchr(spec, ':');

		if (colon == NULL || colon[1] == '\0')
			return NULL;
		port = colon + 1;
		n = (size_t)(colon - spec);
		if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
			h = spec + 1;
			n -= 2;
		}
	} else {
		n = strlen(spec);
		if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
			h = spec + 1;
			n -= 2;
		}
	}
	if (n == 0 || n >= sizeof(host))
		return NULL;
	memcpy(host, h, n);
	host[n] = '\0';
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = numeric_bind ? AI_NUMERICHOST | AI_PASSIVE : AI_NUMERICSERV;
	e = getaddrinfo(host, numeric_bind ? "0" : port, &hints, &res);
	if (e != 0) {
		fprintf(stderr, "smtp_load: %s: %s\n", spec, gai_strerror(e));
		return NULL;
	}
	return res;
}

int
main(int argc, char **argv)
{
	const char *sfile = NULL, *sender = NULL, *out = NULL, *bindip = NULL;
	long codes[600] = { 0 }, errors = 0, i;
	size_t cap = 0;
	pthread_t *tids;
	struct conn *conns;
	FILE *ofp = NULL;
	int64_t t0, t1;
	double secs;
	int ch, k;

	g.sessions = -1;
	g.messages = -1;
	g.per_conn = 1;
	g.rcpt = "rcpt@dest.test";
	g.timeout_ms = 30000;
	while ((ch = getopt(argc, argv, "s:n:m:f:F:t:b:o:T:")) != -1) {
		switch (ch) {
		case 's': g.sessions = (int)num(optarg, 1, MAX_SESSIONS, "-s"); break;
		case 'n': g.messages = num(optarg, 0, MAX_MESSAGES, "-n"); break;
		case 'm': g.per_conn = num(optarg, 1, MAX_MESSAGES, "-m"); break;
		case 'f': sfile = optarg; break;
		case 'F': sender = optarg; break;
		case 't': g.rcpt = optarg; break;
		case 'b': bindip = optarg; break;
		case 'o': out = optarg; break;
		case 'T': g.timeout_ms = (int)num(optarg, 1, 3600, "-T") * 1000; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || g.sessions < 0 || g.messages < 0 || (sfile && sender))
		usage();
	if (!addr_ok(g.rcpt, 0)) {
		fprintf(stderr, "smtp_load: bad recipient \"%.60s\"\n", g.rcpt);
		usage();
	}
	if (sfile != NULL)
		read_senders(sfile, &cap);
	else
		add_sender(sender ? sender : "loadtest@load.test", &cap);
	if ((g.dest = resolve(argv[optind], 0, AF_UNSPEC)) == NULL) {
		fprintf(stderr, "smtp_load: bad destination \"%s\" (HOST:PORT)\n", argv[optind]);
		usage();
	}
	if (bindip != NULL && (g.bind = resolve(bindip, 1, g.dest->ai_family)) == NULL) {
		fprintf(stderr, "smtp_load: bad -b address \"%s\" (numeric, same family as HOST)\n", bindip);
		usage();
	}
	if (out != NULL && (ofp = fopen(out, "w")) == NULL) {
		fprintf(stderr, "smtp_load: %s: %s\n", out, strerror(errno));
		return 1;
	}
	g.res = calloc((size_t)g.messages + 1, sizeof(*g.res));
	tids = calloc((size_t)g.sessions, sizeof(*tids));
	conns = calloc((size_t)g.sessions, sizeof(*conns));
	if (g.res == NULL || tids == NULL || conns == NULL) {
		perror("smtp_load");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	t0 = now_us();
	for (k = 0; k < g.sessions; k++) {
		if (pthread_create(&tids[k], NULL, worker, &conns[k]) != 0) {
			fprintf(stderr, "smtp_load: cannot start session thread %d\n", k + 1);
			return 1;
		}
	}
	for (k = 0; k < g.sessions; k++)
		pthread_join(tids[k], NULL);
	t1 = now_us();

	for (i = 0; i < g.messages; i++) {
		const struct result *r = &g.res[i];

		if (r->finalcode >= 200 && r->finalcode < 600)
			codes[r->finalcode]++;
		else
			errors++;
		if (ofp != NULL)
			fprintf(ofp, "%s %d %d %d\n", g.senders[(size_t)i % g.nsenders],
			    r->mailcode, r->finalcode, r->ms);
	}
	if (ofp != NULL && fclose(ofp) != 0) {
		fprintf(stderr, "smtp_load: %s: %s\n", out, strerror(errno));
		return 1;
	}
	secs = (double)(t1 - t0) / 1e6;
	printf("messages %ld sessions %d in %.3f s: %.1f msg/s; replies:", g.messages, g.sessions,
	    secs, secs > 0 ? (double)g.messages / secs : 0.0);
	for (k = 200; k < 600; k++)
		if (codes[k] > 0 || k == 250 || k == 450 || k == 550)
			printf(" %d=%ld,", k, codes[k]);
	printf(" errors=%ld\n", errors);
	fflush(stdout);
	free(tids);
	free(conns);
	free(g.res);
	for (size_t j = 0; j < g.nsenders; j++)
		free(g.senders[j]);
	free(g.senders);
	if (g.bind != NULL)
		freeaddrinfo(g.bind);
	freeaddrinfo(g.dest);
	if (g.messages > 0 && atomic_load(&connects) == 0) {
		fprintf(stderr, "smtp_load: could not connect to %s\n", argv[optind]);
		return 1;
	}
	return 0;
}
