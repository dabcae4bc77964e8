/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * decide - the milter's pure policy: which transactions are exempt
 * from probing, and what a verdict turns into (action, SMTP reply code,
 * enhanced status code, reply text, monitor header).
 *
 * No libmilter, no I/O, no allocation: everything here is a function of
 * the configuration and its arguments, so tests/check_decide.c covers
 * it without an MTA.
 */
#ifndef SAV_DECIDE_H
#define SAV_DECIDE_H

#include <stddef.h>
#include <sys/socket.h>
#include "conf.h"

#define DECIDE_TEXT_MAX		512	/* reply text after '%' doubling */
#define DECIDE_HEADER_MAX	256	/* monitor header value */
#define DECIDE_SENDER_SHOW	128	/* sender shown in a reply, sanitised */

/*
 * What the MTA told us about the SMTP client and the transaction.
 * sa == NULL means no client address: a local submission.
 */
struct decide_client {
	const struct sockaddr *sa;
	const char *auth_authen;	/* {auth_authen}, NULL or "" when not authenticated */
};

/*
 * decide_exempt - is this MAIL FROM exempt from verification? The
 * checks, in order: null sender, local submission, authenticated
 * client (SkipAuthenticated), TrustedNetworks, our own ProbeSender,
 * ExemptDomains. The null sender is recognised before anything else, so
 * it never costs a DNS query or a cache lookup. Returns 1 and
 * fills *res (verdict skipped, the reason token, the address) when
 * exempt, 0 otherwise (*res untouched).
 */
int	decide_exempt(const struct conf *c, const struct decide_client *cl,
		      const char *sender, size_t len, struct probe_result *res);

struct decision {
	enum action action;		/* Action.<verdict> from the configuration */
	enum action effective;		/* what the milter does: ACCEPT in monitor mode */
	char	code[4];		/* "550", "451", ...; "" when effective is ACCEPT */
	char	enhanced[16];		/* "5.1.7", ...; matches code's class */
	char	text[DECIDE_TEXT_MAX];	/* printable ASCII, every '%' doubled */
	char	header[DECIDE_HEADER_MAX];	/* monitor header value, "" when not in monitor mode */
};

/*
 * decide_reply - turn a result into a decision. sender is the raw
 * envelope sender as received (len bytes); it is only shown, sanitised
 * and bounded, when r->address is empty. The remote server's text is
 * quoted only when RejectDetail is on (by default an outsider
 * learns no more than the reply code).
 */
void	decide_reply(const struct conf *c, const char *sender, size_t len,
		     const struct probe_result *r, struct decision *d);

/*
 * decide_codes - the reply code and enhanced code for verdict/reason
 * under action a (REJECT or TEMPFAIL). Exposed for the tests and the
 * man page table.
 */
void	decide_codes(enum action a, enum verdict v, enum reason reason,
		     char code[4], char enhanced[16]);

/*
 * decide_percent - copy src into dst (size bytes, NUL-terminated),
 * doubling every '%' as smfi_setreply requires; never splits a "%%"
 * pair. Returns the length written.
 */
size_t	decide_percent(char *dst, size_t size, const char *src);

#endif
