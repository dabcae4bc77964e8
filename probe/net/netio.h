/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * netio - connect and line I/O on one TCP socket under a deadline.
 * No SMTP knowledge. Non-blocking sockets and poll(); each call is
 * given an absolute monotonic deadline and passes poll() only the time
 * left, so a peer that trickles one byte at a time cannot stretch a
 * step. Reads are bounded: a line longer than the caller's buffer is
 * consumed up to its terminator (or the deadline) and reported as
 * NETIO_TOOLONG; the buffer never grows.
 *
 * A layer may sit between the buffer and the socket (tls.c): struct
 * netio_ops replaces recv/send, so a line read after STARTTLS goes
 * through the same buffer and the same limits as one read before.
 */
#ifndef SAV_NETIO_H
#define SAV_NETIO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "util.h"

#define NETIO_BUF	4096

enum netio_status {
	NETIO_OK,
	NETIO_TIMEOUT,
	NETIO_EOF,		/* orderly close by the peer (also mid-line) */
	NETIO_TOOLONG,		/* line exceeded the caller's buffer */
	NETIO_ERROR,		/* connect refused, reset, other errno */
};

struct netio;

/*
 * netio_ops - a layer over the socket (TLS). recv and send move at
 * most len bytes and never block: they return the count (> 0), 0 for
 * an orderly end (recv only), or -1: with errno EAGAIN and *events the
 * poll() events to wait for, or any other errno with n->err set.
 * close ends the layer (netio_close calls it before closing the fd).
 */
struct netio_ops {
	ssize_t	(*recv)(struct netio *n, void *buf, size_t len, short *events);
	ssize_t	(*send)(struct netio *n, const void *buf, size_t len, short *events);
	void	(*close)(struct netio *n);
};

struct netio {
	int	fd;
	const struct netio_ops *ops;	/* NULL: the plain socket */
	void	*layer;			/* the layer's own state (ops) */
	size_t	start, end;
	char	buf[NETIO_BUF];
	char	err[128];		/* strerror text of the last NETIO_ERROR */
	int	local;			/* that error was ours: no socket (descriptors or memory ran out) */
	unsigned long long nread;	/* bytes received in all */
};

void	netio_init(struct netio *n);

/* netio_connect - non-blocking connect to sa within deadline */
enum netio_status netio_connect(struct netio *n, const struct sockaddr *sa,
				msec_t deadline);

/*
 * netio_read_line - next line without its terminator (LF or CRLF; a
 * bare LF is accepted) into line[size], NUL-terminated, length in *len.
 * Bytes after the line stay buffered for the next call.
 */
enum netio_status netio_read_line(struct netio *n, char *line, size_t size,
				  size_t *len, msec_t deadline);

/* netio_pending - bytes already buffered and not yet returned */
size_t	netio_pending(const struct netio *n);

/*
 * netio_more - 1 when input is waiting that nobody asked for: buffered,
 * or ready on the socket now (read into the buffer without waiting).
 */
int	netio_more(struct netio *n);

/* netio_write - write all of buf within deadline (MSG_NOSIGNAL) */
enum netio_status netio_write(struct netio *n, const char *buf, size_t len,
			      msec_t deadline);

/*
 * netio_wait - poll the socket for events until deadline: NETIO_OK when
 * ready (or in error, for the caller to read out), NETIO_TIMEOUT,
 * NETIO_ERROR. For layers (tls.c) that drive their own handshake.
 */
enum netio_status netio_wait(struct netio *n, short events, msec_t deadline);

void	netio_close(struct netio *n);

const char *netio_status_str(enum netio_status s);

#endif
