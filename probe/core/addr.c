/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * addr - envelope address parsing and re-serialising.
 *
 * DESCRIPTION
 *	addr_parse() turns one envelope address, as the MTA, the command
 *	line or a list file gave it, into a struct addr whose parts can
 *	be put on the wire safely: addr_format() builds "local@domain"
 *	from those parts, never from the input.
 *
 *	The parse runs in fixed stages, and the first stage that fails
 *	decides the status:
 *
 *	1. Bytes. Input longer than ADDR_INPUT_MAX, any control
 *	   character (< 0x20, 0x7f, the Unicode control range U+0080-U+009F), CR, LF
 *	   or NUL anywhere (inside quotes and comments too), or bytes
 *	   that are not well-formed UTF-8 (overlongs, surrogates, beyond
 *	   U+10FFFF): ADDR_BAD_SYNTAX. Nothing later sees such bytes.
 *	2. Balance. Quotes and RFC 822 comments must close; a
 *	   backslash quotes the next byte inside both.
 *	3. Form. Leading and trailing spaces are ignored. Empty input or
 *	   "<>" is the null sender. A display name (atoms, quoted strings,
 *	   comments) followed by "<path>" takes the path; otherwise
 *	   the whole input is an addr-spec, optionally surrounded by
 *	   comments ("u@d (c)"). Anything else before or after is
 *	   ADDR_BAD_SYNTAX ("<a@b>>", "<a@b", "a@b <c@d>").
 *	4. Path. A source route "@a,@b:" is checked for shape and dropped
 *	   and dropped: its hosts are never copied anywhere. The local part is
 *	   either a quoted string (split at the '@' after the closing
 *	   quote) or a run of atext and dots kept byte for byte, even
 *	   "a..b", ".a" and "a." which exist in the wild. An unquoted
 *	   special, an empty local part or a second '@' is ADDR_BAD_SYNTAX.
 *	   No domain at all ("<postmaster>") is ADDR_NO_DOMAIN.
 *	5. Domain. An address literal must be [a.b.c.d] or [IPv6:...]
 *	   and pass inet_pton(); it is re-written from inet_ntop(). A name
 *	   is lowercased (ASCII), one trailing dot dropped, and, when it
 *	   holds UTF-8, converted with libidn2 (IDNA2008, non-transitional,
 *	   NFC input, so "ß" and "ς" stay distinct). An ASCII label
 *	   starting "xn--" must be a valid A-label. Then every label must
 *	   be 1-63 octets of letters, digits, hyphens and underscores, not
 *	   starting or ending with a hyphen, the whole at most 255 octets,
 *	   the top-level label not all digits and not "invalid" (RFC 6761).
 *	   Underscores are tolerated because DNS allows them and such
 *	   hosts exist; a bad domain rejects mail, so we stay lenient where
 *	   the DNS is. Failures here are ADDR_BAD_DOMAIN.
 *	6. Lengths, on the wire form. A local part of 65 to
 *	   ADDR_LOCAL_HARD_MAX octets is probed anyway and flagged
 *	   long_local; longer, or a "RCPT TO:<path>\r\n" line over 512
 *	   octets, is ADDR_TOO_LONG. Nothing is ever truncated.
 *
 *	Results: on ADDR_OK *out holds the parts; on ADDR_NO_DOMAIN only
 *	the local part (and flags); on ADDR_NULL and every refusal *out is
 *	all zero, so nothing half-parsed can leak onto the wire. *why is
 *	always set when why is not NULL: "ok", "null sender", "no domain"
 *	or the reason for the refusal.
 *
 *	Re-serialising: a quoted local part whose content is a valid
 *	dot-atom is sent unquoted ("john"@d -> john@d); any other quoted
 *	content is sent as a canonical Quoted-string that escapes only
 *	'"' and '\'. Local part case is kept.
 *
 * MEMORY AND THREADS
 *	No state, no locks. The only allocation is libidn2's result
 *	string, freed before returning. addr_random_local() reads
 *	getrandom(2) (or /dev/urandom) on every call.
 *
 * SECURITY
 *	Input is hostile. Every read is bounded by len; the input need not
 *	be NUL-terminated and may contain NUL bytes (refused). Every write
 *	into *out is bounded by the field size; a result that would not
 *	fit is refused, never cut.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <idn2.h>

#include "addr.h"
#include "sa.h"
#include "util.h"

#define RCPT_OVERHEAD	(sizeof("RCPT TO:<") - 1 + sizeof(">\r\n") - 1)
#define LABEL_MAX	63
#define LITERAL_MAX	64	/* longest literal content we look at */

/* Reasons; all static constants (see addr.h). */
static const char why_ok[] = "ok";
static const char why_null[] = "null sender";
static const char why_nodomain[] = "no domain";
static const char why_input_long[] = "input too long";
static const char why_control[] = "control character";
static const char why_utf8[] = "invalid utf-8";
static const char why_quote[] = "unbalanced quote";
static const char why_paren[] = "unbalanced parenthesis";
static const char why_angle[] = "unbalanced angle bracket";
static const char why_square[] = "unbalanced square bracket";
static const char why_trailing[] = "trailing text";
static const char why_empty_addr[] = "empty address";
static const char why_route[] = "bad source route";
static const char why_empty_local[] = "empty local part";
static const char why_local_special[] = "special character in local part";
static const char why_qpair[] = "bad quoted pair";
static const char why_after_quote[] = "text after quoted string";
static const char why_extra_at[] = "extra @";
static const char why_domain_special[] = "special character in domain";
static const char why_empty_domain[] = "empty domain";
static const char why_empty_label[] = "empty label";
static const char why_label_long[] = "label too long";
static const char why_domain_long[] = "domain too long";
static const char why_domain_char[] = "bad domain character";
static const char why_hyphen[] = "misplaced hyphen";
static const char why_numeric_tld[] = "numeric top-level label";
static const char why_idn[] = "bad IDN";
static const char why_invalid_tld[] = "reserved .invalid";
static const char why_literal[] = "bad address literal";
static const char why_local_long[] = "local part too long";
static const char why_line_long[] = "command line too long";

/* is_atext - RFC 5322 atext, plus UTF-8 bytes (RFC 6531; validated earlier) */
static int
is_atext(unsigned char c)
{
	if (util_is_alnum(c) || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* to_lower - ASCII lowercase, locale-free */
static char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * check_bytes - stage 1: no control characters (below 0x20, DEL, U+0080-U+009F) and
 * well-formed UTF-8 only. Returns a reason or NULL.
 */
static const char *
check_bytes(const unsigned char *s, size_t len)
{
	size_t i = 0, k, n;
	unsigned char c, lo, hi;

	while (i < len) {
		c = s[i];
		if (c < 0x20 || c == 0x7f)
			return why_control;
		if (c < 0x80) {
			i++;
			continue;
		}
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c == 0xe0) {
			n = 2;
			lo = 0xa0;
		} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
			n = 2;
		else if (c == 0xed) {
			n = 2;
			hi = 0x9f;		/* no surrogates */
		} else if (c == 0xf0) {
			n = 3;
			lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3)
			n = 3;
		else if (c == 0xf4) {
			n = 3;
			hi = 0x8f;		/* not past U+10FFFF */
		} else
			return why_utf8;
		if (len - i - 1 < n)
			return why_utf8;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return why_utf8;
		for (k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return why_utf8;
		if (c == 0xc2 && s[i + 1] <= 0x9f)
			return why_control;	/* U+0080-U+009F control, e.g. NEL */
		i += n + 1;
	}
	return NULL;
}

/*
 * check_balance - stage 2: quotes and (nested) comments close. A
 * backslash quotes the next byte inside either. Returns a reason or
 * NULL.
 */
static const char *
check_balance(const char *p, const char *e)
{
	int inq = 0;
	size_t depth = 0;

	for (; p < e; p++) {
		if (inq) {
			if (*p == '\\') {
				if (++p == e)
					return why_quote;
			} else if (*p == '"')
				inq = 0;
		} else if (depth > 0) {
			if (*p == '\\') {
				if (++p == e)
					return why_paren;
			} else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
		} else if (*p == '"')
			inq = 1;
		else if (*p == '(')
			depth = 1;
		else if (*p == ')')
			return why_paren;
	}
	if (inq)
		return why_quote;
	if (depth > 0)
		return why_paren;
	return NULL;
}

/* skip_quoted - p at '"': return the byte after the closing quote, or e */
static const char *
skip_quoted(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\') {
			if (++p == e)
				break;
		} else if (*p == '"')
			return p + 1;
	}
	return e;
}

/* skip_cfws - skip spaces and comments (balance was checked already) */
static const char *
skip_cfws(const char *p, const char *e)
{
	size_t depth;

	while (p < e) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p != '(')
			break;
		for (depth = 0; p < e; p++) {
			if (*p == '\\') {
				if (++p == e)
					break;
			} else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
	return p;
}

/*
 * find_path - stage 3: locate the path in [s, e) (no outer spaces).
 * Sets *ps, *pe and *bracketed. Returns a reason or NULL.
 */
static const char *
find_path(const char *s, const char *e, const char **ps, const char **pe,
	  int *bracketed)
{
	const char *p, *lt = NULL, *q;

	/* A display name is atoms, quoted strings and comments up to '<'. */
	for (p = s;;) {
		p = skip_cfws(p, e);
		if (p == e)
			break;
		if (*p == '<') {
			lt = p;
			break;
		}
		if (*p == '"')
			p = skip_quoted(p, e);
		else if (is_atext((unsigned char)*p) || *p == '.') {
			while (p < e && (is_atext((unsigned char)*p) || *p == '.'))
				p++;
		} else
			break;
	}

	if (lt != NULL) {
		for (q = lt + 1; q < e && *q != '>';) {
			if (*q == '"')
				q = skip_quoted(q, e);
			else
				q++;
		}
		if (q == e)
			return why_angle;
		*ps = lt + 1;
		*pe = q;
		*bracketed = 1;
		p = skip_cfws(q + 1, e);
		if (p != e)
			return (*p == '>' || *p == '<') ? why_angle : why_trailing;
		return NULL;
	}

	/* Bare addr-spec, comments allowed before and after it. */
	p = skip_cfws(s, e);
	for (q = p; q < e && *q != ' ' && *q != '(';) {
		if (*q == '"')
			q = skip_quoted(q, e);
		else if (*q == '<' || *q == '>')
			return why_angle;
		else
			q++;
	}
	if (q == p)
		return why_empty_addr;
	*ps = p;
	*pe = q;
	*bracketed = 0;
	if (skip_cfws(q, e) != e)
		return why_trailing;
	return NULL;
}

/*
 * skip_route - stage 4a: p at '@' of "@a,@b:". Returns the byte after
 * the ':' through *out, or a reason. The hosts are only looked at.
 */
static const char *
skip_route(const char *p, const char *e, const char **out)
{
	const char *h;
	int hops = 0;

	while (p < e && *p == '@') {
		h = ++p;
		hops++;
		if (p < e && *p == '[') {
			for (p++; p < e && *p != ']' && *p != '[' && *p != '\\' &&
			    *p != '@' && *p != ',' && *p != '"' && *p != '<';
			    p++)
				;
			if (p == e || *p != ']')
				return why_route;
			p++;
		} else {
			while (p < e && (util_is_alnum((unsigned char)*p) ||
			    (unsigned char)*p >= 0x80 || *p == '-' ||
			    *p == '.' || *p == '_'))
				p++;
		}
		if (p == h)
			return why_route;
		if (p < e && *p == ':') {
			*out = p + 1;
			return NULL;
		}
		if (p == e)
			return hops == 1 ? why_empty_local : why_route;
		if (*p != ',')
			return why_route;
		p++;
	}
	return why_route;
}

/* is_dot_atom - RFC 5322 dot-atom (UTF-8 allowed in atext) */
static int
is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Bounded writer for the local part: counts every byte, stores what fits. */
struct wbuf {
	char	*buf;
	size_t	 size;
	size_t	 len;
};

static void
wput(struct wbuf *w, char c)
{
	if (w->len + 1 < w->size)
		w->buf[w->len] = c;
	w->len++;
}

/*
 * parse_local - stage 4b: the local part at [p, e), up to the '@'
 * that follows it. Writes the wire form into out->local (wire_len
 * counts it even where it would not fit). Returns a reason or NULL;
 * *next is the '@' or e.
 */
static const char *
parse_local(const char *p, const char *e, struct addr *out,
	    size_t *wire_len, const char **next)
{
	char content[ADDR_INPUT_MAX];
	struct wbuf w = { out->local, sizeof(out->local), 0 };
	size_t n = 0, i;
	const char *q;

	if (p == e || *p == '@')
		return why_empty_local;

	if (*p == '"') {
		for (p++; p < e && *p != '"'; p++) {
			if (*p == '\\') {
				if (++p == e)
					return why_quote;
				if ((unsigned char)*p < 0x20 ||
				    (unsigned char)*p > 0x7e)
					return why_qpair;
			}
			if (n < sizeof(content))
				content[n++] = *p;
		}
		if (p == e)
			return why_quote;
		p++;
		if (p < e && *p != '@')
			return why_after_quote;
		if (n == 0)
			return why_empty_local;
		if (is_dot_atom(content, n)) {
			for (i = 0; i < n; i++)
				wput(&w, content[i]);
		} else {
			out->quoted = 1;
			wput(&w, '"');
			for (i = 0; i < n; i++) {
				if (content[i] == '"' || content[i] == '\\')
					wput(&w, '\\');
				wput(&w, content[i]);
			}
			wput(&w, '"');
		}
		for (i = 0; i < n; i++)
			if ((unsigned char)content[i] >= 0x80)
				out->utf8_local = 1;
	} else {
		for (q = p; p < e && *p != '@'; p++) {
			if (!is_atext((unsigned char)*p) && *p != '.')
				return why_local_special;
			if ((unsigned char)*p >= 0x80)
				out->utf8_local = 1;
		}
		for (; q < p; q++)
			wput(&w, *q);
	}
	if (w.len < w.size)
		w.buf[w.len] = '\0';
	else
		w.buf[0] = '\0';	/* too long: refused later, never cut */
	*wire_len = w.len;
	*next = p;
	return NULL;
}

/*
 * parse_literal - stage 5a: "[...]" at [p, e). Fills domain and
 * literal. Returns the status, sets *why on failure.
 */
static enum addr_status
parse_literal(const char *p, const char *e, struct addr *out,
	      const char **why)
{
	char text[LITERAL_MAX + 1], ip[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *q, *body;
	size_t n;
	int af, r;

	for (q = p + 1; q < e && *q != ']'; q++) {
		if (*q == '[' || *q == '\\' || *q == ' ' || *q == '@' ||
		    *q == '"') {
			*why = why_domain_special;
			return ADDR_BAD_SYNTAX;
		}
	}
	if (q == e) {
		*why = why_square;
		return ADDR_BAD_SYNTAX;
	}
	if (q + 1 != e) {
		*why = why_trailing;
		return ADDR_BAD_SYNTAX;
	}
	body = p + 1;
	n = (size_t)(q - body);
	if (n >= 5 && strncasecmp(body, "IPv6:", 5) == 0) {
		af = AF_INET6;
		body += 5;
		n -= 5;
	} else
		af = AF_INET;	/* a general literal "tag:..." fails below */
	if (n == 0 || n > LITERAL_MAX) {
		*why = why_literal;
		return ADDR_BAD_DOMAIN;
	}
	memcpy(text, body, n);
	text[n] = '\0';
	if (ip_pton(text, bin) != af || ip_ntop(af, bin, ip, sizeof(ip)) < 0) {
		*why = why_literal;
		return ADDR_BAD_DOMAIN;
	}
	r = snprintf(out->domain, sizeof(out->domain), "[%s%s]",
	    af == AF_INET6 ? "IPv6:" : "", ip);
	if (r < 0 || (size_t)r >= sizeof(out->domain) ||
	    strlen(ip) >= sizeof(out->literal)) {
		*why = why_literal;
		return ADDR_BAD_DOMAIN;
	}
	memcpy(out->literal, ip, strlen(ip) + 1);
	out->is_literal = 1;
	return ADDR_OK;
}

/*
 * check_name - stage 5c: an ASCII, lowercased domain without trailing
 * dot. Returns a reason or NULL.
 */
static const char *
check_name(const char *d)
{
	const char *label, *p;
	size_t n, len = strlen(d);
	int digits;

	if (len == 0)
		return why_empty_label;
	if (len > ADDR_DOMAIN_MAX)
		return why_domain_long;
	for (label = d;; label = p + 1) {
		digits = 1;
		for (p = label; *p != '\0' && *p != '.'; p++) {
			if (!util_is_alnum((unsigned char)*p) && *p != '-' &&
			    *p != '_')
				return why_domain_char;
			if (*p < '0' || *p > '9')
				digits = 0;
		}
		n = (size_t)(p - label);
		if (n == 0)
			return why_empty_label;
		if (n > LABEL_MAX)
			return why_label_long;
		if (label[0] == '-' || label[n - 1] == '-')
			return why_hyphen;
		if (*p == '\0')
			break;
	}
	/* label is now the top-level label */
	if (digits)
		return why_numeric_tld;
	if (strcmp(label, "invalid") == 0)
		return why_invalid_tld;
	return NULL;
}

/*
 * check_alabels - every ASCII label that claims to be an A-label
 * ("xn--") must be one: libidn2 must accept it and give it back
 * unchanged. Returns a reason or NULL.
 */
static const char *
check_alabels(const char *d)
{
	char label[LABEL_MAX + 1];
	const char *p, *q;
	char *res;
	size_t n;
	int ok;

	for (p = d; *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, '.');
		if (q == NULL)
			q = p + strlen(p);
		n = (size_t)(q - p);
		if (n < 4 || strncmp(p, "xn--", 4) != 0)
			continue;
		if (n > LABEL_MAX)
			return why_label_long;
		memcpy(label, p, n);
		label[n] = '\0';
		res = NULL;
		ok = idn2_to_ascii_8z(label, &res,
		    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) == IDN2_OK &&
		    res != NULL && strcmp(res, label) == 0;
		idn2_free(res);
		if (!ok)
			return why_idn;
	}
	return NULL;
}

/*
 * parse_domain - stage 5: the domain at [p, e), after the '@'.
 * Returns the status, sets *why on failure.
 */
static enum addr_status
parse_domain(const char *p, const char *e, struct addr *out,
	     const char **why)
{
	char *res = NULL;
	const char *q, *bad;
	size_t n, i;
	int utf8 = 0, rc;

	if (p == e) {
		*why = why_empty_domain;
		return ADDR_BAD_SYNTAX;
	}
	if (*p == '[')
		return parse_literal(p, e, out, why);

	/* Specials first: they are syntax errors, not domain errors. */
	for (q = p; q < e; q++) {
		if (*q == '@') {
			*why = why_extra_at;
			return ADDR_BAD_SYNTAX;
		}
		if (*q == ' ' || strchr("()<>[]:;\\,\"", *q) != NULL) {
			*why = why_domain_special;
			return ADDR_BAD_SYNTAX;
		}
		if ((unsigned char)*q >= 0x80)
			utf8 = 1;
	}

	n = (size_t)(e - p);
	if (p[n - 1] == '.')
		n--;

	if (!utf8) {
		if (n > ADDR_DOMAIN_MAX) {
			*why = why_domain_long;
			return ADDR_BAD_DOMAIN;
		}
		for (i = 0; i < n; i++)
			out->domain[i] = to_lower(p[i]);
		out->domain[n] = '\0';
		if ((bad = check_name(out->domain)) != NULL ||
		    (bad = check_alabels(out->domain)) != NULL) {
			*why = bad;
			return ADDR_BAD_DOMAIN;
		}
		return ADDR_OK;
	}

	/* UTF-8: keep the given form (ASCII-lowercased) for display. */
	if (n >= sizeof(out->domain_utf8)) {
		*why = why_domain_long;
		return ADDR_BAD_DOMAIN;
	}
	for (i = 0; i < n; i++)
		out->domain_utf8[i] = to_lower(p[i]);
	out->domain_utf8[n] = '\0';
	rc = idn2_to_ascii_8z(out->domain_utf8, &res,
	    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK || res == NULL) {
		idn2_free(res);
		if (rc == IDN2_TOO_BIG_DOMAIN)
			*why = why_domain_long;
		else if (rc == IDN2_TOO_BIG_LABEL)
			*why = why_label_long;
		else
			*why = why_idn;
		return ADDR_BAD_DOMAIN;
	}
	n = strlen(res);
	if (n > 0 && res[n - 1] == '.')
		n--;			/* a mapped full stop, e.g. U+3002 */
	if (n > ADDR_DOMAIN_MAX) {
		idn2_free(res);
		*why = why_domain_long;
		return ADDR_BAD_DOMAIN;
	}
	memcpy(out->domain, res, n);
	out->domain[n] = '\0';
	idn2_free(res);
	if ((bad = check_name(out->domain)) != NULL) {
		*why = bad;
		return ADDR_BAD_DOMAIN;
	}
	if (strcmp(out->domain, out->domain_utf8) == 0)
		out->domain_utf8[0] = '\0';
	return ADDR_OK;
}

/*
 * reason_of - the machine reason for status st refused because of why
 * (one of the why_* constants above: compared by identity, not text)
 */
static enum reason
reason_of(enum addr_status st, const char *why)
{
	switch (st) {
	case ADDR_OK:
		return R_NONE;
	case ADDR_NULL:
		return R_NULL_SENDER;
	case ADDR_NO_DOMAIN:
		return R_NO_DOMAIN;
	case ADDR_TOO_LONG:
		return R_TOO_LONG;
	case ADDR_BAD_DOMAIN:
		if (why == why_invalid_tld)
			return R_INVALID_TLD;
		if (why == why_idn)
			return R_BAD_IDN;
		return R_BAD_DOMAIN_NAME;
	case ADDR_BAD_SYNTAX:
	default:
		return R_BAD_SYNTAX;
	}
}

/* trim_spaces - drop the spaces around [*s, *e); 1 when nothing is left */
static int
trim_spaces(const char **s, const char **e)
{
	while (*s < *e && **s == ' ')
		(*s)++;
	while (*e > *s && (*e)[-1] == ' ')
		(*e)--;
	return *s == *e;
}

/* fail - clear *out, report why (text and machine reason), return st */
static enum addr_status
fail(struct addr *out, const char **whyp, const char *why,
     enum addr_status st)
{
	memset(out, 0, sizeof(*out));
	out->reason = reason_of(st, why);
	if (whyp != NULL)
		*whyp = why;
	return st;
}

enum addr_status
addr_parse(const char *in, size_t len, struct addr *out, const char **whyp)
{
	const char *s, *e, *ps, *pe, *p, *why;
	size_t wire_len, dlen;
	int bracketed;
	enum addr_status st;

	memset(out, 0, sizeof(*out));
	if (whyp != NULL)
		*whyp = why_ok;
	if (in == NULL || len == 0)
		return fail(out, whyp, why_null, ADDR_NULL);
	if ((why = check_bytes((const unsigned char *)in, len)) != NULL)
		return fail(out, whyp, why, ADDR_BAD_SYNTAX);
	/*
	 * Clean but longer than any usable address: too long (never a
	 * probe, never a 5xx on length alone), not bad syntax.
	 */
	if (len > ADDR_INPUT_MAX)
		return fail(out, whyp, why_input_long, ADDR_TOO_LONG);

	s = in;
	e = in + len;
	if ((why = check_balance(s, e)) != NULL)
		return fail(out, whyp, why, ADDR_BAD_SYNTAX);
	if (trim_spaces(&s, &e))
		return fail(out, whyp, why_null, ADDR_NULL);

	if ((why = find_path(s, e, &ps, &pe, &bracketed)) != NULL)
		return fail(out, whyp, why, ADDR_BAD_SYNTAX);
	if (bracketed && trim_spaces(&ps, &pe))
		return fail(out, whyp, why_null, ADDR_NULL);

	p = ps;
	if (*p == '@') {
		if ((why = skip_route(p, pe, &p)) != NULL)
			return fail(out, whyp, why, ADDR_BAD_SYNTAX);
		out->had_route = 1;
	}
	if ((why = parse_local(p, pe, out, &wire_len, &p)) != NULL)
		return fail(out, whyp, why, ADDR_BAD_SYNTAX);

	if (p == pe) {
		if (wire_len > ADDR_LOCAL_HARD_MAX)
			return fail(out, whyp, why_local_long, ADDR_TOO_LONG);
		out->long_local = wire_len > ADDR_LOCAL_MAX;
		out->reason = R_NO_DOMAIN;
		if (whyp != NULL)
			*whyp = why_nodomain;
		return ADDR_NO_DOMAIN;
	}

	st = parse_domain(p + 1, pe, out, &why);
	if (st != ADDR_OK)
		return fail(out, whyp, why, st);

	if (wire_len > ADDR_LOCAL_HARD_MAX)
		return fail(out, whyp, why_local_long, ADDR_TOO_LONG);
	dlen = strlen(out->domain);
	if (RCPT_OVERHEAD + wire_len + 1 + dlen > ADDR_LINE_MAX)
		return fail(out, whyp, why_line_long, ADDR_TOO_LONG);
	out->long_local = wire_len > ADDR_LOCAL_MAX;
	return ADDR_OK;
}

/* join - prefix, local part and (when there is one) "@domain" into buf */
static int
join(const struct addr *a, const char *prefix, char *buf, size_t size)
{
	int n;

	if (a->domain[0] == '\0')
		n = snprintf(buf, size, "%s%s", prefix, a->local);
	else
		n = snprintf(buf, size, "%s%s@%s", prefix, a->local, a->domain);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return -1;
	}
	return n;
}

int
addr_format(const struct addr *a, char *buf, size_t size)
{
	return join(a, "", buf, size);
}

int
addr_cache_key(const struct addr *a, char *buf, size_t size)
{
	return join(a, "a:", buf, size);
}

const char *
addr_status_str(enum addr_status s)
{
	switch (s) {
	case ADDR_OK:
		return "ok";
	case ADDR_NULL:
		return "null";
	case ADDR_NO_DOMAIN:
		return "no-domain";
	case ADDR_BAD_SYNTAX:
		return "bad-syntax";
	case ADDR_BAD_DOMAIN:
		return "bad-domain";
	case ADDR_TOO_LONG:
		return "too-long";
	}
	return "unknown";
}

/*
 * fill_random - n random bytes: getrandom(2), else /dev/urandom, else
 * (no entropy source at all, e.g. a bare chroot on an old kernel) a
 * clock and counter mix, which is unique enough for a catch-all probe
 * local part and is not used for anything secret.
 */
static void
fill_random(unsigned char *buf, size_t n)
{
	static _Atomic uint64_t counter;
	struct timespec ts;
	uint64_t x;
	size_t got = 0, i;
	ssize_t r;
	int fd;

	while (got < n) {
		r = getrandom(buf + got, n - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	if (got < n && (fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) >= 0) {
		while (got < n) {
			r = read(fd, buf + got, n - got);
			if (r > 0)
				got += (size_t)r;
			else if (r < 0 && errno == EINTR)
				continue;
			else
				break;
		}
		close(fd);
	}
	if (got == n)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)getpid() << 32) ^ atomic_fetch_add(&counter, 1) *
	    0x9e3779b97f4a7c15u;
	for (i = got; i < n; i++) {
		/* splitmix64 */
		uint64_t z = (x += 0x9e3779b97f4a7c15u);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		buf[i] = (unsigned char)(z ^ (z >> 31));
	}
}

void
addr_random_local(char *buf, size_t size)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static const char prefix[] = "sav-";
	enum { NRAND = 20, SETLEN = sizeof(set) - 1 };
	unsigned char rnd[64];
	size_t used = sizeof(rnd), n = 0, plen = sizeof(prefix) - 1;

	if (size == 0)
		return;
	if (size < plen + NRAND + 1) {
		buf[0] = '\0';		/* never a shortened, guessable name */
		return;
	}
	memcpy(buf, prefix, plen);
	while (n < NRAND) {
		if (used == sizeof(rnd)) {
			fill_random(rnd, sizeof(rnd));
			used = 0;
		}
		/* 252 = 7 * 36: drop the top bytes so every char is equally likely */
		if (rnd[used] < 256 - 256 % SETLEN)
			buf[plen + n++] = set[rnd[used] % SETLEN];
		used++;
	}
	buf[plen + n] = '\0';
}
