/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conn - one fake_smtpd connection, served in the child process the
 * parent forked for it: read command lines, answer each as the script
 * says (replies, delays, trickles, giant and endless replies,
 * disconnects, 421, resets, batched writes, STARTTLS and its hostile
 * variants; see the top of tests/tools/fake_smtpd.c), and write the
 * transcript lines of the connection (EARLY, PIPELINED, C:, S:, BATCH,
 * TLS, CLOSE). After a handshake every read and write goes through
 * TLS (io_read, io_send; tls.c); what the client sent in plaintext
 * after its STARTTLS line is logged and dropped.
 *
 * Every read is bounded: lines are cut at the script's max-line, a
 * connection gets at most CONN_IN_MAX bytes and CONN_CMDS_MAX
 * commands, and at most DATA_LOG_MAX data lines of a message are
 * logged. The child exits (conn_close) whenever the connection ends,
 * so the functions here that close never return.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_smtpd.h"

#define IN_BUF		(65536 + 2)
#define CONN_IN_MAX	(4UL * 1024 * 1024)
#define CONN_CMDS_MAX	1000
#define DATA_LOG_MAX	1000
#define OUT_BUF		65536	/* replies held back by "batch" */

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
	unsigned long nstage[ST_COUNT];	/* commands of each stage so far */
	char	out[OUT_BUF];		/* batch: replies not yet written */
	size_t	outlen;
	int	nout;			/* batch: replies in out */
	struct ssl_st *ssl;		/* after STARTTLS: all I/O goes through it */
	int	tls_notify;		/* end TLS with close_notify (after QUIT only) */
};

/* io_read - one read, plaintext or TLS: bytes, 0 at EOF, -1 on error */
static ssize_t
io_read(struct conn *c, void *buf, size_t len)
{
	ssize_t r;

	if (c->ssl != NULL)
		return tls_read(c->ssl, buf, len);
	do
		r = read(c->fd, buf, len);
	while (r < 0 && errno == EINTR);
	return r;
}

/* io_send - send all of buf, plaintext or TLS: 0, or -1 when the client is gone */
static int
io_send(struct conn *c, const char *buf, size_t len)
{
	ssize_t w;

	if (c->ssl != NULL)
		return tls_write(c->ssl, buf, len) == (long)len ? 0 : -1;
	while (len > 0) {
		w = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* io_ready - input is waiting that poll() would not show (TLS buffers) */
static int
io_ready(const struct conn *c)
{
	return c->ssl != NULL && tls_pending(c->ssl) > 0;
}

/*
 * conn_flush - write the replies "batch" held back, in one send(), and
 * log "BATCH N" first. Returns 0, or -1 when the client is gone.
 */
static int
conn_flush(struct conn *c)
{
	int rc;

	if (c->outlen == 0)
		return 0;
	tlog("%lu BATCH %d", c->id, c->nout);
	rc = io_send(c, c->out, c->outlen);
	c->outlen = 0;
	c->nout = 0;
	return rc;
}


static void
conn_close(struct conn *c, const char *why)
{
	char buf[LOG_TEXT_MAX * 4 + 64];

	(void)conn_flush(c);	/* replies already logged go out before the close */
	if (c->inlen > 0) {
		esc(buf, sizeof(buf), c->in, c->inlen);
		tlog("%lu C(partial): %s", c->id, buf);
	}
	tlog("%lu CLOSE%s%s", c->id, why[0] != '\0' ? " " : "", why);
	/* inside TLS only the close after QUIT says close_notify */
	tls_end(c->ssl, c->tls_notify);
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
	r = io_read(c, c->in + c->inlen, room);
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

	/* the client sees what was said before the pause */
	if (conn_flush(c) < 0)
		conn_close(c, "write failed (client gone)");
	while ((left = end - now_ms()) > 0) {
		if (io_ready(c) && c->inlen < sizeof(c->in) / 2) {
			if (conn_fill(c) <= 0)
				conn_close(c, "client closed");
			continue;
		}
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
	if (c->sc->batch && len <= sizeof(c->out)) {
		if (c->outlen + len > sizeof(c->out) && conn_flush(c) < 0)
			conn_close(c, "write failed (client gone)");
		memcpy(c->out + c->outlen, buf, len);
		c->outlen += len;
		return;
	}
	if (conn_flush(c) < 0 || io_send(c, buf, len) < 0)
		conn_close(c, "write failed (client gone)");
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
	c->nout++;
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
	c->nout++;
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
	int len;

	tlog("%lu S: [endless multi-line reply, cap %lu bytes]", c->id, cap);
	while (sent < cap) {
		len = snprintf(line, sizeof(line), "%s-endless line %lu xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%s",
			       code, nlines, eol(c));
		if (trickled)
			send_bytes(c, st, line, (size_t)len);
		else {
			/* no conn_close() here: we want the summary line */
			if (io_send(c, line, (size_t)len) < 0)
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
	const char *at;
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
	return script_default_reply(st, tmp);
}

/* tls_offered - whether this EHLO reply is to announce STARTTLS */
static int
tls_offered(const struct conn *c)
{
	const struct script *sc = c->sc;

	if (c->ssl != NULL)
		return 0;
	return sc->tls_offer >= 0 ? sc->tls_offer : sc->tls_mode != TLS_OFF;
}

/*
 * ehlo_offer - rs with a STARTTLS line after its first line, into out
 * ("250 fake.test" becomes "250-fake.test", "250 STARTTLS"). Returns rs
 * itself when it is no 2xx reply or there is no room.
 */
static const struct rspec *
ehlo_offer(const struct rspec *rs, struct rspec *out)
{
	size_t n = 0, l0;
	int i;

	if (rs->none || rs->nlines < 1 || rs->nlines >= RS_LINES || rs->len[0] < 3 ||
	    rs->data[rs->off[0]] != '2' || rs->off[rs->nlines - 1] + rs->len[rs->nlines - 1] +
	    16 > sizeof(out->data))
		return rs;
	memset(out, 0, sizeof(*out));
	l0 = rs->len[0];
	memcpy(out->data, rs->data + rs->off[0], l0);
	if (l0 == 3)
		out->data[l0++] = '-';
	else
		out->data[3] = '-';
	out->off[0] = 0;
	out->len[0] = l0;
	n = l0;
	out->off[1] = n;
	memcpy(out->data + n, rs->data + rs->off[0], 3);
	n += 3;
	out->data[n++] = rs->nlines == 1 ? ' ' : '-';
	memcpy(out->data + n, "STARTTLS", 8);
	n += 8;
	out->len[1] = n - out->off[1];
	for (i = 1; i < rs->nlines; i++) {
		out->off[i + 1] = n;
		memcpy(out->data + n, rs->data + rs->off[i], rs->len[i]);
		n += rs->len[i];
		out->len[i + 1] = rs->len[i];
	}
	out->nlines = rs->nlines + 1;
	return out;
}

/*
 * conn_drain - read and count raw bytes (a ClientHello, mostly) without
 * answering them, for at most the idle time. first_only: return as soon
 * as something arrived. Returns 1 (something arrived, first_only), 0
 * (the client closed or the input cap was reached) or -1 (idle).
 */
static int
conn_drain(struct conn *c, int first_only, unsigned long *got)
{
	char buf[4096];
	long end = now_ms() + c->sc->idle_ms, left;
	struct pollfd pfd;
	ssize_t r;

	while ((left = end - now_ms()) > 0) {
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		r = read(c->fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		*got += (unsigned long)r;
		if (*got > CONN_IN_MAX)
			return 0;
		if (first_only)
			return 1;
	}
	return -1;
}

/* drain_end - drain to the end and close, saying how it ended */
static void
drain_end(struct conn *c, const char *what, unsigned long got)
{
	long t0 = now_ms();
	int rc = conn_drain(c, 0, &got);

	tlog("%lu TLS %s: received %lu bytes, %s after %ld ms", c->id, what, got,
	     rc == 0 ? "client closed" : "idle", now_ms() - t0);
	conn_close(c, rc == 0 ? "client closed" : "idle timeout");
}

/*
 * conn_starttls - answer STARTTLS (rs: the scripted reply of the
 * stage). Without TLS, or when the script gives a reply other than 220,
 * that reply, and the dialogue goes on in plaintext. Otherwise the 220
 * and then what "tls MODE" says: a real handshake (the dialogue goes
 * on inside TLS), garbage instead of a ServerHello, a close, plaintext
 * lines in the 220's write before the handshake, or silence. Plaintext
 * the client sent after its STARTTLS line is logged and dropped, never
 * read as commands. Returns only when the dialogue goes on.
 */
static void
conn_starttls(struct conn *c, const struct rspec *rs)
{
	static const char ready[] = "220 2.0.0 Ready to start TLS";
	static const char busy[] = "554 5.5.1 Error: TLS already active";
	const struct script *sc = c->sc;
	char buf[2 * RS_MAX + 4 * RS_LINES], shown[LOG_TEXT_MAX * 4 + 64];
	unsigned long got = 0;
	size_t n = 0;
	int i;

	if (c->ssl != NULL) {
		send_line(c, ST_STARTTLS, busy, strlen(busy));
		return;
	}
	if (sc->tls_mode == TLS_OFF || (sc->act[ST_STARTTLS].reply_set &&
	    (rs->none || rs->len[0] < 3 || memcmp(rs->data + rs->off[0], "220", 3) != 0))) {
		send_reply(c, ST_STARTTLS, rs);
		return;
	}
	if (c->inlen > 0) {
		esc(shown, sizeof(shown), c->in, c->inlen);
		tlog("%lu TLS plaintext after STARTTLS: %zu bytes, dropped: %s", c->id, c->inlen, shown);
		c->inlen = 0;
	}
	tlog("%lu TLS start %s", c->id, tls_mode_name(sc->tls_mode));
	if (sc->tls_mode == TLS_INJECT) {
		/* the 220 and the injected lines leave in one segment */
		if (conn_flush(c) < 0)
			conn_close(c, "write failed (client gone)");
		for (i = 0; i < 1 + sc->tls_text.nlines; i++) {
			const char *p = i == 0 ? ready : sc->tls_text.data + sc->tls_text.off[i - 1];
			size_t l = i == 0 ? strlen(ready) : sc->tls_text.len[i - 1];

			if (i == 0 && sc->act[ST_STARTTLS].reply_set) {
				p = rs->data + rs->off[0];
				l = rs->len[0];
			}
			esc(shown, sizeof(shown), p, l);
			tlog("%lu S%s: %s", c->id, i == 0 ? "" : "(injected)", shown);
			memcpy(buf + n, p, l);
			n += l;
			memcpy(buf + n, "\r\n", 2);
			n += 2;
		}
		if (io_send(c, buf, n) < 0)
			conn_close(c, "write failed (client gone)");
	} else {
		if (sc->act[ST_STARTTLS].reply_set)
			send_reply(c, ST_STARTTLS, rs);
		else
			send_line(c, ST_STARTTLS, ready, strlen(ready));
		if (conn_flush(c) < 0)
			conn_close(c, "write failed (client gone)");
	}
	switch (sc->tls_mode) {
	case TLS_CLOSE:
		conn_close(c, "right after the 220 to STARTTLS (script)");
		break;
	case TLS_STALL:
		drain_end(c, "stall", 0);
		break;
	case TLS_GARBAGE:
		/* wait for the ClientHello: the garbage is the answer to it */
		if (conn_drain(c, 1, &got) != 1) {
			tlog("%lu TLS garbage: no ClientHello (%lu bytes)", c->id, got);
			conn_close(c, "no ClientHello");
		}
		esc(shown, sizeof(shown), sc->tls_text.data, sc->tls_text.len[0]);
		tlog("%lu TLS garbage sent %zu bytes after a %lu-byte ClientHello: %s", c->id,
		     sc->tls_text.len[0], got, shown);
		if (io_send(c, sc->tls_text.data, sc->tls_text.len[0]) < 0)
			conn_close(c, "write failed (client gone)");
		drain_end(c, "garbage", got);
		break;
	default:
		if (sc->tls_mode == TLS_TRICKLE)
			c->ssl = tls_accept_trickle(c->fd, c->id, sc->idle_ms, sc->tls_max,
						    sc->tls_trickle_bytes, sc->tls_trickle_ms);
		else
			c->ssl = tls_accept(c->fd, c->id, sc->idle_ms, sc->tls_max);
		if (c->ssl == NULL)
			conn_close(c, "TLS handshake failed");
		/* RFC 3207: the dialogue starts again; nothing before counts */
		c->inlen = 0;
		break;
	}
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
	struct rspec tmp, offer;
	char code[4], line[64];
	long d;

	if (st < ST_COUNT)
		c->nstage[st]++;
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
	if (c->ssl == NULL && c->sc->tls_required &&
	    (st == ST_MAIL || st == ST_RCPT || st == ST_VRFY || st == ST_DATA))
		rs = &c->sc->tls_required_reply;
	if (st == ST_STARTTLS) {
		conn_starttls(c, rs);
		return;
	}
	if (st == ST_EHLO && c->ssl != NULL && c->sc->tls_ehlo_set)
		rs = &c->sc->tls_ehlo;
	if (st == ST_EHLO && tls_offered(c))
		rs = ehlo_offer(rs, &offer);
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
	if (a->close_after > 0 && c->nstage[st] == (unsigned long)a->close_after)
		conn_close(c, "close-after (script)");
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
		/* no whole command waiting: what is held back goes out now */
		if (conn_flush(c) < 0)
			conn_close(c, "write failed (client gone)");
		if (!io_ready(c)) {
			pfd.fd = c->fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			rc = poll(&pfd, 1, (int)left);
			if (rc < 0 && errno != EINTR)
				conn_close(c, "poll error");
			if (rc <= 0)
				continue;
		}
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

/*
 * conn_serve - the whole dialogue of one accepted connection, in the
 * child forked for it: greeting, then one command line at a time,
 * each answered as the script says. Never returns: the child exits
 * when the connection ends.
 */
void
conn_serve(int fd, unsigned long id, const struct script *sc, long end_ms)
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
		if (st == ST_QUIT && !c.sc->act[ST_QUIT].reply.none) {
			c.tls_notify = 1;
			conn_close(&c, "after QUIT");
		}
	}
}
