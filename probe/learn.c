/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * learn - the rules about what a verification result teaches: which
 * domain facts it establishes or disproves, what may overwrite what in
 * the cache, and when the domain facts already known answer without a
 * probe. See learn.h for each rule in words; tests/check_learn.c holds
 * them as a table.
 *
 * Pure: no LMDB, no I/O, no clock. The store (cache.c) reads what it
 * holds inside its write transaction, asks learn_plan what to do and
 * does exactly that, so the read-decide-write stays atomic between
 * processes while the decision lives here.
 *
 * SECURITY: the inputs are results built by the probe or read back from
 * the cache (already checked by the record codec); nothing here copies
 * into buffers but whole structs.
 */
#include <string.h>

#include "learn.h"

static int
reason_is(const struct probe_result *r, enum reason token)
{
	return r->reason == token;
}

int
learn_keeps(const struct probe_result *r)
{
	if (r == NULL || r->verdict == VERDICT_ERROR || r->verdict == VERDICT_SKIPPED ||
	    r->verdict < 0 || r->verdict >= VERDICT_COUNT)
		return 0;
	return !(reason_is(r, R_RATE_LIMITED) || reason_is(r, R_BUDGET) ||
	    reason_is(r, R_INTERNAL) || reason_is(r, R_CACHED_DOMAIN));
}

unsigned
learn_facts(const struct probe_result *r)
{
	unsigned f = 0;

	if (r->verdict == VERDICT_CATCH_ALL || r->catch_all)
		f |= FACT_CATCH_ALL;
	if (reason_is(r, R_NULL_SENDER_REFUSED))
		f |= FACT_REFUSES_NULL;
	if (reason_is(r, R_GREETING_REFUSED) || reason_is(r, R_POLICY_BLOCK))
		f |= FACT_BLOCKS_US;
	/* a temporary "no mail host" (nothing could be tried) is no fact */
	if (r->verdict == VERDICT_BAD_DOMAIN && (reason_is(r, R_NO_MAIL_HOST) ||
	    reason_is(r, R_NXDOMAIN) || reason_is(r, R_NULL_MX)))
		f |= FACT_NO_MAIL;
	if (r->verdict == VERDICT_TEMPFAIL &&
	    (reason_is(r, R_CONNECT_FAILED) || reason_is(r, R_TIMEOUT)))
		f |= FACT_UNREACHABLE;
	if (r->needs_tls)
		f |= FACT_NEEDS_TLS;
	return f;
}

unsigned
learn_cleared(const struct probe_result *r)
{
	unsigned f = 0;

	/* a strict (StrictNullSender) invalid is about <>, not about a mailbox */
	if (reason_is(r, R_NULL_SENDER_REFUSED))
		return 0;
	if ((r->verdict == VERDICT_VALID && !r->catch_all) || r->verdict == VERDICT_INVALID)
		f = FACT_REFUSES_NULL | FACT_BLOCKS_US | FACT_NO_MAIL | FACT_UNREACHABLE;
	if (r->verdict == VERDICT_INVALID)
		f |= FACT_CATCH_ALL;	/* a mailbox-level 5xx: not catch-all */
	/* the mailbox answer came in plaintext: TLS is not needed (any more) */
	if (f != 0 && r->tls[0] == '\0' && !r->needs_tls)
		f |= FACT_NEEDS_TLS;
	return f;
}

void
learn_plan(const struct probe_result *r, const struct cache_held *held,
	   struct cache_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (!learn_keeps(r))
		return;
	plan->add = learn_facts(r);
	plan->clear = learn_cleared(r);
	plan->domain = 1;
	if (reason_is(r, R_NULL_SENDER_REFUSED))
		return;		/* a domain fact only */
	if (held->addr && held->verdict == VERDICT_VALID && r->verdict != VERDICT_VALID) {
		/* as Postfix's verify: a failed probe never clobbers an OK address */
		plan->touch_addr = 1;
		return;
	}
	if (r->verdict == VERDICT_TEMPFAIL && held->addr && held->verdict != VERDICT_TEMPFAIL)
		return;
	plan->put_addr = 1;
}

int
learn_from_facts(unsigned facts, const struct probe_result *why, struct probe_result *res)
{
	char address[PROBE_ADDR_MAX];

	if (!(facts & (FACT_REFUSES_NULL | FACT_BLOCKS_US | FACT_NO_MAIL | FACT_UNREACHABLE)))
		return 0;
	/* no new connection to the domain until the fact expires */
	memcpy(address, res->address, sizeof(address));
	*res = *why;
	memcpy(res->address, address, sizeof(res->address));
	res->cached = why->cached == RESULT_CACHED_SHARED ? RESULT_CACHED_SHARED : RESULT_CACHED_LOCAL;
	return 1;
}

void
learn_null_sender(int strict, struct probe_result *res)
{
	if (reason_is(res, R_NULL_SENDER_REFUSED))
		res->verdict = strict ? VERDICT_INVALID : VERDICT_UNKNOWN;
}

enum cache_status
learn_store(struct cache *c, const char *key, const char *domain, const struct probe_result *r)
{
	if (c == NULL || !learn_keeps(r))
		return CACHE_MISS;
	return cache_write(c, key, domain, r, learn_plan);
}
