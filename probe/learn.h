/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * learn - what one verification result teaches, and what the cache's
 * domain facts answer without asking again. The rules live here, above
 * the store: cache.c only fetches what it holds and stores what it is
 * told (a struct cache_plan), as Postfix's verify.c keeps its rules
 * above a generic dict_cache.
 *
 * Pure: no LMDB, no I/O, no clock, no allocation. Thread rules: every
 * function is reentrant and only reads its inputs (but learn_store,
 * which is the one-line glue to the store).
 */
#ifndef SAV_LEARN_H
#define SAV_LEARN_H

#include "cache.h"
#include "result.h"

/*
 * learn_keeps - is r worth storing at all? Not error or skipped (we
 * learnt nothing), and not a result about us rather than the address:
 * our own limits (rate-limited), the caller's budget, an internal
 * error, an answer already taken from domain facts. Storing those would
 * only hide the address.
 */
int	learn_keeps(const struct probe_result *r);

/*
 * learn_facts - the domain facts r establishes: catch-all (a catch-all
 * verdict, or the catch-all flag), refuses-null (the null sender was
 * refused), blocks-us (a refused greeting, or a policy refusal), no-mail
 * (bad-domain from NXDOMAIN, a null MX or no mail host), unreachable
 * (a tempfail because no MX could be reached: connect failure or
 * time-out) and needs-tls (a plaintext session was answered "TLS
 * first" at MAIL or RCPT: the next probe starts TLS at once).
 */
unsigned learn_facts(const struct probe_result *r);

/*
 * learn_cleared - the domain facts r disproves: a definite answer about
 * a mailbox (valid and not catch-all, or invalid) shows the domain
 * takes mail from us, so every negative fact goes; an invalid one also
 * shows it is no catch-all, and one given in plaintext that TLS is not
 * needed. A refusal of the null sender (made invalid
 * by StrictNullSender) is about <>, not a mailbox, and clears nothing.
 */
unsigned learn_cleared(const struct probe_result *r);

/*
 * learn_plan - what to store for a fresh result r, given what the cache
 * holds for its address now (held->addr: a record in force, of verdict
 * held->verdict). The rules, in order:
 *  - nothing at all unless learn_keeps(r);
 *  - the domain facts r establishes are added and those it disproves
 *    cleared (learn_facts, learn_cleared);
 *  - a refused null sender says nothing about the address: it is kept
 *    only as a domain fact, judged by the StrictNullSender in force when
 *    it is read, so switching that off takes effect at once;
 *  - nothing but a fresh valid result replaces a valid record in force
 *    (a failed or temporary refresh never turns a known-good address
 *    bad): the record is kept and the attempt noted (touch_addr), so a
 *    failing refresh is not retried on every message;
 *  - a tempfail never replaces another verdict in force, and is stored
 *    only as tempfail;
 *  - anything else is stored as the address's record.
 * Matches cache_rules_fn, for cache_write.
 */
void	learn_plan(const struct probe_result *r, const struct cache_held *held,
		   struct cache_plan *plan);

/*
 * learn_from_facts - do the domain facts in force answer a new
 * verification of this domain without contacting it? Yes when the
 * domain refuses the null sender, blocks us, has no mail host or was
 * unreachable: until the fact expires, the result that established it
 * (why) is the answer. Then *res becomes why with res->address kept and
 * cached set, and 1 is returned; otherwise 0 and *res is untouched.
 */
int	learn_from_facts(unsigned facts, const struct probe_result *why,
			 struct probe_result *res);

/*
 * learn_null_sender - StrictNullSender, the one place it is applied: a
 * standing refusal of MAIL FROM:<> is invalid when strict is set,
 * unknown otherwise. Applied to every result as it leaves a probe or
 * the domain facts, so a stored refusal is judged by the setting in
 * force now. Other results are untouched.
 */
void	learn_null_sender(int strict, struct probe_result *res);

/*
 * learn_store - store fresh result r for the address key (cache key,
 * NULL: none) of domain under the rules of learn_plan. Returns what
 * cache_write returns; CACHE_MISS when nothing is to be stored.
 */
enum cache_status learn_store(struct cache *c, const char *key, const char *domain,
			      const struct probe_result *r);

#endif
