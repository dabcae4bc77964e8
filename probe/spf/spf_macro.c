/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spf_macro - RFC 7208 section 7 macro expansion, bounded.
 *
 *	macro-string	= *( macro-expand / macro-literal )
 *	macro-expand	= "%{" letter *DIGIT [ "r" ] *delimiter "}"
 *			  / "%%" / "%_" / "%-"
 *	macro-literal	= %x21-24 / %x26-7E
 *	letter		= s l o d i p h v, and c r t inside exp= only
 *	delimiter	= "." / "-" / "+" / "," / "/" / "_" / "="
 *
 * A value is split on the delimiters (default "."), reversed with "r",
 * cut to its rightmost N parts with a digit count (0 is an error; a
 * count above the number of parts keeps them all), and joined with
 * "."; an upper-case letter URL-escapes the result (RFC 3986:
 * everything but the unreserved characters). Every byte written is
 * printable ASCII: a value holding anything else (a sender's local
 * part, say) has those bytes escaped as %XX even for a lower-case
 * letter, so nothing from the envelope reaches a DNS name as a raw
 * control or non-ASCII byte.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spf.h"

#define PART_MAX	128	/* parts of one value a transformer looks at */

struct out {
	char	*p;
	size_t	n, size;
	int	over;
};

static void
put(struct out *o, const char *s, size_t len)
{
	if (o->over || len >= o->size - o->n) {
		o->over = 1;
		return;
	}
	memcpy(o->p + o->n, s, len);
	o->n += len;
	o->p[o->n] = '\0';
}

static int
is_delim(int c)
{
	return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' ||
	    c == '_' || c == '=';
}

static int
unreserved(int c)
{
	return isascii(c) && (isalnum(c) || c == '-' || c == '.' || c == '_' ||
	    c == '~');
}

/* put_value - append v, escaping as described above */
static void
put_value(struct out *o, const char *v, size_t len, int url)
{
	size_t i;
	char esc[4];

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((url && !unreserved(c)) || c <= 0x20 || c >= 0x7f ||
		    c == '%') {
			snprintf(esc, sizeof(esc), "%%%02X", c);
			put(o, esc, 3);
		} else
			put(o, (const char *)&c, 1);
	}
}

/* ip_dotted - %{i}: dotted quad, or the 32 nibbles of IPv6 dotted */
static void
ip_dotted(const struct spf_ip *ip, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = 0;

	if (ip->af == AF_INET) {
		snprintf(buf, size, "%u.%u.%u.%u", ip->a[0], ip->a[1],
		    ip->a[2], ip->a[3]);
		return;
	}
	for (i = 0; i < 16 && n + 4 < size; i++) {
		if (i > 0)
			buf[n++] = '.';
		buf[n++] = hex[ip->a[i] >> 4];
		buf[n++] = '.';
		buf[n++] = hex[ip->a[i] & 15];
	}
	buf[n] = '\0';
}

/*
 * transform - apply digits/reverse/delimiters to value v and append.
 * Returns -1 on an error in the transformer.
 */
static int
transform(struct out *o, const char *v, size_t vlen, long keep, int rev,
	  const char *delims, size_t ndelims, int url)
{
	size_t start[PART_MAX], plen[PART_MAX], np = 0, i, s = 0, first;
	char tmp[SPF_EXPAND_MAX + 1];
	struct out t = { tmp, 0, sizeof(tmp), 0 };

	tmp[0] = '\0';
	for (i = 0; i <= vlen; i++) {
		int d = i == vlen;

		if (!d) {
			if (ndelims == 0)
				d = v[i] == '.';
			else
				d = memchr(delims, v[i], ndelims) != NULL;
		}
		if (d) {
			if (np == PART_MAX)
				return -1;
			start[np] = s;
			plen[np++] = i - s;
			s = i + 1;
		}
	}
	if (rev)
		for (i = 0; i < np / 2; i++) {
			size_t a = start[i], b = plen[i];

			start[i] = start[np - 1 - i];
			plen[i] = plen[np - 1 - i];
			start[np - 1 - i] = a;
			plen[np - 1 - i] = b;
		}
	first = keep > 0 && (size_t)keep < np ? np - (size_t)keep : 0;
	for (i = first; i < np; i++) {
		if (i > first)
			put(&t, ".", 1);
		put(&t, v + start[i], plen[i]);
	}
	if (t.over)
		return -1;
	put_value(o, tmp, t.n, url);
	return 0;
}

int
spf_expand(const struct spf_mctx *m, const char *src, size_t len, int exp,
	   char *dst, size_t size)
{
	struct out o = { dst, 0, size > SPF_EXPAND_MAX + 1 ? SPF_EXPAND_MAX + 1 : size, 0 };
	char val[SPF_EXPAND_MAX + 1];
	size_t i = 0;

	if (size == 0)
		return -1;
	dst[0] = '\0';
	while (i < len) {
		unsigned char c = (unsigned char)src[i];
		const char *v;
		size_t vlen, nd = 0;
		long keep = 0;
		int letter, rev = 0, url, digits = 0;
		char delims[8];

		if (c != '%') {
			if (c < 0x21 || c > 0x7e)
				return -1;
			put(&o, (const char *)&src[i], 1);
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		switch (src[i + 1]) {
		case '%': put(&o, "%", 1); i += 2; continue;
		case '_': put(&o, " ", 1); i += 2; continue;
		case '-': put(&o, "%20", 3); i += 2; continue;
		case '{': break;
		default: return -1;
		}
		i += 2;
		if (i >= len)
			return -1;
		letter = (unsigned char)src[i++];
		url = isupper(letter);
		letter = tolower(letter);
		while (i < len && isdigit((unsigned char)src[i])) {
			if (++digits > 3)
				return -1;
			keep = keep * 10 + (src[i++] - '0');
		}
		if (digits > 0 && keep == 0)
			return -1;
		if (i < len && (src[i] == 'r' || src[i] == 'R')) {
			rev = 1;
			i++;
		}
		while (i < len && is_delim((unsigned char)src[i])) {
			if (nd < sizeof(delims) && memchr(delims, src[i], nd) == NULL)
				delims[nd++] = src[i];
			i++;
		}
		if (i >= len || src[i] != '}')
			return -1;
		i++;

		switch (letter) {
		case 's':
			v = m->req->sender;
			vlen = strlen(v);
			break;
		case 'l':
			v = m->local;
			vlen = m->local_len;
			break;
		case 'o':
			v = m->sdomain;
			vlen = strlen(v);
			break;
		case 'd':
			v = m->domain;
			vlen = strlen(v);
			break;
		case 'i':
			ip_dotted(&m->req->ip, val, sizeof(val));
			v = val;
			vlen = strlen(val);
			break;
		case 'p':
			v = "unknown";
			vlen = 7;
			break;
		case 'v':
			v = m->req->ip.af == AF_INET ? "in-addr" : "ip6";
			vlen = strlen(v);
			break;
		case 'h':
			v = m->req->helo != NULL ? m->req->helo : "";
			vlen = strlen(v);
			break;
		case 'c':
			if (!exp)
				return -1;
			if (inet_ntop(m->req->ip.af, m->req->ip.a, val,
			    sizeof(val)) == NULL)
				return -1;
			v = val;
			vlen = strlen(val);
			break;
		case 'r':
			if (!exp)
				return -1;
			v = "unknown";
			vlen = 7;
			break;
		case 't':
			if (!exp)
				return -1;
			snprintf(val, sizeof(val), "%lld", (long long)time(NULL));
			v = val;
			vlen = strlen(val);
			break;
		default:
			return -1;
		}
		if (vlen > SPF_EXPAND_MAX ||
		    transform(&o, v, vlen, keep, rev, delims, nd, url) != 0)
			return -1;
	}
	return o.over ? -1 : (int)o.n;
}
