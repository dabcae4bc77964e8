/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctx - configuration snapshots and per-connection contexts. See ctx.h.
 *
 * Thread rules: libmilter runs each connection in its own thread (and
 * may map N connections onto M threads), so nothing here is
 * thread-local. The current snapshot pointer and every snapshot's
 * reference count are guarded by one mutex; a pinned snapshot is
 * immutable, so readers need no lock while they use it. The session
 * counter is atomic.
 *
 * Memory: a struct ctx is owned by libmilter's private-data slot from
 * xxfi_connect to xxfi_close; ctx_free releases its snapshot.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "sa.h"
#include "util.h"

struct milter milter;

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snap *snap_current;
static atomic_int sessions;

struct snap *
snap_new(void)
{
	return calloc(1, sizeof(struct snap));
}

/* snap_unref - drop one reference; called with snap_lock held, returns the snapshot to free or NULL */
static struct snap *
snap_unref(struct snap *s)
{
	if (s == NULL)
		return NULL;
	if (--s->refs > 0)
		return NULL;
	return s;
}

static void
snap_destroy(struct snap *s)
{
	if (s == NULL)
		return;
	conf_free(&s->conf);
	free(s);
}

void
snap_install(struct snap *s)
{
	struct snap *old;

	pthread_mutex_lock(&snap_lock);
	s->refs++;			/* the "current" reference */
	old = snap_unref(snap_current);
	snap_current = s;
	pthread_mutex_unlock(&snap_lock);
	snap_destroy(old);
}

struct snap *
snap_acquire(void)
{
	struct snap *s;

	pthread_mutex_lock(&snap_lock);
	s = snap_current;
	if (s != NULL)
		s->refs++;
	pthread_mutex_unlock(&snap_lock);
	return s;
}

void
snap_release(struct snap *s)
{
	struct snap *dead;

	if (s == NULL)
		return;
	pthread_mutex_lock(&snap_lock);
	dead = snap_unref(s);
	pthread_mutex_unlock(&snap_lock);
	snap_destroy(dead);
}

struct ctx *
ctx_new(const struct sockaddr *sa)
{
	struct ctx *x;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->snap = snap_acquire();
	if (sa != NULL && sa->sa_family == AF_INET) {
		memcpy(&x->client, sa, sizeof(struct sockaddr_in));
		sa_ntop(sa, x->client_ip, sizeof(x->client_ip));
		x->have_client = 1;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		memcpy(&x->client, sa, sizeof(struct sockaddr_in6));
		sa_ntop(sa, x->client_ip, sizeof(x->client_ip));
		x->have_client = 1;
	}
	atomic_fetch_add(&sessions, 1);
	return x;
}

void
ctx_reset_message(struct ctx *x)
{
	if (x == NULL)
		return;
	x->have_verdict = 0;
	x->forged = 0;
	x->header[0] = '\0';
}

void
ctx_free(struct ctx *x)
{
	if (x == NULL)
		return;
	snap_release(x->snap);
	free(x);
	atomic_fetch_sub(&sessions, 1);
}

int
ctx_sessions(void)
{
	return atomic_load(&sessions);
}
