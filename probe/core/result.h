/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * result - what one verification found: the one result type that the
 * probe, the cache, the limiter, the milter and the commands pass
 * around. Plain data (fixed-size fields, no pointers), so it can be
 * copied into a background job or a cache record. Its verdict and
 * reason come from the vocabulary in verdict.h.
 */
#ifndef SAV_RESULT_H
#define SAV_RESULT_H

#include "dialog.h"
#include "reply.h"
#include "verdict.h"

#define PROBE_ADDR_MAX	600

struct probe_result {
	char	address[PROBE_ADDR_MAX];	/* normalised (addr_format), or sanitised input when unparseable */
	enum verdict verdict;
	enum reason reason;
	int	code;			/* deciding SMTP reply code, 0 if none */
	char	enhanced[16];
	char	text[REPLY_TEXT_MAX];	/* sanitised */
	char	mx[256];		/* MX host that answered, "" */
	char	ip[48];			/* its address, "" */
	int	catch_all;
	char	tls[16];		/* TLS protocol of the deciding session ("TLSv1.3"), "" plaintext */
	char	dialog[DIALOG_MAX];	/* the deciding session's transcript (dialog.h), "" */
	int	needs_tls;		/* a plaintext session was told "TLS first" (the domain fact) */
	int	cached;		/* 0, or where the answer came from: RESULT_CACHED_* */
	long	elapsed_ms;
};

#define RESULT_CACHED_LOCAL	1	/* this host's cache (LMDB) */
#define RESULT_CACHED_SHARED	2	/* the fleet's shared cache (Redis) */

/*
 * result_set - r from scratch: every field cleared, then the address
 * (NULL for none; cut to fit), the verdict and the reason.
 */
void	result_set(struct probe_result *r, const char *address, enum verdict v, enum reason reason);

#endif
