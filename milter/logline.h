/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * logline - the milter's one key=value line per decision, in a fixed
 * key order, every value escaped by log_escape() so that a hostile
 * sender or remote text can never forge a second line or a key.
 */
#ifndef SAV_MILTER_LOGLINE_H
#define SAV_MILTER_LOGLINE_H

#include <stddef.h>
#include "result.h"

struct log_decision {
	const char *sender;		/* raw envelope sender as received (escaped here) */
	const char *client;		/* client IP text, or NULL */
	const char *qid;		/* queue id, or NULL */
	const struct probe_result *r;
	const char *action;		/* "accept" "tempfail" "reject" */
	const char *mode;		/* NULL, or "monitor" */
	const char *spf;		/* SPF result when ProbeWhen spf-not-pass evaluated it, or NULL */
	long	spf_ms;			/* with spf: how long the SPF step took; -1: a remembered pass */
};

/*
 * log_format_decision - the line, fixed key order:
 *   sender=<x@example.org> client=[203.0.113.9] qid=... verdict=invalid
 *   reason=user-unknown action=reject mx=... ip=... code=550 dsn=5.1.1
 *   spf=fail spf_ms=4 cache=miss ms=183
 * (qid only when known; mx/ip/code/dsn only when set; spf only when
 * ProbeWhen spf-not-pass asked SPF, spf_ms only when it was evaluated
 * rather than a remembered pass; ms is the verdict's own
 * time, the SPF step not included). Returns length.
 */
size_t	log_format_decision(char *buf, size_t size, const struct log_decision *d);

/* log_decision - format and log at LOG_INFO */
void	log_decision(const struct log_decision *d);

#endif
