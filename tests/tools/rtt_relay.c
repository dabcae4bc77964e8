/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rtt_relay - a TCP relay on loopback that puts a round trip between a
 * client and a server, for `make bench-probe` (tests/bench/bench-probe.sh)
 * where the kernel has no netem qdisc. It stands for the network path
 * to a distant MX: every byte each way is held for half the round trip
 * (-d ONE_WAY_MS), bytes that were read together stay together and
 * nothing is added per command, so a pipelined group of commands costs
 * one round trip as it would on a real path. The TCP handshake is
 * emulated too: the upstream connection is opened 3 one-way delays
 * after the client's connect (SYN, SYN-ACK, ACK), so the server's
 * greeting reaches the client 2 round trips after it connected, as over
 * a real path (the client's connect() itself returns at once).
 *
 * USAGE
 *	rtt_relay -l ADDR:PORT -u ADDR:PORT -d ONE_WAY_MS [-t LOG] [-r READY] [-T SECONDS]
 *
 *	-l	listen address (IPv4)
 *	-u	upstream server (IPv4, loopback only: 127.0.0.0/8)
 *	-d	one-way delay in ms (0..10000); the round trip is twice that
 *	-t	log file, appended to (default: standard output)
 *	-r	ready file, written once listening
 *	-T	lifetime cap in seconds (default 600)
 *
 * LOG (one line per event, one write() each to an O_APPEND file; ID is
 * the connection number from 1, T the time in ms since the client's
 * connect was accepted, with microseconds):
 *	ID ACCEPT PEER
 *	ID +T UP			the upstream connection is open
 *	ID +T C> N TEXT			N bytes read from the client
 *	ID +T S> N TEXT			N bytes read from the server
 *	ID +T C> EOF / S> EOF		that side closed (or reset)
 *	ID +T CLOSE			both directions delivered, relay done
 * TEXT is the data, printable ASCII as is, CR as \r, LF as \n, anything
 * else \xNN, cut at 200 bytes.
 *
 * One child process per connection, which dies with the parent. Every
 * queue is bounded (QCHUNKS chunks of CHUNK bytes per direction; a full
 * queue stops reading that side). It connects nowhere but to the one
 * loopback upstream it is given.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK		4096
#define QCHUNKS		64
#define TEXT_MAX	200

struct chunk {
	int64_t	due_us;
	size_t	len, off;
	int	eof;
	char	data[CHUNK];
};

/* one direction: bytes read from src wait here until due, then go to dst */
struct dir {
	struct chunk q[QCHUNKS];
	int	head, n;
	int	read_eof;	/* src closed: an EOF chunk is queued */
	int	done;		/* the EOF chunk was delivered */
	char	tag;		/* 'C' or 'S': which side was read */
};

static int logfd = STDOUT_FILENO;
static volatile sig_atomic_t stop_flag;

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rtt_relay: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void __attribute__((format(printf, 1, 2)))
rlog(const char *fmt, ...)
{
	char line[TEXT_MAX * 4 + 128];
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
	while (write(logfd, line, (size_t)n) < 0 && errno == EINTR)
		;
}

static void
text(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len && i < TEXT_MAX && n + 5 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\r')
			n += (size_t)snprintf(dst + n, size - n, "\\r");
		else if (c == '\n')
			n += (size_t)snprintf(dst + n, size - n, "\\n");
		else if (c >= 0x20 && c < 0x7f && c != '\\')
			dst[n++] = (char)c;
		else
			n += (size_t)snprintf(dst + n, size - n, "\\x%02x", c);
	}
	dst[n] = '\0';
}

static void
parse_addr(const char *spec, struct sockaddr_in *sin, const char *what)
{
	char host[64], *end;
	const char *colon = strrchr(spec, ':');
	size_t hl;
	long port;

	memset(sin, 0, sizeof(*sin));
	if (colon == NULL || (hl = (size_t)(colon - spec)) == 0 || hl >= sizeof(host))
		die("%s %s: want IPV4:PORT", what, spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		die("%s %s: bad port", what, spec);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		die("%s %s: bad IPv4 address", what, spec);
}

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
}

/* dir_read - one read from src into the queue, due one delay later */
static void
dir_read(struct dir *d, int src, unsigned long id, int64_t t0, int64_t delay_us)
{
	struct chunk *c = &d->q[(d->head + d->n) % QCHUNKS];
	char shown[TEXT_MAX * 4 + 8];
	int64_t t = now_us();
	ssize_t r;

	do
		r = read(src, c->data, sizeof(c->data));
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	c->due_us = t + delay_us;
	c->off = 0;
	if (r <= 0) {
		c->len = 0;
		c->eof = 1;
		d->read_eof = 1;
		rlog("%lu +%.3f %c> EOF", id, (double)(t - t0) / 1000.0, d->tag);
	} else {
		c->len = (size_t)r;
		c->eof = 0;
		text(shown, sizeof(shown), c->data, c->len);
		rlog("%lu +%.3f %c> %zd %s", id, (double)(t - t0) / 1000.0, d->tag, r, shown);
	}
	d->n++;
}

/* dir_write - deliver what is due to dst; returns 0, or -1 when dst is gone */
static int
dir_write(struct dir *d, int dst, int64_t now)
{
	while (d->n > 0 && d->q[d->head].due_us <= now) {
		struct chunk *c = &d->q[d->head];

		if (c->eof) {
			(void)shutdown(dst, SHUT_WR);
			d->done = 1;
		} else {
			ssize_t w = send(dst, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);

			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return 0;
			if (w <= 0)
				return -1;
			c->off += (size_t)w;
			if (c->off < c->len)
				return 0;
		}
		d->head = (d->head + 1) % QCHUNKS;
		d->n--;
	}
	return 0;
}

/* relay - one connection, in its child; never returns */
static void __attribute__((noreturn))
relay(int cfd, unsigned long id, int64_t t0, const struct sockaddr_in *up, int64_t delay_us)
{
	static struct dir cs, sc;	/* client->server, server->client */
	int64_t up_at = t0 + 3 * delay_us, now, next;
	struct pollfd p[2];
	int sfd = -1, np, timeout;

	cs.tag = 'C';
	sc.tag = 'S';
	set_nonblock(cfd);
	while (!(cs.done && sc.done) && !stop_flag) {
		now = now_us();
		if (sfd < 0 && now >= up_at) {
			sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (sfd < 0 || connect(sfd, (const struct sockaddr *)up, sizeof(*up)) < 0) {
				rlog("%lu +%.3f UP failed: %s", id, (double)(now - t0) / 1000.0,
				     strerror(errno));
				break;
			}
			set_nonblock(sfd);
			rlog("%lu +%.3f UP", id, (double)(now_us() - t0) / 1000.0);
		}
		if (sfd >= 0 && (dir_write(&cs, sfd, now) < 0 || dir_write(&sc, cfd, now) < 0))
			break;
		if (cs.done && sc.done)
			break;
		/* wake for the next due chunk or the upstream connect */
		next = sfd < 0 ? up_at : INT64_MAX;
		if (cs.n > 0 && cs.q[cs.head].due_us < next)
			next = cs.q[cs.head].due_us;
		if (sc.n > 0 && sc.q[sc.head].due_us < next)
			next = sc.q[sc.head].due_us;
		timeout = next == INT64_MAX ? 1000 : (int)((next - now + 999) / 1000);
		if (timeout < 0)
			timeout = 0;
		np = 0;
		p[np].fd = cfd;
		p[np].events = (!cs.read_eof && cs.n < QCHUNKS ? POLLIN : 0) |
		    (sc.n > 0 && sc.q[sc.head].due_us <= now ? POLLOUT : 0);
		p[np++].revents = 0;
		if (sfd >= 0) {
			p[np].fd = sfd;
			p[np].events = (!sc.read_eof && sc.n < QCHUNKS ? POLLIN : 0) |
			    (cs.n > 0 && cs.q[cs.head].due_us <= now ? POLLOUT : 0);
			p[np++].revents = 0;
		}
		if (poll(p, (nfds_t)np, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !cs.read_eof && cs.n < QCHUNKS)
			dir_read(&cs, cfd, id, t0, delay_us);
		if (np > 1 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !sc.read_eof &&
		    sc.n < QCHUNKS)
			dir_read(&sc, sfd, id, t0, delay_us);
	}
	rlog("%lu +%.3f CLOSE", id, (double)(now_us() - t0) / 1000.0);
	close(cfd);
	if (sfd >= 0)
		close(sfd);
	_exit(0);
}

int
main(int argc, char **argv)
{
	const char *listen_spec = NULL, *up_spec = NULL, *logfile = NULL, *ready = NULL;
	struct sockaddr_in lsin, usin, peer;
	long delay_ms = -1, lifetime = 600;
	unsigned long id = 0;
	int64_t end_us, t0;
	socklen_t pl;
	int lfd, fd, c, one = 1;
	pid_t parent = getpid();
	char ip[INET_ADDRSTRLEN];

	while ((c = getopt(argc, argv, "l:u:d:t:r:T:")) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'u': up_spec = optarg; break;
		case 'd': delay_ms = strtol(optarg, NULL, 10); break;
		case 't': logfile = optarg; break;
		case 'r': ready = optarg; break;
		case 'T': lifetime = strtol(optarg, NULL, 10); break;
		default:
			die("usage: rtt_relay -l ADDR:PORT -u ADDR:PORT -d ONE_WAY_MS "
			    "[-t LOG] [-r READY] [-T SECONDS]");
		}
	}
	if (listen_spec == NULL || up_spec == NULL || delay_ms < 0 || delay_ms > 10000 ||
	    lifetime < 1 || optind != argc)
		die("usage: rtt_relay -l ADDR:PORT -u ADDR:PORT -d ONE_WAY_MS "
		    "[-t LOG] [-r READY] [-T SECONDS]");
	parse_addr(listen_spec, &lsin, "-l");
	parse_addr(up_spec, &usin, "-u");
	if ((ntohl(usin.sin_addr.s_addr) >> 24) != 127)
		die("-u %s: only loopback (127.0.0.0/8) upstreams", up_spec);
	if (logfile != NULL &&
	    (logfd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		die("%s: %s", logfile, strerror(errno));

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&lsin, sizeof(lsin)) < 0 || listen(lfd, 64) < 0)
		die("listen %s: %s", listen_spec, strerror(errno));
	signal(SIGCHLD, SIG_IGN);	/* children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	if (ready != NULL) {
		FILE *fp = fopen(ready, "w");

		if (fp == NULL || fprintf(fp, "%s\n", listen_spec) < 0 || fclose(fp) != 0)
			die("%s: cannot write", ready);
	}
	end_us = now_us() + (int64_t)lifetime * 1000000;
	while (!stop_flag && now_us() < end_us) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 200) <= 0)
			continue;
		pl = sizeof(peer);
		fd = accept(lfd, (struct sockaddr *)&peer, &pl);
		if (fd < 0)
			continue;
		t0 = now_us();
		id++;
		if (inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		rlog("%lu ACCEPT %s:%u", id, ip, (unsigned)ntohs(peer.sin_port));
		switch (fork()) {
		case -1:
			close(fd);
			break;
		case 0:
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(1);
			close(lfd);
			alarm((unsigned)lifetime);
			relay(fd, id, t0, &usin, (int64_t)delay_ms * 1000);
		default:
			close(fd);
		}
	}
	return 0;
}
