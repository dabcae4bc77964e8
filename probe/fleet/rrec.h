/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rrec - the value format of the shared cache: a verdict record (one
 * sender address) and a domain-fact record, as one line of printable
 * ASCII, versioned and bounded, with a decoder that checks every field.
 *
 * A value read from Redis is untrusted input (anyone who can write
 * under the prefix could have put it there): whatever rrec_decode
 * refuses (garbage, another version, oversize, a bad field, an absurd
 * or past time) is a miss for the caller, never a verdict.
 *
 * Pure functions, no state; reentrant.
 */
#ifndef SAV_RREC_H
#define SAV_RREC_H

#include <stddef.h>
#include <time.h>

#include "result.h"

#define RREC_MAX	1024		/* no valid value is longer */
#define RREC_TEXT_MAX	200		/* reply text kept */
#define RREC_LIFE_MAX	(400L * 86400)	/* no record lives longer */
#define RREC_SKEW	300		/* seconds a created time may be ahead of our clock */

enum rrec_type { RREC_ADDR = 'A', RREC_DOMAIN = 'D' };

struct rrec {
	enum rrec_type type;
	time_t	created;		/* when the verdict or the facts were learnt */
	time_t	expires;		/* when the record stops being true */
	unsigned facts;			/* RREC_DOMAIN: FACT_* bits (never 0); RREC_ADDR: 0 */
	struct probe_result r;		/* the verdict, or the result that established the facts;
					   address and elapsed_ms are not stored, cached is 0 */
};

/*
 * rrec_encode - rec as one line into buf (size bytes, NUL-terminated).
 * Returns its length, or -1 when rec cannot be stored (a verdict the
 * cache never keeps, times out of range, no facts) or does not fit.
 * The reply text is cut to RREC_TEXT_MAX; the MX host and IP must be
 * of the shape the decoder accepts.
 */
int	rrec_encode(const struct rrec *rec, char *buf, size_t size);

/*
 * rrec_decode - check and decode len bytes of buf (not NUL-terminated)
 * as a record valid at unix time now. 0: *out holds it; -1: a miss
 * (and *out is cleared).
 */
int	rrec_decode(const char *buf, size_t len, time_t now, struct rrec *out);

#endif
