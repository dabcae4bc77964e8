/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spfgate - the SPF step of ProbeWhen spf-not-pass (see spfgate.c):
 * one evaluation per (domain, client network) and CacheTTL.spf-pass.
 * Thread-safe.
 */
#ifndef SAV_MILTER_SPFGATE_H
#define SAV_MILTER_SPFGATE_H

#include <stddef.h>
#include <sys/socket.h>
#include "dns.h"
#include "spf.h"

struct spfgate_conf {
	const struct dns_conf *dns;	/* Resolver, DNSTimeout */
	msec_t	timeout_ms;		/* SPFTimeout: the whole evaluation */
	msec_t	pass_ttl_ms;		/* CacheTTL.spf-pass; 0: nothing remembered */
};

/*
 * spfgate_check - the SPF result for the client and the sender
 * local@domain (domain: the A-label). *cached is set when a remembered
 * pass answered. why (may be NULL) gets the evaluator's short reason,
 * sanitised. A client that is not an IP address gives SPF_NONE.
 */
enum spf_result spfgate_check(const struct spfgate_conf *gc, const struct sockaddr *client,
			      const char *local, const char *domain, const char *helo,
			      int *cached, char *why, size_t whylen);

/* spfgate_forget - drop every remembered pass (reload, tests) */
void	spfgate_forget(void);

#endif
