/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit_mx - the limiter's table of MX addresses: a hash table of at
 * most LIMIT_MX_MAX entries, each with the connections open to it now
 * (MXConcurrency) and a ring of its last connection times (MXRate).
 * When and how the entries are counted is limit.c's (mx_acquire,
 * mx_release); here only the table: find, create, prune, free.
 *
 * Threads: none of its own; the limiter's mutex is held on every call.
 * Memory: entries and their rings are the table's, freed by pruning or
 * limit_mx_free_all.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "limit_mx.h"

static uint32_t
fnv(const unsigned char *s, size_t len)
{
	uint32_t h = 2166136261u;

	while (len-- > 0) {
		h ^= *s++;
		h *= 16777619u;
	}
	return h;
}

int
limit_mx_key(const struct sockaddr *sa, int *family, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* the newest connection time in m's ring, 0 if none */
static msec_t
newest(const struct limit_mx *m, int rate)
{
	if (m->rcount == 0 || rate <= 0)
		return 0;
	return m->ring[(m->rhead + m->rcount - 1) % rate];
}

static void
mx_free(struct limit_mx *m)
{
	free(m->ring);
	free(m);
}

/* drop entries with nothing in flight and nothing in the rate window */
static void
prune(struct limit_mxs *t, int rate, msec_t now)
{
	int i;

	for (i = 0; i < LIMIT_MX_BUCKETS; i++) {
		struct limit_mx **pp = &t->b[i];

		while (*pp != NULL) {
			struct limit_mx *m = *pp;

			if (m->active == 0 && now - newest(m, rate) >= LIMIT_RATE_WINDOW_MS) {
				*pp = m->next;
				mx_free(m);
				t->n--;
			} else
				pp = &m->next;
		}
	}
}

struct limit_mx *
limit_mx_get(struct limit_mxs *t, int rate, int family, const unsigned char addr[16], int create)
{
	uint32_t h = fnv(addr, 16) ^ (uint32_t)family;
	struct limit_mx *m;

	for (m = t->b[h % LIMIT_MX_BUCKETS]; m != NULL; m = m->next)
		if (m->hash == h && m->family == family && memcmp(m->addr, addr, 16) == 0)
			return m;
	if (!create)
		return NULL;
	if (t->n >= LIMIT_MX_PRUNE_AT)
		prune(t, rate, util_now_ms());
	if (t->n >= LIMIT_MX_MAX || (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if (rate > 0 && (m->ring = calloc((size_t)rate, sizeof(*m->ring))) == NULL) {
		free(m);
		return NULL;
	}
	m->hash = h;
	m->family = family;
	memcpy(m->addr, addr, 16);
	m->next = t->b[h % LIMIT_MX_BUCKETS];
	t->b[h % LIMIT_MX_BUCKETS] = m;
	t->n++;
	return m;
}

void
limit_mx_free_all(struct limit_mxs *t)
{
	int i;

	for (i = 0; i < LIMIT_MX_BUCKETS; i++) {
		while (t->b[i] != NULL) {
			struct limit_mx *m = t->b[i];

			t->b[i] = m->next;
			mx_free(m);
		}
	}
	t->n = 0;
}
