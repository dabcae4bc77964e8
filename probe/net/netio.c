/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * netio - connect and line I/O on one TCP socket under a deadline.
 *
 * The socket is non-blocking from the start; every wait is a poll()
 * given only the time left until the caller's absolute monotonic
 * deadline (util_left_ms), so a peer that drips one byte at a time, or
 * one that floods us, cannot stretch a step past its deadline: the
 * deadline is checked before every read and every write, not only when
 * the peer is idle.
 *
 * Reading: one fixed buffer inside struct netio (NETIO_BUF bytes).
 * netio_read_line() hands out one line at a time, terminator stripped
 * (CRLF or a bare LF; a lone CR inside a line is kept for the parser to
 * judge). A line longer than the caller's buffer is consumed up to its
 * LF, the deadline or EOF and then reported as NETIO_TOOLONG; neither
 * buffer ever grows, so memory stays flat whatever the peer sends.
 * Bytes after a line stay buffered (netio_pending) so pipelined
 * replies are not lost; netio_more also asks the socket, without
 * waiting, for what arrived beyond the buffer.
 *
 * Writing: netio_write() sends all bytes with MSG_NOSIGNAL (a peer that
 * closed early gives NETIO_ERROR/EPIPE, never SIGPIPE).
 *
 * Errors: the strerror text of the failing call goes into n->err at
 * once ("connect: Connection refused"). EINTR is retried everywhere.
 *
 * Layers: with n->ops set (tls.c after STARTTLS) the reads and writes
 * go through the layer instead of recv/send, into the same buffer,
 * under the same deadlines and the same line limits; netio_close ends
 * the layer first.
 *
 * Memory and threads: the caller owns struct netio; nothing is
 * allocated here (a layer owns what it allocates); no global state. One struct netio per thread at a time.
 * No SMTP knowledge lives here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netio.h"

static void
netio_seterr(struct netio *n, const char *what, int e)
{
	char tmp[96];
	const char *s;

	s = strerror_r(e, tmp, sizeof(tmp));
	snprintf(n->err, sizeof(n->err), "%s: %s", what, s);
}

enum netio_status
netio_wait(struct netio *n, short events, msec_t deadline)
{
	struct pollfd pfd;
	msec_t left;
	int rc;

	for (;;) {
		left = util_left_ms(deadline, 0);
		if (left <= 0)
			return NETIO_TIMEOUT;
		if (left > 0x7fffffff)
			left = 0x7fffffff;
		pfd.fd = n->fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return NETIO_OK;
		if (rc == 0)
			continue;	/* re-check the clock: poll may round down */
		if (errno == EINTR)
			continue;
		netio_seterr(n, "poll", errno);
		return NETIO_ERROR;
	}
}

void
netio_init(struct netio *n)
{
	n->fd = -1;
	n->ops = NULL;
	n->layer = NULL;
	n->start = n->end = 0;
	n->err[0] = '\0';
	n->nread = 0;
}

enum netio_status
netio_connect(struct netio *n, const struct sockaddr *sa, msec_t deadline)
{
	socklen_t salen, elen;
	enum netio_status st;
	int e;

	switch (sa->sa_family) {
	case AF_INET:
		salen = sizeof(struct sockaddr_in);
		break;
	case AF_INET6:
		salen = sizeof(struct sockaddr_in6);
		break;
	default:
		snprintf(n->err, sizeof(n->err), "connect: unsupported address family %d",
			 (int)sa->sa_family);
		return NETIO_ERROR;
	}
	if (n->fd >= 0)
		netio_close(n);
	n->start = n->end = 0;
	n->local = 0;
	n->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		n->local = util_errno_local(errno);
		netio_seterr(n, "socket", errno);
		return NETIO_ERROR;
	}
	if (util_left_ms(deadline, 0) <= 0) {
		snprintf(n->err, sizeof(n->err), "connect: deadline already passed");
		netio_close(n);
		return NETIO_TIMEOUT;
	}
	if (connect(n->fd, sa, salen) == 0)
		return NETIO_OK;
	/*
	 * EINTR on a non-blocking connect: the attempt goes on in the
	 * background, exactly like EINPROGRESS.
	 */
	if (errno != EINPROGRESS && errno != EINTR) {
		netio_seterr(n, "connect", errno);
		netio_close(n);
		return NETIO_ERROR;
	}
	st = netio_wait(n, POLLOUT, deadline);
	if (st != NETIO_OK) {
		if (st == NETIO_TIMEOUT)
			snprintf(n->err, sizeof(n->err), "connect: timed out");
		netio_close(n);
		return st;
	}
	e = 0;
	elen = sizeof(e);
	if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		e = errno;
	if (e != 0) {
		netio_seterr(n, "connect", e);
		netio_close(n);
		return NETIO_ERROR;
	}
	return NETIO_OK;
}

/*
 * netio_fill - read whatever is available into the free tail of the
 * buffer, waiting at most until deadline. The caller guarantees free
 * space. Returns NETIO_OK with at least one new byte, NETIO_EOF,
 * NETIO_TIMEOUT or NETIO_ERROR.
 */
static enum netio_status
netio_fill(struct netio *n, msec_t deadline)
{
	enum netio_status st;
	short events;
	ssize_t r;

	for (;;) {
		/*
		 * Check the clock before every read, not only when idle:
		 * a peer that floods us must not keep us here either.
		 */
		if (util_left_ms(deadline, 0) <= 0)
			return NETIO_TIMEOUT;
		events = POLLIN;
		if (n->ops != NULL) {
			errno = 0;
			r = n->ops->recv(n, n->buf + n->end, NETIO_BUF - n->end, &events);
			if (r < 0 && errno != EAGAIN)
				return NETIO_ERROR;	/* the layer set n->err */
		} else
			r = recv(n->fd, n->buf + n->end, NETIO_BUF - n->end, 0);
		if (r > 0) {
			n->end += (size_t)r;
			n->nread += (unsigned long long)r;
			return NETIO_OK;
		}
		if (r == 0)
			return NETIO_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			netio_seterr(n, "read", errno);
			return NETIO_ERROR;
		}
		st = netio_wait(n, events, deadline);
		if (st != NETIO_OK)
			return st;
	}
}

enum netio_status
netio_read_line(struct netio *n, char *line, size_t size, size_t *len,
		msec_t deadline)
{
	enum netio_status st;
	size_t avail, chunk, copy, have = 0;
	const char *lf;
	int eol, toolong = 0;

	*len = 0;
	if (size > 0)
		line[0] = '\0';
	if (n->fd < 0) {
		snprintf(n->err, sizeof(n->err), "read: not connected");
		return NETIO_ERROR;
	}
	if (size == 0)
		toolong = 1;
	for (;;) {
		avail = n->end - n->start;
		lf = avail > 0 ? memchr(n->buf + n->start, '\n', avail) : NULL;
		if (lf != NULL) {
			chunk = (size_t)(lf - (n->buf + n->start));
			eol = 1;
		} else {
			/*
			 * Keep a trailing CR back: it may be the first half
			 * of a CRLF whose LF has not arrived yet.
			 */
			chunk = avail;
			if (chunk > 0 && n->buf[n->end - 1] == '\r')
				chunk--;
			eol = 0;
		}
		copy = chunk;
		if (eol && copy > 0 && n->buf[n->start + copy - 1] == '\r')
			copy--;
		if (!toolong) {
			if (have + copy < size) {
				memcpy(line + have, n->buf + n->start, copy);
				have += copy;
			} else
				toolong = 1;
		}
		n->start += chunk + (size_t)eol;
		if (n->start == n->end)
			n->start = n->end = 0;
		if (eol)
			break;
		/* No LF buffered: at most one CR is left; make room and read. */
		if (n->start > 0) {
			memmove(n->buf, n->buf + n->start, n->end - n->start);
			n->end -= n->start;
			n->start = 0;
		}
		st = netio_fill(n, deadline);
		if (st != NETIO_OK) {
			if (toolong)
				break;
			if (st == NETIO_EOF)
				snprintf(n->err, sizeof(n->err), "read: connection closed by peer%s",
					 have > 0 ? " mid-line" : "");
			else if (st == NETIO_TIMEOUT)
				snprintf(n->err, sizeof(n->err), "read: timed out");
			if (size > 0)
				line[have < size ? have : size - 1] = '\0';
			*len = have;
			return st;
		}
	}
	if (toolong) {
		snprintf(n->err, sizeof(n->err), "read: line longer than %zu bytes",
			 size > 0 ? size - 1 : 0);
		return NETIO_TOOLONG;
	}
	line[have] = '\0';
	*len = have;
	return NETIO_OK;
}

size_t
netio_pending(const struct netio *n)
{
	return n->end - n->start;
}

/*
 * netio_more - is there input nobody has asked for yet? Bytes in the
 * buffer, or bytes the socket (through the layer, if any) has ready
 * now: one read that never waits pulls them into the buffer, where
 * the next netio_read_line finds them. A buffer that ends exactly at a
 * reply's end says nothing about the socket, so a check on the buffer
 * alone misses what a server sent in the same write past NETIO_BUF.
 * TLS records that carry no data (session tickets) are not input.
 * Returns 1 or 0 (nothing ready, the peer closed, or an error the next
 * read reports).
 */
int
netio_more(struct netio *n)
{
	short events = POLLIN;
	ssize_t r;

	if (n->end > n->start)
		return 1;
	if (n->fd < 0)
		return 0;
	n->start = n->end = 0;
	do {
		errno = 0;
		if (n->ops != NULL)
			r = n->ops->recv(n, n->buf, NETIO_BUF, &events);
		else
			r = recv(n->fd, n->buf, NETIO_BUF, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	n->end = (size_t)r;
	n->nread += (unsigned long long)r;
	return 1;
}

enum netio_status
netio_write(struct netio *n, const char *buf, size_t len, msec_t deadline)
{
	enum netio_status st;
	size_t off = 0;
	short events;
	ssize_t w;

	if (n->fd < 0) {
		snprintf(n->err, sizeof(n->err), "write: not connected");
		return NETIO_ERROR;
	}
	while (off < len) {
		if (util_left_ms(deadline, 0) <= 0) {
			snprintf(n->err, sizeof(n->err), "write: timed out");
			return NETIO_TIMEOUT;
		}
		events = POLLOUT;
		if (n->ops != NULL) {
			errno = 0;
			w = n->ops->send(n, buf + off, len - off, &events);
			if (w < 0 && errno != EAGAIN)
				return NETIO_ERROR;	/* the layer set n->err */
		} else
			w = send(n->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			netio_seterr(n, "write", errno);
			return NETIO_ERROR;
		}
		st = netio_wait(n, events, deadline);
		if (st == NETIO_TIMEOUT)
			snprintf(n->err, sizeof(n->err), "write: timed out");
		if (st != NETIO_OK)
			return st;
	}
	return NETIO_OK;
}

void
netio_close(struct netio *n)
{
	if (n->ops != NULL && n->ops->close != NULL)
		n->ops->close(n);
	n->ops = NULL;
	n->layer = NULL;
	if (n->fd >= 0)
		(void)close(n->fd);
	n->fd = -1;
	n->start = n->end = 0;
}

const char *
netio_status_str(enum netio_status s)
{
	switch (s) {
	case NETIO_OK:		return "ok";
	case NETIO_TIMEOUT:	return "timeout";
	case NETIO_EOF:		return "eof";
	case NETIO_TOOLONG:	return "too-long";
	case NETIO_ERROR:	return "error";
	}
	return "?";
}
