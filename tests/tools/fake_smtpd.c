/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fake_smtpd - a small scriptable SMTP server for the unit tests and
 * the integration lab. It plays well-behaved, odd and hostile servers:
 * silent ones, tricklers, giant lines, endless multi-line replies,
 * garbage banners, disconnects mid-reply, 421, catch-alls, policy
 * refusals, greylisting, mailbox-full, refusal of <>, and STARTTLS:
 * real TLS with any certificate, and the hostile peers of TLS.
 *
 * USAGE
 *	fake_smtpd -l ADDR:PORT [-l ADDR:PORT ...] [-s SCRIPT] [-t TRANSCRIPT]
 *		   [-p PIDFILE] [-r READYFILE] [-T SECONDS] [-c MAXCONN] [-n COUNT]
 *		   [-C CERTFILE -K KEYFILE]
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
 *	-C, -K	PEM certificate (chain) and key for STARTTLS; with them
 *		the server offers STARTTLS and does a real handshake
 *		(script "tls" below). The certificate is not checked:
 *		self-signed, expired, another host's name all do.
 *	SIGTERM or SIGINT: stop, end all connections, write STATS, exit 0.
 *
 * The server only ever binds, listens and accepts: it never connects
 * anywhere. One child process per connection (the parent counts them),
 * every read is bounded, and the children die with the parent.
 *
 * FILES: this file (this description, the transcript, the listeners and
 * the parent: accept, fork, reap, limits, exit), fake_smtpd/script.c
 * (the script parser), fake_smtpd/conn.c (one connection, in its
 * child), fake_smtpd/tls.c (OpenSSL, server side) and
 * fake_smtpd/fake_smtpd.h (what they share).
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
 *	ID BATCH N			with "batch": the N replies logged
 *					since the last write go out in one
 *					send() now
 *	ID S: [giant line N bytes]	see giant-line
 *	ID S: [endless: N lines, M bytes]	see endless-multiline
 *	ID TLS start MODE		STARTTLS accepted, the 220 is sent;
 *					MODE: handshake garbage close inject stall
 *	ID TLS established PROTO CIPHER sni=NAME  a handshake succeeded
 *					(NAME: the client's SNI, "-" none);
 *					the dialogue goes on inside TLS
 *	ID TLS failed WHY		the handshake failed
 *	ID TLS plaintext after STARTTLS: N bytes, dropped: BYTES
 *					the client sent more after its STARTTLS
 *	ID S(injected): LINE		"tls inject": a line sent in the 220's write
 *	ID TLS garbage sent N bytes after a M-byte ClientHello: BYTES
 *	ID TLS trickle: sent N bytes in MS ms	"tls trickle": the handshake's
 *					server side is out (or the client went:
 *					then "TLS failed client closed after ...")
 *	ID TLS WHAT: received N bytes, client closed|idle after MS ms
 *					end of "tls stall" or "tls garbage"
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
 *	close-after STAGE [N]	send the whole reply to the Nth command of
 *				STAGE (default 1), then close (FIN); the
 *				commands after it go unanswered
 *	batch			as Postfix does: hold replies back while
 *				whole command lines are waiting in the
 *				input, then write them all in one send()
 *				(also before any delay, trickle pause or
 *				close); without it each reply is its own
 *				send()
 *	bare-lf			end every line sent with LF only
 *	idle MS			close a connection idle for MS (default 60000)
 *	max-line N		longest command line accepted (default 2048,
 *				<= 65536); longer ones get "500 5.5.0 Line too long"
 *
 *	STARTTLS. TLS is on with -C/-K or any "tls" mode but "off". Then
 *	EHLO replies (2xx) get a "250-STARTTLS" line after their first
 *	line, until TLS is up, and STARTTLS is answered "220 2.0.0 Ready
 *	to start TLS" (a "starttls 220 ..." line changes the text; a
 *	"starttls" reply that is not 220, e.g. "starttls 454 4.7.0 TLS not
 *	available due to local problem", is sent as it is and the dialogue
 *	stays plaintext). Without TLS, STARTTLS gets the starttls reply.
 *	Inside TLS the script goes on as before (EHLO again: no STARTTLS
 *	line; a second STARTTLS: "554 5.5.1 Error: TLS already active").
 *	tls MODE [TEXT]		what follows the 220:
 *		handshake	a real TLS handshake (the default with -C;
 *				needs -C/-K)
 *		garbage [TEXT]	wait for the ClientHello, answer it with TEXT
 *				instead of a ServerHello (default "500 5.5.2
 *				Error: command not recognized" CRLF, as a
 *				server that reads the ClientHello as a
 *				command), then read until the client goes
 *		close		close right after the 220
 *		inject [REPLY]	the REPLY lines in the same write as the 220
 *				(STARTTLS response injection; default "250
 *				2.1.5 Ok (injected before the TLS handshake)"),
 *				then the real handshake (needs -C/-K)
 *		stall		the 220, then never a byte: read until the
 *				client goes or the idle time ends
 *		trickle BYTES MS  a real handshake whose server bytes go out
 *				BYTES at a time, MS apart (each piece well
 *				inside a per-read time-out, the whole far
 *				beyond a step's); needs -C/-K
 *		off		no TLS (the default without -C)
 *	tls-offer yes|no	announce STARTTLS in EHLO or not (default:
 *				yes when TLS is on); "no" with tls-required
 *				is a server that demands TLS and hides it
 *	tls-ehlo REPLY		the EHLO reply inside TLS (default: the
 *				ehlo one), e.g. other extensions than before
 *	tls-max 1.0|1.1|1.2|1.3	the highest protocol the handshake offers
 *				(1.0 and 1.1 also lower OpenSSL's floor and
 *				security level, which refuse them otherwise)
 *	tls-required [REPLY]	in plaintext, MAIL, RCPT, VRFY and DATA get
 *				REPLY (default "530 5.7.0 Must issue a
 *				STARTTLS command first")
 *
 * Examples: greylisting "rcpt default 450 4.7.1 Greylisted, try later";
 * mailbox full "rcpt full@x.test 552 5.2.2 Mailbox full"; policy
 * "rcpt default 554 5.7.1 Client host blocked"; refusing <> "mail <>
 * 550 5.7.1 Null sender refused"; slow server "delay rcpt 5000";
 * trickle "trickle 1 500 greeting"; TLS required "tls-required" with
 * -C/-K; a 454 to STARTTLS "tls-offer yes" and "starttls 454 4.7.0 TLS
 * not available due to local problem".
 *
 * Caps: 4 MiB received per connection, 1000 commands per connection,
 * 1000 data lines are logged per message, script lines 8 KiB, replies
 * 4 KiB and 64 lines each.
 */
#include <arpa/inet.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_smtpd/fake_smtpd.h"

#define MAX_LISTEN	16
#define MAX_CHILDREN	1024

static int tfd = STDOUT_FILENO;		/* transcript */
static volatile sig_atomic_t stop_flag;

/* ---- transcript and small helpers (fake_smtpd.h) ---- */

void
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

long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* tlog - one transcript line, one write() (O_APPEND: no mid-line mixing) */
void
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
void
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
		"\t[-C CERTFILE -K KEYFILE]\n"
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
	const char *cert = NULL, *key = NULL;
	long lifetime = 1800, maxconn = 64, count = 0, start, end_ms = 0;
	unsigned long id = 0, served = 0, refused = 0;
	int active = 0, maxactive = 0, ch, i;
	unsigned nls = 0;
	char ready[MAX_LISTEN * 160], peer[80], buf[64];
	size_t rl = 0;

	script_defaults(&sc);
	while ((ch = getopt(argc, argv, "l:s:t:p:r:T:c:n:C:K:")) != -1) {
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
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || nls == 0)
		usage();
	if (script != NULL)
		script_load(&sc, script);
	if ((cert == NULL) != (key == NULL))
		die("-C and -K go together");
	if (cert != NULL) {
		tls_load(cert, key);
		if (!sc.tls_mode_set)
			sc.tls_mode = TLS_HANDSHAKE;
	}
	if ((sc.tls_mode == TLS_HANDSHAKE || sc.tls_mode == TLS_INJECT ||
	     sc.tls_mode == TLS_TRICKLE) && !tls_loaded())
		die("tls %s needs -C and -K", tls_mode_name(sc.tls_mode));
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
				conn_serve(fd, id, &sc, end_ms);
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
