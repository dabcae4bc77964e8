/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctx - the milter's state: the process-wide pieces (configuration
 * snapshot, limiter, cache) and the per-connection context attached
 * with smfi_setpriv.
 *
 * Configuration snapshots are refcounted (as OpenDKIM does): each
 * connection pins the snapshot current when it connected and uses it
 * until it closes, so SIGHUP can swap in a new configuration without
 * dropping or confusing connections in flight.
 */
#ifndef SAV_MILTER_CTX_H
#define SAV_MILTER_CTX_H

#include <netinet/in.h>
#include <sys/socket.h>
#include "conf.h"
#include "decide.h"
#include "limit.h"

struct snap {
	struct conf conf;
	int	refs;		/* guarded by the snapshot lock */
};

/*
 * Process-wide state: set up in main() before smfi_main(), read-only
 * afterwards except for the snapshot pointer (under its lock) and the
 * session counter (atomic).
 */
struct milter {
	struct limiter *limiter;
	struct cache *cache;
};

extern struct milter milter;

/* snap_install - make c (heap, owned from now on) the current configuration; the old one is released */
void	snap_install(struct snap *s);

/* snap_acquire - pin the current snapshot; never NULL after the first snap_install */
struct snap *snap_acquire(void);

/* snap_release - unpin; the last release frees it */
void	snap_release(struct snap *s);

/* snap_new - a zeroed snapshot with refs 0, or NULL */
struct snap *snap_new(void);

/* the per-connection context */
struct ctx {
	struct snap *snap;		/* pinned at connect */
	int	have_client;		/* hostaddr was an IP address */
	struct sockaddr_storage client;
	char	client_ip[INET6_ADDRSTRLEN];
	int	macro_warned;		/* a malformed macro packet was logged (macro.c) */
	char	helo[256];		/* HELO/EHLO name (printable, cut), "" unknown; only asked for with ProbeWhen spf-not-pass */
	/* per message: reset at MAIL FROM and abort */
	int	have_verdict;
	int	forged;			/* copies of our monitor header that came with the message */
	char	header[DECIDE_HEADER_MAX];	/* monitor header to add at EOM, "" none */
};

/*
 * ctx_new - a context for a connection from hostaddr (NULL: no address,
 * a local submission), pinning the current snapshot. NULL when out of
 * memory.
 */
struct ctx *ctx_new(const struct sockaddr *hostaddr);

/* ctx_reset_message - forget the per-message part (MAIL FROM, RSET, abort) */
void	ctx_reset_message(struct ctx *x);

/* ctx_free - unpin the snapshot and free; NULL is fine */
void	ctx_free(struct ctx *x);

/* ctx_sessions - connections open now (for a clean shutdown) */
int	ctx_sessions(void);

#endif
