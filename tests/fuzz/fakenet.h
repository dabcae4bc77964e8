/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fakenet - a stand-in for the network under the real netio code, for
 * the fuzz targets: socket(), connect(), getsockopt(), recv(), send(),
 * poll() and the monotonic clock are interposed for one fake
 * descriptor, so netio, smtp and reply run unchanged while the
 * "server" is a script of byte segments taken from the fuzz input.
 *
 * The script is a list of segments. Segment 0 is there as soon as the
 * connection is; segment k+1 is released when the client has sent its
 * (k+1)-th complete line (CRLF). Within what is released, each recv()
 * returns at most a chunk whose size comes from a generator seeded by
 * the caller, so a line can arrive in any number of pieces. When every
 * segment has been read the peer closes (recv returns 0), unless hold
 * is set: then it stays silent, and a wait on it moves the fake clock
 * forward by the wait's time-out instead of sleeping.
 *
 * Everything the client sends is kept (up to FAKENET_SENT_MAX bytes)
 * for the target's oracle. Single-threaded: only the thread that
 * called fakenet_start() sees the fakes; every other thread (and
 * libFuzzer itself) gets the real system calls and clock.
 */
#ifndef SAV_FAKENET_H
#define SAV_FAKENET_H

#include <stddef.h>
#include <stdint.h>

#define FAKENET_SEGS_MAX	64
#define FAKENET_SENT_MAX	65536

struct fakenet_seg {
	const unsigned char *p;
	size_t	len;
};

struct fakenet {
	struct fakenet_seg seg[FAKENET_SEGS_MAX];
	int	nseg;
	int	hold;			/* after the last segment: silence, not EOF */
	int	refuse;			/* connect() fails with ECONNREFUSED */
	uint32_t seed;			/* chunk sizes */
	unsigned maxchunk;		/* 0: whatever is released, at once */
};

/*
 * fakenet_start - install script f (kept by pointer until fakenet_stop)
 * for the calling thread. The next socket() it makes is the fake one.
 */
void	fakenet_start(const struct fakenet *f);

/* fakenet_fd - a fake descriptor for a caller that sets up struct netio itself */
int	fakenet_fd(void);

/* fakenet_stop - back to the real calls; the fake descriptor is closed if still open */
void	fakenet_stop(void);

/* fakenet_sent - the bytes the client sent, and how many complete lines */
const unsigned char *fakenet_sent(size_t *len, int *lines);

/*
 * fakenet_split - cut data at every occurrence of the two bytes sep
 * into f->seg (at most FAKENET_SEGS_MAX; the rest stays in the last).
 */
void	fakenet_split(struct fakenet *f, const unsigned char *data, size_t len,
		      const char sep[2]);

#endif
