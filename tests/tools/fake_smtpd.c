/*
 * fake_smtpd - a small scriptable SMTP server for the unit tests and
 * the integration lab. It plays well-behaved, odd and hostile servers:
 * silent ones, tricklers, giant lines, endless multi-line replies,
 * garbage banners, disconnects mid-reply, 421, catch-alls, policy
 * refusals, greylisting, mailbox-full, refusal of <>.
 *
 * USAGE
 *	fake_smtpd -l ADDR:PORT [-l ADDR:PORT ...] [-s SCRIPT] [-t TRANSCRIPT]
 *		   [-p PIDFILE] [-r READYFILE] [-T SECONDS] [-c MAXCONN] [-n COUNT]
 *
 *	-l	listen address, IPv4 "127.0.0.1:2525" or IPv6 "[::1]:2525"
 *		(up to 16). Port 0 picks a free port; see -r.
 *	-s	script file (below); without it, the defaults.
 *	-t	transcript file, appended to (default: standard output).
 *	-p	pid file, written once listening.
 *	-r	ready file, written (atomically, by rename) once every
 *		address listens: one "ADDR PORT" line per -l, in order,
 *		with the real port. Tests wait for it to appear.
 *	-T	hard lifetime cap in seconds (default 1800, 0: none); every
 *		connection is cut and the server exits when it is reached.
 *	-c	most concurrent connections (default 64); more are accepted
 *		and closed at once ("REFUSED" in the transcript).
 *	-n	exit after COUNT connections have been served and closed.
 *	SIGTERM or SIGINT: stop, end all connections, write STATS, exit 0.
 *
 * The server only ever binds, listens and accepts: it never connects
 * anywhere. One child process per connection (the parent counts them),
 * every read is bounded, and the children die with the parent.
 *
 * TRANSCRIPT (one line per event, each written with a single write()
 * to an O_APPEND file, so lines from concurrent connections never mix
 * mid-line; ID is the connection number from 1):
 *	ID CONNECT PEER active=N	accepted; N connections open now
 *	ID REFUSED PEER			over -c, closed at once
 *	ID EARLY N			the client sent N bytes before the
 *					greeting was complete (it spoke first)
 *	ID PIPELINED N			one read() delivered N complete lines
 *					(logged before those C: lines)
 *	ID C: LINE			a line received (terminator stripped)
 *	ID C: [too long: N bytes] START	an overlong line (answered 500)
 *	ID C(partial): BYTES		an unterminated line at close
 *	ID S: LINE			a line sent (logged just before sending)
 *	ID S: [giant line N bytes]	see giant-line
 *	ID S: [endless: N lines, M bytes]	see endless-multiline
 *	ID CLOSE [why]			the connection ended
 *	STATS connections=N max_concurrent=M refused=R	at exit
 * LINE and BYTES are escaped: printable ASCII as is, '\' as "\\",
 * anything else as \xNN; long ones are cut to 1000 bytes, "...[N bytes]".
 *
 * SCRIPT: one directive a line; '#' starts a comment line; blank lines
 * are ignored; later lines override earlier ones. A REPLY is one or
 * more lines separated by '|' ("250-fake.test|250-PIPELINING|250 OK"),
 * sent each with CRLF (LF with bare-lf), or the word "none" (send
 * nothing, keep the connection open). In a REPLY or garbage TEXT the
 * escapes \r \n \t \\ \| \0 and \xHH give raw bytes.
 *
 *	banner REPLY		greeting (default "220 fake.test ESMTP
 *				fake_smtpd"); "banner none": never greet
 *	banner-multi N		greeting of N lines "220-fake.test line i"
 *				... "220 fake.test ESMTP" (N <= 1000)
 *	garbage TEXT		send TEXT plus line end instead of the banner
 *				(e.g. "garbage SSH-2.0-OpenSSH_9.2")
 *	ehlo REPLY		default "250-fake.test|250-PIPELINING|250 8BITMIME"
 *	helo REPLY		default "250 fake.test"
 *	mail [KEY] REPLY	default "250 2.1.0 Ok"
 *	rcpt [KEY] REPLY	default "550 5.1.1 User unknown"
 *	vrfy [KEY] REPLY	default "502 5.5.1 VRFY command is disabled"
 *		KEY selects by the command's address (inside <>, compared
 *		case-insensitively): an address, "*@domain", "*" or
 *		"default"; no KEY means "default". Look-up order: exact,
 *		*@domain, *, default. For mail, KEY "<>" is the null
 *		sender. Up to 64 keyed rules. "rcpt * 250 Ok" = catch-all.
 *	data REPLY		default "354 End data with <CR><LF>.<CR><LF>";
 *				a 3xx reply reads a message up to "."
 *	dataend REPLY		after the "." (default "250 2.0.0 Ok: queued")
 *	rset REPLY / noop REPLY	default "250 2.0.0 Ok"
 *	quit REPLY		default "221 2.0.0 Bye"; the server closes after it
 *	starttls REPLY		default "454 4.7.0 TLS not available"
 *	other REPLY		unknown commands, "502 5.5.2 Error: command not recognized"
 *
 *	STAGE is one of greeting ehlo helo mail rcpt vrfy data dataend
 *	rset noop quit starttls other; "any" where noted.
 *	delay STAGE MS		wait MS before replying (STAGE may be any)
 *	trickle BYTES MS [STAGE]  send replies BYTES bytes at a time, MS
 *				between pieces (no STAGE: every reply)
 *	giant-line N [STAGE]	reply with "250-" and N 'x' and a line end,
 *				then "250 fake.test" (default STAGE ehlo;
 *				N <= 64 MiB; the code follows the stage's reply)
 *	endless-multiline [STAGE] [MAXBYTES]  "250-" lines without end until
 *				the client goes away or MAXBYTES (default
 *				10 MiB, at most 256 MiB) are sent, then close
 *				(default STAGE ehlo)
 *	disconnect STAGE	close, saying nothing, when the command arrives
 *				(greeting: right after accepting)
 *	disconnect-after STAGE	send the first line of a multi-line reply,
 *				"CODE-partial" (CODE from the reply the stage
 *				would have given), and close: FIN mid-reply
 *	421-at STAGE		reply "421 4.3.2 fake.test closing connection"
 *				and close
 *	reset-at STAGE		close with a TCP reset (SO_LINGER 0)
 *	bare-lf			end every line sent with LF only
 *	idle MS			close a connection idle for MS (default 60000)
 *	max-line N		longest command line accepted (default 2048,
 *				<= 65536); longer ones get "500 5.5.0 Line too long"
 *
 * Examples: greylisting "rcpt default 450 4.7.1 Greylisted, try later";
 * mailbox full "rcpt full@x.test 552 5.2.2 Mailbox full"; policy
 * "rcpt default 554 5.7.1 Client host blocked"; refusing <> "mail <>
 * 550 5.7.1 Null sender refused"; slow server "delay rcpt 5000";
 * trickle "trickle 1 500 greeting".
 *
 * Caps: 4 MiB received per connection, 1000 commands per connection,
 * 1000 data lines are logged per message, script lines 8 KiB, replies
 * 4 KiB and 64 lines each.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN	16
#define MAX_CHILDREN	1024
#define RS_MAX		4096	/* bytes in one scripted reply */
#define RS_LINES	64	/* lines in one scripted reply */
#define MAX_RULES	64
#define KEY_MAX		320
#define SCRIPT_LINE_MAX	8192
#define IN_BUF		(65536 + 2)
#define CONN_IN_MAX	(4UL * 1024 * 1024)
#define CONN_CMDS_MAX	1000
#define LOG_TEXT_MAX	1000
#define DATA_LOG_MAX	1000

enum stage {
	ST_GREETING, ST_EHLO, ST_HELO, ST_MAIL, ST_RCPT, ST_VRFY, ST_DATA,
	ST_DATAEND, ST_RSET, ST_NOOP, ST_QUIT, ST_STARTTLS, ST_OTHER,
	ST_COUNT,
	ST_ANY = ST_COUNT
};

static const char *const stage_names[ST_COUNT] = {
	"greeting", "ehlo", "helo", "mail", "rcpt", "vrfy", "data",
	"dataend", "rset", "noop", "quit", "starttls", "other",
};

static const char *const default_replies[ST_COUNT] = {
	[ST_GREETING] = "220 fake.test ESMTP fake_smtpd",
	[ST_EHLO] = "250-fake.test|250-PIPELINING|250 8BITMIME",
	[ST_HELO] = "250 fake.test",
	[ST_MAIL] = "250 2.1.0 Ok",
	[ST_RCPT] = "550 5.1.1 User unknown",
	[ST_VRFY] = "502 5.5.1 VRFY command is disabled",
	[ST_DATA] = "354 End data with <CR><LF>.<CR><LF>",
	[ST_DATAEND] = "250 2.0.0 Ok: queued",
	[ST_RSET] = "250 2.0.0 Ok",
	[ST_NOOP] = "250 2.0.0 Ok",
	[ST_QUIT] = "221 2.0.0 Bye",
	[ST_STARTTLS] = "454 4.7.0 TLS not available",
	[ST_OTHER] = "502 5.5.2 Error: command not recognized",
};

/* A scripted reply, escapes decoded, split into lines. */
struct rspec {
	int	none;
	int	nlines;
	size_t	len[RS_LINES];
	size_t	off[RS_LINES];
	char	data[RS_MAX];
};

struct rule {
	char	key[KEY_MAX];
	struct rspec reply;
};

enum abort_kind { AB_NONE, AB_DISCONNECT, AB_PARTIAL, AB_421, AB_RESET };

struct stage_act {
	struct rspec reply;		/* valid when reply_set */
	int	reply_set;
	long	delay_ms;
	long	trickle_bytes, trickle_ms;
	unsigned long giant;		/* giant-line N, 0: off */
	unsigned long endless;		/* endless-multiline cap, 0: off */
	enum abort_kind abort;
};

struct script {
	struct stage_act act[ST_COUNT + 1];	/* [ST_ANY]: delay, trickle */
	struct rule rules[MAX_RULES];
	enum stage rule_stage[MAX_RULES];
	int	nrules;
	int	banner_multi;
	int	have_garbage;
	size_t	garbage_len;
	char	garbage[RS_MAX];
	int	bare_lf;
	long	idle_ms;
	size_t	max_line;
};

struct conn {
	int	fd;
	unsigned long id;
	const struct script *sc;
	char	in[IN_BUF];
	size_t	inlen;
	int	eof;
	int	greeted;
	int	early_logged;
	int	in_data;
	unsigned long total_in;
	unsigned long ncmds;
	unsigned long data_lines;
};

static int tfd = STDOUT_FILENO;		/* transcript */
static volatile sig_atomic_t stop_flag;

static void	die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void	tlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fake_smtpd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* tlog - one transcript line, one write() (O_APPEND: no mid-line mixing) */
static void
tlog(const char *fmt, ...)
{
	char line[LOG_TEXT_MAX * 4 + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	while (write(tfd, line, (size_t)n) < 0 && errno == EINTR)
		;
}

/* esc - printable, bounded rendering of bytes for the transcript */
static void
esc(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len && i < LOG_TEXT_MAX && n + 8 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\\')
			n += (size_t)snprintf(dst + n, size - n, "\\\\");
		else if (c >= 0x20 && c < 0x7f)
			dst[n++] = (char)c;
		else
			n += (size_t)snprintf(dst + n, size - n, "\\x%02x", c);
	}
	dst[n] = '\0';
	if (i < len)
		snprintf(dst + n, size - n, "...[%zu bytes]", len);
}

/* ---- script parsing ---- */

static int
parse_stage(const char *w, int allow_any)
{
	int i;

	for (i = 0; i < ST_COUNT; i++)
		if (strcasecmp(w, stage_names[i]) == 0)
			return i;
	if (allow_any && strcasecmp(w, "any") == 0)
		return ST_ANY;
	return -1;
}

/*
 * rspec_parse - REPLY text -> lines. Returns NULL or a reason.
 */
static const char *
rspec_parse(const char *text, struct rspec *rs)
{
	size_t n = 0;
	const char *p;

	memset(rs, 0, sizeof(*rs));
	if (strcmp(text, "none") == 0) {
		rs->none = 1;
		return NULL;
	}
	if (*text == '\0')
		return "empty reply";
	rs->nlines = 1;
	rs->off[0] = 0;
	for (p = text; *p != '\0'; p++) {
		int c = (unsigned char)*p;

		if (c == '|') {
			rs->len[rs->nlines - 1] = n - rs->off[rs->nlines - 1];
			if (rs->nlines == RS_LINES)
				return "too many reply lines";
			rs->off[rs->nlines++] = n;
			continue;
		}
		if (c == '\\') {
			p++;
			switch (*p) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case '\\': c = '\\'; break;
			case '|': c = '|'; break;
			case 'x':
				if (!isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]))
					return "bad \\x escape";
				{
					char hex[3] = { p[1], p[2], '\0' };

					c = (int)strtol(hex, NULL, 16);
				}
				p += 2;
				break;
			default:
				return "bad escape";
			}
		}
		if (n >= sizeof(rs->data))
			return "reply too long";
		rs->data[n++] = (char)c;
	}
	rs->len[rs->nlines - 1] = n - rs->off[rs->nlines - 1];
	return NULL;
}

/* a 3-digit word is a reply code: the directive has no KEY */
static int
is_code(const char *w)
{
	return isdigit((unsigned char)w[0]) && isdigit((unsigned char)w[1]) &&
	    isdigit((unsigned char)w[2]) && (w[3] == '\0' || w[3] == ' ' ||
	    w[3] == '-');
}

static char *
next_word(char **pp)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	*pp = p;
	return w;
}

static long
parse_num(const char *w, long min, long max, const char *file, int lineno)
{
	char *end;
	long v;

	if (w == NULL)
		die("%s:%d: number expected", file, lineno);
	errno = 0;
	v = strtol(w, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		die("%s:%d: bad number \"%s\" (want %ld..%ld)", file, lineno, w, min, max);
	return v;
}

static void
script_defaults(struct script *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->idle_ms = 60000;
	sc->max_line = 2048;
}

static void
script_line(struct script *sc, char *line, const char *file, int lineno)
{
	char *p = line, *cmd, *w, *rest;
	const char *why;
	int st;

	cmd = next_word(&p);
	if (cmd == NULL || cmd[0] == '#')
		return;
	/* rest of the line, trailing blanks removed */
	rest = p;
	{
		size_t n = strlen(rest);

		while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'))
			rest[--n] = '\0';
	}

	if ((st = parse_stage(cmd, 0)) >= 0 || strcasecmp(cmd, "banner") == 0) {
		if (st < 0)
			st = ST_GREETING;
		if (st == ST_MAIL || st == ST_RCPT || st == ST_VRFY) {
			if (*rest != '\0' && !is_code(rest) && strcmp(rest, "none") != 0) {
				char *q = rest;
				struct rule *r;

				w = next_word(&q);
				if (strcasecmp(w, "default") != 0) {
					if (sc->nrules == MAX_RULES)
						die("%s:%d: too many keyed rules", file, lineno);
					if (strlen(w) >= KEY_MAX)
						die("%s:%d: key too long", file, lineno);
					r = &sc->rules[sc->nrules];
					snprintf(r->key, sizeof(r->key), "%s", w);
					if ((why = rspec_parse(q, &r->reply)) != NULL)
						die("%s:%d: %s", file, lineno, why);
					sc->rule_stage[sc->nrules++] = (enum stage)st;
					return;
				}
				rest = q;
			}
		}
		if ((why = rspec_parse(rest, &sc->act[st].reply)) != NULL)
			die("%s:%d: %s", file, lineno, why);
		sc->act[st].reply_set = 1;
		if (st == ST_GREETING) {
			sc->have_garbage = 0;
			sc->banner_multi = 0;
		}
		return;
	}
	if (strcasecmp(cmd, "banner-multi") == 0) {
		sc->banner_multi = (int)parse_num(next_word(&p), 1, 1000, file, lineno);
		return;
	}
	if (strcasecmp(cmd, "garbage") == 0) {
		struct rspec tmp;

		if ((why = rspec_parse(rest, &tmp)) != NULL || tmp.none)
			die("%s:%d: %s", file, lineno, why != NULL ? why : "garbage text expected");
		if (tmp.nlines != 1)
			die("%s:%d: garbage: use \\| for a literal |", file, lineno);
		memcpy(sc->garbage, tmp.data, tmp.len[0]);
		sc->garbage_len = tmp.len[0];
		sc->have_garbage = 1;
		return;
	}
	if (strcasecmp(cmd, "delay") == 0) {
		w = next_word(&p);
		if (w == NULL || (st = parse_stage(w, 1)) < 0)
			die("%s:%d: delay STAGE MS", file, lineno);
		sc->act[st].delay_ms = parse_num(next_word(&p), 0, 3600000, file, lineno);
		return;
	}
	if (strcasecmp(cmd, "trickle") == 0) {
		long b = parse_num(next_word(&p), 1, 65536, file, lineno);
		long ms = parse_num(next_word(&p), 0, 3600000, file, lineno);

		st = ST_ANY;
		if ((w = next_word(&p)) != NULL && (st = parse_stage(w, 1)) < 0)
			die("%s:%d: unknown stage \"%s\"", file, lineno, w);
		sc->act[st].trickle_bytes = b;
		sc->act[st].trickle_ms = ms;
		return;
	}
	if (strcasecmp(cmd, "giant-line") == 0) {
		long n = parse_num(next_word(&p), 1, 64L * 1024 * 1024, file, lineno);

		st = ST_EHLO;
		if ((w = next_word(&p)) != NULL && (st = parse_stage(w, 0)) < 0)
			die("%s:%d: unknown stage \"%s\"", file, lineno, w);
		sc->act[st].giant = (unsigned long)n;
		return;
	}
	if (strcasecmp(cmd, "endless-multiline") == 0) {
		unsigned long cap = 10UL * 1024 * 1024;

		st = ST_EHLO;
		if ((w = next_word(&p)) != NULL) {
			if ((st = parse_stage(w, 0)) < 0)
				die("%s:%d: unknown stage \"%s\"", file, lineno, w);
			if ((w = next_word(&p)) != NULL)
				cap = (unsigned long)parse_num(w, 1, 256L * 1024 * 1024,
							       file, lineno);
		}
		sc->act[st].endless = cap;
		return;
	}
	if (strcasecmp(cmd, "disconnect") == 0 || strcasecmp(cmd, "disconnect-after") == 0 ||
	    strcasecmp(cmd, "421-at") == 0 || strcasecmp(cmd, "reset-at") == 0) {
		w = next_word(&p);
		if (w == NULL || (st = parse_stage(w, 0)) < 0)
			die("%s:%d: %s STAGE", file, lineno, cmd);
		if (strcasecmp(cmd, "disconnect") == 0)
			sc->act[st].abort = AB_DISCONNECT;
		else if (strcasecmp(cmd, "disconnect-after") == 0)
			sc->act[st].abort = AB_PARTIAL;
		else if (strcasecmp(cmd, "421-at") == 0)
			sc->act[st].abort = AB_421;
		else
			sc->act[st].abort = AB_RESET;
		return;
	}
	if (strcasecmp(cmd, "bare-lf") == 0) {
		sc->bare_lf = 1;
		return;
	}
	if (strcasecmp(cmd, "idle") == 0) {
		sc->idle_ms = parse_num(next_word(&p), 1, 3600000, file, lineno);
		return;
	}
	if (strcasecmp(cmd, "max-line") == 0) {
		sc->max_line = (size_t)parse_num(next_word(&p), 16, 65536, file, lineno);
		return;
	}
	die("%s:%d: unknown directive \"%s\"", file, lineno, cmd);
}

static void
script_load(struct script *sc, const char *file)
{
	char line[SCRIPT_LINE_MAX + 2];
	FILE *fp;
	int lineno = 0;
	size_t n;

	if ((fp = fopen(file, "r")) == NULL)
		die("%s: %s", file, strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		n = strlen(line);
		if (n > 0 && line[n - 1] != '\n' && !feof(fp))
			die("%s:%d: line too long", file, lineno);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		script_line(sc, line, file, lineno);
	}
	if (ferror(fp))
		die("%s: read error", file);
	fclose(fp);
}

/* ---- connection I/O ---- */

static void
conn_close(struct conn *c, const char *why)
{
	char buf[LOG_TEXT_MAX * 4 + 64];

	if (c->inlen > 0) {
		esc(buf, sizeof(buf), c->in, c->inlen);
		tlog("%lu C(partial): %s", c->id, buf);
	}
	tlog("%lu CLOSE%s%s", c->id, why[0] != '\0' ? " " : "", why);
	close(c->fd);
	_exit(0);
}

static void
conn_reset(struct conn *c)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close(c, "reset");
}

/*
 * conn_fill - one bounded read into the input buffer. Returns bytes
 * read, 0 at EOF, -1 on error. Logs EARLY and PIPELINED.
 */
static ssize_t
conn_fill(struct conn *c)
{
	size_t room = sizeof(c->in) - c->inlen, i, lines = 0;
	ssize_t r;

	if (room == 0)
		return -1;	/* cannot happen: lines are cut at max_line */
	do
		r = read(c->fd, c->in + c->inlen, room);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r;
	c->total_in += (unsigned long)r;
	if (!c->greeted && !c->early_logged) {
		tlog("%lu EARLY %zd", c->id, r);
		c->early_logged = 1;
	}
	for (i = 0; i < (size_t)r; i++)
		if (c->in[c->inlen + i] == '\n')
			lines++;
	if (lines >= 2)
		tlog("%lu PIPELINED %zu", c->id, lines);
	c->inlen += (size_t)r;
	if (c->total_in > CONN_IN_MAX)
		conn_close(c, "input cap reached");
	return r;
}

/*
 * conn_wait - wait ms, reading whatever the client sends meanwhile;
 * closes the connection (and exits) when the client goes away.
 */
static void
conn_wait(struct conn *c, long ms)
{
	long end = now_ms() + ms, left;
	struct pollfd pfd;
	int rc;

	while ((left = end - now_ms()) > 0) {
		pfd.fd = c->fd;
		pfd.events = c->inlen < sizeof(c->in) / 2 ? POLLIN : 0;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			conn_close(c, "poll error");
		if (rc > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			if (conn_fill(c) <= 0)
				conn_close(c, "client closed");
		}
	}
}

static void
send_raw(struct conn *c, const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			conn_close(c, "write failed (client gone)");
		buf += w;
		len -= (size_t)w;
	}
}

/* send_bytes - send with the stage's (or the global) trickle */
static void
send_bytes(struct conn *c, enum stage st, const char *buf, size_t len)
{
	const struct stage_act *a = &c->sc->act[st];
	long b = a->trickle_bytes, ms = a->trickle_ms;
	size_t n;

	if (b == 0) {
		b = c->sc->act[ST_ANY].trickle_bytes;
		ms = c->sc->act[ST_ANY].trickle_ms;
	}
	if (b == 0) {
		send_raw(c, buf, len);
		return;
	}
	while (len > 0) {
		n = len < (size_t)b ? len : (size_t)b;
		send_raw(c, buf, n);
		buf += n;
		len -= n;
		if (len > 0)
			conn_wait(c, ms);
	}
}

static const char *
eol(const struct conn *c)
{
	return c->sc->bare_lf ? "\n" : "\r\n";
}

/* send_line - log and send one line plus the line end */
static void
send_line(struct conn *c, enum stage st, const char *line, size_t len)
{
	char buf[RS_MAX + 2];
	char shown[LOG_TEXT_MAX * 4 + 64];

	if (len > RS_MAX)
		len = RS_MAX;
	esc(shown, sizeof(shown), line, len);
	tlog("%lu S: %s", c->id, shown);
	memcpy(buf, line, len);
	memcpy(buf + len, eol(c), strlen(eol(c)));
	send_bytes(c, st, buf, len + strlen(eol(c)));
}

/*
 * send_reply - a whole reply. All lines are sent in one piece (one
 * trickle stream), each logged first.
 */
static void
send_reply(struct conn *c, enum stage st, const struct rspec *rs)
{
	char buf[RS_MAX + 2 * RS_LINES];
	char shown[LOG_TEXT_MAX * 4 + 64];
	size_t n = 0, el = strlen(eol(c));
	int i;

	if (rs->none)
		return;
	for (i = 0; i < rs->nlines; i++) {
		esc(shown, sizeof(shown), rs->data + rs->off[i], rs->len[i]);
		tlog("%lu S: %s", c->id, shown);
		memcpy(buf + n, rs->data + rs->off[i], rs->len[i]);
		n += rs->len[i];
		memcpy(buf + n, eol(c), el);
		n += el;
	}
	send_bytes(c, st, buf, n);
}

/* reply_code - the 3-digit code a reply starts with, or dflt */
static void
reply_code(const struct rspec *rs, const char *dflt, char code[4])
{
	if (!rs->none && rs->nlines > 0 && rs->len[0] >= 3 &&
	    isdigit((unsigned char)rs->data[0]) && isdigit((unsigned char)rs->data[1]) &&
	    isdigit((unsigned char)rs->data[2]))
		memcpy(code, rs->data, 3);
	else
		memcpy(code, dflt, 3);
	code[3] = '\0';
}

static void
send_giant(struct conn *c, enum stage st, unsigned long n, const char *code)
{
	char chunk[8192];
	unsigned long left = n;
	size_t k;

	tlog("%lu S: [giant line %lu bytes]", c->id, n + 4);
	snprintf(chunk, sizeof(chunk), "%s-", code);
	send_bytes(c, st, chunk, 4);
	memset(chunk, 'x', sizeof(chunk));
	while (left > 0) {
		k = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
		send_bytes(c, st, chunk, k);
		left -= k;
	}
	send_bytes(c, st, eol(c), strlen(eol(c)));
	snprintf(chunk, sizeof(chunk), "%s fake.test", code);
	send_line(c, st, chunk, strlen(chunk));
}

static void
send_endless(struct conn *c, enum stage st, unsigned long cap, const char *code)
{
	char line[128];
	unsigned long sent = 0, nlines = 0;
	const struct stage_act *a = &c->sc->act[st];
	int trickled = a->trickle_bytes > 0 || c->sc->act[ST_ANY].trickle_bytes > 0;
	ssize_t w;
	int len;

	tlog("%lu S: [endless multi-line reply, cap %lu bytes]", c->id, cap);
	while (sent < cap) {
		len = snprintf(line, sizeof(line), "%s-endless line %lu xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%s",
			       code, nlines, eol(c));
		if (trickled)
			send_bytes(c, st, line, (size_t)len);
		else {
			/* no conn_close() here: we want the summary line */
			do
				w = send(c->fd, line, (size_t)len, MSG_NOSIGNAL);
			while (w < 0 && errno == EINTR);
			if (w <= 0)
				break;
		}
		sent += (unsigned long)len;
		nlines++;
	}
	tlog("%lu S: [endless: %lu lines, %lu bytes]", c->id, nlines, sent);
	conn_close(c, sent >= cap ? "endless cap reached" : "client stopped reading");
}

/* addr_arg - the address in "FROM:<addr> ..." / "TO:<a>" / "<a>" / "a" */
static void
addr_arg(const char *arg, char *out, size_t size)
{
	const char *p = strchr(arg, '<'), *q;
	size_t n;
	int inq = 0;

	if (p == NULL) {
		/* VRFY user / malformed: the first word after any ':' */
		q = strchr(arg, ':');
		p = q != NULL ? q + 1 : arg;
		while (*p == ' ')
			p++;
		for (q = p; *q != '\0' && *q != ' '; q++)
			;
	} else {
		for (q = ++p; *q != '\0'; q++) {
			if (*q == '\\' && inq && q[1] != '\0')
				q++;
			else if (*q == '"')
				inq = !inq;
			else if (*q == '>' && !inq)
				break;
		}
	}
	n = (size_t)(q - p);
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* find_reply - the keyed rule or the stage's reply for this command */
static const struct rspec *
find_reply(const struct conn *c, enum stage st, const char *arg, struct rspec *tmp)
{
	const struct script *sc = c->sc;
	char addr[KEY_MAX];
	const char *at, *why;
	int i, best = -1, rank = 0;

	if ((st == ST_MAIL || st == ST_RCPT || st == ST_VRFY) && sc->nrules > 0) {
		addr_arg(arg, addr, sizeof(addr));
		at = strrchr(addr, '@');
		for (i = 0; i < sc->nrules; i++) {
			const char *k = sc->rules[i].key;
			int r = 0;

			if (sc->rule_stage[i] != st)
				continue;
			if (strcasecmp(k, addr) == 0 ||
			    (st == ST_MAIL && addr[0] == '\0' && strcmp(k, "<>") == 0))
				r = 3;
			else if (k[0] == '*' && k[1] == '@' && at != NULL &&
				 strcasecmp(k + 2, at + 1) == 0)
				r = 2;
			else if (strcmp(k, "*") == 0)
				r = 1;
			/* later rules override earlier ones of the same rank */
			if (r > 0 && r >= rank) {
				rank = r;
				best = i;
			}
		}
		if (best >= 0)
			return &sc->rules[best].reply;
	}
	if (sc->act[st].reply_set)
		return &sc->act[st].reply;
	why = rspec_parse(default_replies[st], tmp);
	(void)why;
	return tmp;
}

/*
 * stage_reply - everything the script says about answering a command
 * of stage st (arg: the rest of the command line). Returns only when
 * the connection goes on.
 */
static void
stage_reply(struct conn *c, enum stage st, const char *arg)
{
	const struct stage_act *a = &c->sc->act[st];
	const struct rspec *rs;
	struct rspec tmp;
	char code[4], line[64];
	long d;

	if (a->abort == AB_RESET)
		conn_reset(c);
	if (a->abort == AB_DISCONNECT)
		conn_close(c, "disconnect (script)");
	d = a->delay_ms + c->sc->act[ST_ANY].delay_ms;
	if (d > 0)
		conn_wait(c, d);
	if (a->abort == AB_421) {
		snprintf(line, sizeof(line), "421 4.3.2 fake.test closing connection");
		send_line(c, st, line, strlen(line));
		conn_close(c, "421 (script)");
	}
	rs = find_reply(c, st, arg, &tmp);
	reply_code(rs, st == ST_GREETING ? "220" : "250", code);
	if (a->abort == AB_PARTIAL) {
		snprintf(line, sizeof(line), "%s-partial", code);
		send_line(c, st, line, strlen(line));
		conn_close(c, "disconnect mid-reply (script)");
	}
	if (a->endless > 0)
		send_endless(c, st, a->endless, code);
	if (a->giant > 0) {
		send_giant(c, st, a->giant, code);
		return;
	}
	if (st == ST_GREETING && c->sc->have_garbage) {
		send_line(c, st, c->sc->garbage, c->sc->garbage_len);
		c->greeted = 1;
		return;
	}
	if (st == ST_GREETING && c->sc->banner_multi > 0) {
		int i;

		for (i = 1; i < c->sc->banner_multi; i++) {
			snprintf(line, sizeof(line), "220-fake.test line %d", i);
			send_line(c, st, line, strlen(line));
		}
		snprintf(line, sizeof(line), "220 fake.test ESMTP");
		send_line(c, st, line, strlen(line));
		c->greeted = 1;
		return;
	}
	send_reply(c, st, rs);
	if (st == ST_GREETING && !rs->none)
		c->greeted = 1;
	if (st == ST_DATA && code[0] == '3' && !rs->none) {
		c->in_data = 1;
		c->data_lines = 0;
	}
}

/*
 * conn_line - next line (terminator stripped) into line; returns its
 * length, or -2 for an overlong line, which is consumed: then *toolong
 * is its length and line holds its first *shown bytes. Closes the
 * connection (and exits) on EOF or idle time-out.
 */
static long
conn_line(struct conn *c, char *line, size_t *toolong, size_t *shown)
{
	size_t maxl = c->sc->max_line, skipped = 0, n, used;
	char *lf;
	struct pollfd pfd;
	int rc, over;
	long deadline = now_ms() + c->sc->idle_ms, left;

	*shown = 0;
	for (;;) {
		lf = memchr(c->in, '\n', c->inlen);
		if (lf != NULL) {
			n = (size_t)(lf - c->in);
			used = n + 1;
			over = skipped > 0 || n > maxl;
			if (over) {
				if (skipped == 0) {
					*shown = n < 64 ? n : 64;
					memcpy(line, c->in, *shown);
				}
				*toolong = skipped + n;
			} else {
				memcpy(line, c->in, n);
				if (n > 0 && line[n - 1] == '\r')
					n--;
				line[n] = '\0';
			}
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
			return over ? -2 : (long)n;
		}
		if (c->inlen > maxl) {
			/* overlong: keep the start for the log, drop the rest */
			if (skipped == 0) {
				*shown = 64;
				memcpy(line, c->in, *shown);
			}
			skipped += c->inlen;
			c->inlen = 0;
		}
		left = deadline - now_ms();
		if (left <= 0)
			conn_close(c, "idle timeout");
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			conn_close(c, "poll error");
		if (rc <= 0)
			continue;
		if (conn_fill(c) <= 0) {
			if (skipped > 0) {
				tlog("%lu C: [too long: %zu bytes, unterminated]", c->id, skipped);
				c->inlen = 0;
			}
			conn_close(c, "client closed");
		}
	}
}

static enum stage
verb_stage(const char *line, const char **arg)
{
	static const struct { const char *verb; enum stage st; } verbs[] = {
		{ "EHLO", ST_EHLO }, { "HELO", ST_HELO }, { "MAIL", ST_MAIL },
		{ "RCPT", ST_RCPT }, { "VRFY", ST_VRFY }, { "DATA", ST_DATA },
		{ "RSET", ST_RSET }, { "NOOP", ST_NOOP }, { "QUIT", ST_QUIT },
		{ "STARTTLS", ST_STARTTLS },
	};
	size_t i, n;

	for (n = 0; line[n] != '\0' && line[n] != ' '; n++)
		;
	*arg = line + n;
	while (**arg == ' ')
		(*arg)++;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].verb) == n && strncasecmp(line, verbs[i].verb, n) == 0)
			return verbs[i].st;
	return ST_OTHER;
}

static void __attribute__((noreturn))
serve(int fd, unsigned long id, const struct script *sc, long end_ms)
{
	static struct conn c;	/* one per process: this is the child */
	char line[65536 + 2];
	char shown[LOG_TEXT_MAX * 4 + 64];
	const char *arg;
	enum stage st;
	size_t toolong, shownlen;
	long n;

	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.id = id;
	c.sc = sc;
	if (end_ms > 0) {
		long left = end_ms - now_ms();

		alarm(left > 1000 ? (unsigned)(left / 1000) + 1 : 1);
	}
	stage_reply(&c, ST_GREETING, "");
	for (;;) {
		toolong = 0;
		n = conn_line(&c, line, &toolong, &shownlen);
		if (n == -2) {
			esc(shown, sizeof(shown), line, shownlen);
			tlog("%lu C: [too long: %zu bytes] %s", c.id, toolong, shown);
			if (!c.in_data && c.greeted) {
				const char *m = "500 5.5.0 Line too long";

				send_line(&c, ST_OTHER, m, strlen(m));
			}
			continue;
		}
		esc(shown, sizeof(shown), line, (size_t)n);
		if (c.in_data) {
			if (++c.data_lines <= DATA_LOG_MAX)
				tlog("%lu C: %s", c.id, shown);
			if (n == 1 && line[0] == '.') {
				c.in_data = 0;
				stage_reply(&c, ST_DATAEND, "");
			}
			continue;
		}
		tlog("%lu C: %s", c.id, shown);
		if (!c.greeted)
			continue;	/* "banner none": listen, never answer */
		if (++c.ncmds > CONN_CMDS_MAX) {
			const char *m = "421 4.7.0 fake.test too many commands";

			send_line(&c, ST_OTHER, m, strlen(m));
			conn_close(&c, "command cap reached");
		}
		st = verb_stage(line, &arg);
		stage_reply(&c, st, arg);
		if (st == ST_QUIT && !c.sc->act[ST_QUIT].reply.none)
			conn_close(&c, "after QUIT");
	}
}

/* ---- listener / parent ---- */

struct listener {
	int	fd;
	char	spec[128];
	char	host[64];
	int	v6;
};

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
parse_listen(const char *spec, struct listener *l)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	const char *colon, *portp;
	char host[64], *end;
	long port;
	int one = 1;
	size_t hl;

	memset(&ss, 0, sizeof(ss));
	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (colon == NULL)
			die("-l %s: want [IPV6]:PORT", spec);
		hl = (size_t)(colon - spec - 1);
		portp = colon + 2;
		if (hl >= sizeof(host))
			die("-l %s: bad address", spec);
		memcpy(host, spec + 1, hl);
		l->v6 = 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			die("-l %s: want ADDR:PORT", spec);
		hl = (size_t)(colon - spec);
		portp = colon + 1;
		if (hl >= sizeof(host))
			die("-l %s: bad address", spec);
		memcpy(host, spec, hl);
		l->v6 = 0;
	}
	host[hl] = '\0';
	errno = 0;
	port = strtol(portp, &end, 10);
	if (errno != 0 || *end != '\0' || end == portp || port < 0 || port > 65535)
		die("-l %s: bad port", spec);
	if (l->v6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			die("-l %s: bad IPv6 address", spec);
	} else {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			die("-l %s: bad IPv4 address", spec);
	}
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	snprintf(l->host, sizeof(l->host), "%s", host);
	l->fd = socket(l->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0)
		die("socket: %s", strerror(errno));
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("SO_REUSEADDR: %s", strerror(errno));
	if (l->v6 && setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		die("IPV6_V6ONLY: %s", strerror(errno));
	if (bind(l->fd, (struct sockaddr *)&ss, l->v6 ? sizeof(*in6) : sizeof(*in)) < 0)
		die("bind %s: %s", spec, strerror(errno));
	if (listen(l->fd, 64) < 0)
		die("listen %s: %s", spec, strerror(errno));
}

static int
listener_port(const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		die("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	int fd;
	size_t len = strlen(text);

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		die("%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: %s", tmp, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || close(fd) < 0)
		die("%s: write failed", tmp);
	if (rename(tmp, path) < 0)
		die("rename %s: %s", path, strerror(errno));
}

static void
peer_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: fake_smtpd -l ADDR:PORT [-l ...] [-s SCRIPT] [-t TRANSCRIPT]\n"
		"\t[-p PIDFILE] [-r READYFILE] [-T SECONDS] [-c MAXCONN] [-n COUNT]\n"
		"(the script language is described at the top of fake_smtpd.c)\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	static struct script sc;
	static struct listener ls[MAX_LISTEN];
	static pid_t kids[MAX_CHILDREN];
	struct pollfd pfd[MAX_LISTEN];
	struct sigaction sa;
	const char *script = NULL, *transcript = NULL, *pidfile = NULL, *readyfile = NULL;
	long lifetime = 1800, maxconn = 64, count = 0, start, end_ms = 0;
	unsigned long id = 0, served = 0, refused = 0;
	int active = 0, maxactive = 0, ch, i;
	unsigned nls = 0;
	char ready[MAX_LISTEN * 160], peer[80], buf[64];
	size_t rl = 0;

	script_defaults(&sc);
	while ((ch = getopt(argc, argv, "l:s:t:p:r:T:c:n:")) != -1) {
		switch (ch) {
		case 'l':
			if (nls == MAX_LISTEN)
				die("too many -l");
			parse_listen(optarg, &ls[nls++]);
			break;
		case 's': script = optarg; break;
		case 't': transcript = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'r': readyfile = optarg; break;
		case 'T': lifetime = parse_num(optarg, 0, 86400 * 7, "-T", 0); break;
		case 'c': maxconn = parse_num(optarg, 1, MAX_CHILDREN, "-c", 0); break;
		case 'n': count = parse_num(optarg, 1, LONG_MAX, "-n", 0); break;
		default: usage();
		}
	}
	if (optind != argc || nls == 0)
		usage();
	if (script != NULL)
		script_load(&sc, script);
	if (transcript != NULL) {
		tfd = open(transcript, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (tfd < 0)
			die("%s: %s", transcript, strerror(errno));
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	for (i = 0; i < (int)nls; i++)
		rl += (size_t)snprintf(ready + rl, sizeof(ready) - rl, "%s %d\n",
				       ls[i].host, listener_port(&ls[i]));
	if (pidfile != NULL) {
		snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
		write_file(pidfile, buf);
	}
	if (readyfile != NULL)
		write_file(readyfile, ready);

	start = now_ms();
	if (lifetime > 0)
		end_ms = start + lifetime * 1000;
	while (!stop_flag) {
		pid_t pid;
		int status, rc;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < MAX_CHILDREN; i++)
				if (kids[i] == pid) {
					kids[i] = 0;
					active--;
					served++;
					break;
				}
		}
		if (end_ms > 0 && now_ms() >= end_ms) {
			tlog("LIFETIME reached (%ld s)", lifetime);
			break;
		}
		if (count > 0 && (long)served >= count && active == 0)
			break;
		for (i = 0; i < (int)nls; i++) {
			pfd[i].fd = ls[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		/* a short poll doubles as the child reaper's clock */
		rc = poll(pfd, nls <= MAX_LISTEN ? nls : MAX_LISTEN, 100);
		if (rc <= 0)
			continue;
		for (i = 0; i < (int)nls; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			int fd, k;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(ls[i].fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			peer_str(&ss, peer, sizeof(peer));
			id++;
			if (active >= maxconn || (count > 0 && (long)id > count)) {
				tlog("%lu REFUSED %s", id, peer);
				refused++;
				close(fd);
				continue;
			}
			for (k = 0; k < MAX_CHILDREN && kids[k] != 0; k++)
				;
			active++;
			if (active > maxactive)
				maxactive = active;
			tlog("%lu CONNECT %s active=%d", id, peer, active);
			pid = fork();
			if (pid < 0) {
				tlog("%lu CLOSE fork failed: %s", id, strerror(errno));
				active--;
				close(fd);
				continue;
			}
			if (pid == 0) {
				int j;

				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() == 1)
					_exit(0);
				for (j = 0; j < (int)nls; j++)
					close(ls[j].fd);
				sa.sa_handler = SIG_DFL;
				sigaction(SIGTERM, &sa, NULL);
				sigaction(SIGINT, &sa, NULL);
				serve(fd, id, &sc, end_ms);
			}
			kids[k] = pid;
			close(fd);
		}
	}
	for (i = 0; i < (int)nls; i++)
		close(ls[i].fd);
	for (i = 0; i < MAX_CHILDREN; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	{
		long until = now_ms() + 2000;
		pid_t pid;

		while (active > 0 && now_ms() < until) {
			pid = waitpid(-1, NULL, WNOHANG);
			if (pid > 0) {
				for (i = 0; i < MAX_CHILDREN; i++)
					if (kids[i] == pid) {
						kids[i] = 0;
						active--;
						served++;
					}
			} else
				usleep(10000);
		}
		for (i = 0; i < MAX_CHILDREN; i++)
			if (kids[i] > 0) {
				kill(kids[i], SIGKILL);
				waitpid(kids[i], NULL, 0);
			}
	}
	tlog("STATS connections=%lu max_concurrent=%d refused=%lu", id - refused, maxactive, refused);
	if (pidfile != NULL)
		unlink(pidfile);
	return 0;
}
