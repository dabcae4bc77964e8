/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * addr - envelope address parsing and re-serialising.
 *
 * Pure: no DNS, no sockets, no allocation. Input is hostile (from the
 * MTA, the command line or a list file). The RCPT path that goes on
 * the wire is built by addr_format() from the parsed parts, never by
 * pasting input.
 *
 * Accepted forms: "<>", "<u@d>", "u@d", "<@a,@b:u@d>" (route dropped,
 * never contacted), quoted local parts ("john doe"@d, "a@b"@d,
 * "a\"b"@d), a display-name form "Name <u@d>" and a trailing RFC 822
 * comment "u@d (c)", IP literals u@[192.0.2.1] / u@[IPv6:...].
 * The domain is lowercased, a trailing dot dropped, converted to an
 * A-label with libidn2 (IDNA2008, non-transitional: ß and ς kept).
 * Any control character (< 0x20, 0x7f), CR, LF or NUL anywhere,
 * including inside quotes, is ADDR_BAD_SYNTAX. Non-UTF-8 8-bit bytes
 * are ADDR_BAD_SYNTAX. An unquoted local part made of atext and dots
 * is kept exactly as given even when it is not a valid dot-atom
 * ("a..b", ".a", "a."), because such addresses exist in the wild.
 */
#ifndef SAV_ADDR_H
#define SAV_ADDR_H

#include <stddef.h>

#include "verdict.h"

#define ADDR_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_LOCAL_HARD_MAX	255	/* longer: probe anyway up to here */
#define ADDR_DOMAIN_MAX		255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX		256	/* RFC 5321 4.5.3.1.3, including <> */
#define ADDR_LINE_MAX		512	/* RFC 5321 command line incl. CRLF */
#define ADDR_INPUT_MAX		1024	/* longer clean input is ADDR_TOO_LONG, unparsed */

enum addr_status {
	ADDR_OK,		/* a probe-able mailbox */
	ADDR_NULL,		/* the null sender <> */
	ADDR_NO_DOMAIN,		/* unqualified: <postmaster> (unknown) */
	ADDR_BAD_SYNTAX,	/* unparseable, control chars, bad quoting, bad UTF-8 */
	ADDR_BAD_DOMAIN,	/* empty label, label > 63, domain > 255, bad IDN, .invalid */
	ADDR_TOO_LONG,		/* RCPT line would exceed 512 octets, or input over ADDR_INPUT_MAX (unknown, no probe) */
};

struct addr {
	char	local[2 * ADDR_LOCAL_HARD_MAX + 3];	/* wire form: dot-atom or canonical quoted-string */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* lowercase A-label, no trailing dot; "[1.2.3.4]" form for literals */
	char	domain_utf8[ADDR_DOMAIN_MAX * 4 + 1]; /* as given (lowercased) for display, "" if same */
	char	literal[46];		/* IP text of an address literal, "" otherwise */
	int	is_literal;		/* domain is an address literal */
	int	quoted;			/* local part is sent as a quoted-string */
	int	utf8_local;		/* local part holds UTF-8: needs SMTPUTF8 */
	int	had_route;		/* a source route was dropped */
	int	long_local;		/* local part over 64 octets */
	enum reason reason;		/* why not ADDR_OK (the only field set then); R_NONE when ADDR_OK */
};

/*
 * addr_parse - parse one envelope address of len bytes (need not be
 * NUL-terminated). Fills *out (zeroed first). On failure *why (if not
 * NULL) points to a static constant reason ("control character",
 * "unbalanced quote", "label too long", ...) for people, and
 * out->reason is the machine reason for the status: null-sender,
 * no-domain, too-long, bad-syntax, or for ADDR_BAD_DOMAIN invalid-tld
 * (.invalid), bad-idn, else bad-domain-name. Never reads past len.
 */
enum addr_status addr_parse(const char *in, size_t len, struct addr *out,
			    const char **why);

/*
 * addr_format - write "local@domain" (no angle brackets) into buf.
 * Returns the length, or -1 when it does not fit.
 */
int	addr_format(const struct addr *a, char *buf, size_t size);

/*
 * addr_cache_key - the cache key "a:<local>@<a-label domain>": local
 * part as given (case kept), domain case-folded A-label.
 * Returns the length, or -1 when it does not fit.
 */
int	addr_cache_key(const struct addr *a, char *buf, size_t size);

/* addr_status_str - "ok", "null", "no-domain", "bad-syntax", "bad-domain", "too-long" */
const char *addr_status_str(enum addr_status s);

/*
 * addr_random_local - write a random local part (lowercase letters and
 * digits, 20 chars, prefixed "sav-") for the catch-all check.
 */
void	addr_random_local(char *buf, size_t size);

#endif
