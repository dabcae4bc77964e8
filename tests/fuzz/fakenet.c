/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fakenet - the network stand-in of the fuzz targets (see fakenet.h).
 *
 * The interposed functions are strong definitions in the fuzz binary;
 * the sanitizers' own interceptors of the same names are weak, and
 * libc's are in a shared object, so these win for every caller in the
 * process. Each one passes straight to the kernel (syscall()) unless
 * the call is the fuzzing thread's and concerns the fake descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fakenet.h"

static struct {
	const struct fakenet *f;
	pthread_t owner;
	int	on;
	int	fd;			/* -1: none yet */
	int	released;		/* segments the client may read */
	int	cur;			/* segment being read */
	size_t	off;			/* in seg[cur] */
	uint32_t rng;
	long long skew_ns;		/* fake time added to the real clock */
	unsigned char sent[FAKENET_SENT_MAX];
	size_t	nsent;
	int	lines;
	int	seen_cr;
} fn = { .fd = -1 };

static int
mine(void)
{
	return fn.on && pthread_equal(pthread_self(), fn.owner);
}

static int
is_fake(int fd)
{
	return mine() && fd >= 0 && fd == fn.fd;
}

static uint32_t
rng_next(void)
{
	uint32_t x = fn.rng ? fn.rng : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	fn.rng = x;
	return x;
}

/* avail - bytes released and not yet read; moves cur past empty segments */
static size_t
avail(void)
{
	while (fn.cur < fn.released && fn.cur < fn.f->nseg &&
	    fn.off >= fn.f->seg[fn.cur].len) {
		fn.cur++;
		fn.off = 0;
	}
	if (fn.cur >= fn.released || fn.cur >= fn.f->nseg)
		return 0;
	return fn.f->seg[fn.cur].len - fn.off;
}

/* at_eof - everything the script holds has been read, and it does not hold */
static int
at_eof(void)
{
	return avail() == 0 && fn.cur >= fn.f->nseg && !fn.f->hold;
}

void
fakenet_start(const struct fakenet *f)
{
	fn.f = f;
	fn.owner = pthread_self();
	fn.on = 1;
	fn.fd = -1;
	fn.released = 1;
	fn.cur = 0;
	fn.off = 0;
	fn.rng = f->seed;
	fn.nsent = 0;
	fn.lines = 0;
	fn.seen_cr = 0;
}

int
fakenet_fd(void)
{
	if (fn.fd < 0)
		fn.fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
	return fn.fd;
}

void
fakenet_stop(void)
{
	if (fn.fd >= 0)
		(void)syscall(SYS_close, fn.fd);
	fn.fd = -1;
	fn.on = 0;
	fn.f = NULL;
}

const unsigned char *
fakenet_sent(size_t *len, int *lines)
{
	*len = fn.nsent;
	*lines = fn.lines;
	return fn.sent;
}

void
fakenet_split(struct fakenet *f, const unsigned char *data, size_t len, const char sep[2])
{
	size_t i, start = 0;

	f->nseg = 0;
	for (i = 0; i + 1 < len && f->nseg < FAKENET_SEGS_MAX - 1; i++)
		if (data[i] == (unsigned char)sep[0] && data[i + 1] == (unsigned char)sep[1]) {
			f->seg[f->nseg].p = data + start;
			f->seg[f->nseg].len = i - start;
			f->nseg++;
			start = i + 2;
			i++;
		}
	f->seg[f->nseg].p = data + start;
	f->seg[f->nseg].len = len - start;
	f->nseg++;
}

int
socket(int domain, int type, int protocol)
{
	if (mine() && fn.fd < 0)
		return fakenet_fd();
	return (int)syscall(SYS_socket, domain, type, protocol);
}

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (is_fake(fd)) {
		if (fn.f->refuse) {
			errno = ECONNREFUSED;
			return -1;
		}
		return 0;
	}
	return (int)syscall(SYS_connect, fd, sa, len);
}

int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (is_fake(fd) && level == SOL_SOCKET && name == SO_ERROR &&
	    *len >= sizeof(int)) {
		*(int *)val = fn.f->refuse ? ECONNREFUSED : 0;
		*len = sizeof(int);
		return 0;
	}
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

ssize_t
recv(int fd, void *buf, size_t n, int flags)
{
	size_t a, k;

	if (!is_fake(fd))
		return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
	a = avail();
	if (a == 0) {
		if (at_eof())
			return 0;
		errno = EAGAIN;
		return -1;
	}
	k = a < n ? a : n;
	if (fn.f->maxchunk > 0) {
		size_t c = 1 + rng_next() % fn.f->maxchunk;

		if (c < k)
			k = c;
	}
	memcpy(buf, fn.f->seg[fn.cur].p + fn.off, k);
	if (!(flags & MSG_PEEK))
		fn.off += k;
	return (ssize_t)k;
}

ssize_t
read(int fd, void *buf, size_t n)
{
	if (is_fake(fd))
		return recv(fd, buf, n, 0);
	return syscall(SYS_read, fd, buf, n);
}

ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
	const unsigned char *p = buf;
	size_t i;

	if (!is_fake(fd))
		return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
	for (i = 0; i < n; i++) {
		if (fn.nsent < sizeof(fn.sent))
			fn.sent[fn.nsent++] = p[i];
		if (p[i] == '\n' && fn.seen_cr) {
			fn.lines++;
			fn.released++;
		}
		fn.seen_cr = p[i] == '\r';
	}
	return (ssize_t)n;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	if (is_fake(fd))
		return send(fd, buf, n, 0);
	return syscall(SYS_write, fd, buf, n);
}

int
poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	nfds_t i;
	int ready = 0, fake = 0;

	if (!mine())
		return (int)syscall(SYS_poll, fds, nfds, timeout);
	for (i = 0; i < nfds; i++) {
		fds[i].revents = 0;
		if (!is_fake(fds[i].fd))
			continue;
		fake = 1;
		if (fds[i].events & POLLOUT)
			fds[i].revents |= POLLOUT;
		if ((fds[i].events & POLLIN) && (avail() > 0 || at_eof()))
			fds[i].revents |= POLLIN;
		if (fds[i].revents)
			ready++;
	}
	if (!fake)
		return (int)syscall(SYS_poll, fds, nfds, timeout);
	if (ready == 0 && timeout > 0)
		fn.skew_ns += (long long)timeout * 1000000LL;
	return ready;
}

int
close(int fd)
{
	if (is_fake(fd))
		fn.fd = -1;
	return (int)syscall(SYS_close, fd);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = (int)syscall(SYS_clock_gettime, id, ts);

	if (rc == 0 && mine() && (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE)) {
		long long ns = (long long)ts->tv_nsec + fn.skew_ns;

		ts->tv_sec += (time_t)(ns / 1000000000LL);
		ts->tv_nsec = (long)(ns % 1000000000LL);
	}
	return rc;
}
