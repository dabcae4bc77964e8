/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_rec - the on-disk record format of the verdict cache: encode,
 * and decode with every check (see cache.c for the module).
 *
 * RECORD FORMAT (version 1, little endian)
 *	0 magic 0xC5, 1 version, 2 type 'A' (address) or 'D' (domain),
 *	3 verdict, 4 flags, 5-6 SMTP code, 7-10 created (unsigned unix
 *	time); then, with F_TRIED, tried (the last refresh that did not
 *	replace the record); for D one u32 time per fact bit in bit order;
 *	then reason (u8 index into disk_reasons[], or 0xff + u8 length +
 *	token); enhanced code (0: none, 0x80|class<<5|subject + u8 detail
 *	when it packs, else u8 length + text); reply text, MX host (each
 *	u8 length + bytes); IP (u8 family 0/4/6 + 0/4/16 bytes); with
 *	F_DIALOG, the transcript of the deciding session (u16 length +
 *	bytes, the shape dialog.h gives); CRC-32 of all the bytes before
 *	it. The disk_reasons[] table is append-only:
 *	changing an existing index needs a new version number.
 *
 *	Flags: bits 0-4 are catch_all (A, bit 0) or the first five FACT_*
 *	bits (D); bit 7 (F_FACT5) is the sixth fact, needs-tls, appended
 *	after the others so that the five keep their bits and their
 *	times' order (a build that knows only five reads such a record as
 *	a miss); F_TRIED (0x20) says tried is there; F_MXREL (0x40) says the MX is
 *	stored relative to the key's domain ("mx1" for mx1.<domain>, ""
 *	for <domain> itself); F_DIALOG (0x02, A records only, and never
 *	for valid ones, which are most of the cache and need no
 *	explaining) says a transcript follows the IP. In the text of an A record, the byte 0x01
 *	stands for the address of the key (local@domain), which servers
 *	often quote; text is otherwise printable ASCII, at most
 *	CACHE_TEXT_MAX bytes expanded.
 *
 *	Why so tight: LMDB leaves leaf pages about 55% full under random
 *	inserts, so every byte of a record costs nearly two on disk; the
 *	target is 200 bytes per entry with LMDB's overhead (bench_cache).
 *
 * DECODING
 *	The bytes come from a file anyone with write access to it could
 *	have crafted. cache_rec_decode() checks the length bounds, magic,
 *	version, CRC, type, verdict range (and that it is a storable one),
 *	flag bits, code range, the reason (table index or [a-z0-9-]
 *	token), the enhanced code's shape, that every string is printable
 *	ASCII with no NUL and fits, the IP family and bytes, and that the
 *	lengths add up to exactly the record size. Any failure: -1, which
 *	every caller treats as a miss.
 *
 * Pure functions, no state but the CRC table (built once).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache_int.h"
#include "dialog.h"
#include "sa.h"
#include "util.h"

/*
 * The on-disk reason numbers (the reason byte of a record). Append
 * only (see RECORD FORMAT): a number, once written, means its reason
 * for ever. A reason with no number here (rcpt-syntax,
 * bad-domain-name) is written as a literal token, as it always has
 * been, so older builds read it. Number 0 is the empty reason.
 */
static const enum reason disk_reasons[] = {
	[0] = R_NONE,
	[1] = R_USER_OK,
	[2] = R_USER_UNKNOWN,
	[3] = R_MAILBOX_FULL,
	[4] = R_GREYLISTED,
	[5] = R_TEMP_REPLY,
	[6] = R_POLICY_BLOCK,
	[7] = R_NULL_SENDER_REFUSED,
	[8] = R_GREETING_REFUSED,
	[9] = R_CATCH_ALL,
	[10] = R_NXDOMAIN,
	[11] = R_NULL_MX,
	[12] = R_NO_MAIL_HOST,
	[13] = R_BOGUS_MX,
	[14] = R_INVALID_TLD,
	[15] = R_BAD_IDN,
	[16] = R_SERVFAIL,
	[17] = R_DNS_TIMEOUT,
	[18] = R_TIMEOUT,
	[19] = R_CONNECT_FAILED,
	[20] = R_PROTOCOL_ERROR,
	[21] = R_SERVICE_CLOSING,
	[22] = R_PRIVATE_TARGET,
	[23] = R_SELF_TARGET,
	[24] = R_SMTPUTF8_UNSUPPORTED,
	[25] = R_TOO_LONG,
	[26] = R_NO_DOMAIN,
	[27] = R_BAD_SYNTAX,
	[28] = R_ADDRESS_LITERAL,
	[29] = R_STARTTLS_REQUIRED,
	[30] = R_UNDETERMINED,
	[31] = R_RATE_LIMITED,
	[32] = R_BUDGET,
	[33] = R_CACHED_DOMAIN,
	[34] = R_NULL_SENDER,
	[35] = R_AUTHENTICATED,
	[36] = R_TRUSTED_NETWORK,
	[37] = R_EXEMPT_DOMAIN,
	[38] = R_LOCAL,
	[39] = R_PROBE_SENDER,
	[40] = R_INTERNAL,
	[41] = R_SPF_PASS,
};
#define NREASONS	(sizeof(disk_reasons) / sizeof(disk_reasons[0]))

static const char *const fact_names[NFACTS] = {
	"catch-all", "refuses-null", "blocks-us", "no-mail", "unreachable", "needs-tls",
};

/* ---- CRC-32 (IEEE 802.3, as zlib) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	uint32_t c;
	int n, k;

	for (n = 0; n < 256; n++) {
		c = (uint32_t)n;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t
crc32_buf(const unsigned char *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	pthread_once(&crc_once, crc_init);
	while (len-- > 0)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
	p[2] = (unsigned char)((v >> 16) & 0xff);
	p[3] = (unsigned char)((v >> 24) & 0xff);
}

static unsigned
get16(const unsigned char *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

static uint32_t
get32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* unix time -> stored u32 (clamped; 0 stays "never") */
static uint32_t
time32(time_t t)
{
	if (t <= 0)
		return 0;
	if ((unsigned long long)t > UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)t;
}

int
cache_rec_storable(enum verdict v)
{
	switch (v) {
	case VERDICT_VALID:
	case VERDICT_INVALID:
	case VERDICT_BAD_DOMAIN:
	case VERDICT_BAD_SYNTAX:
	case VERDICT_CATCH_ALL:
	case VERDICT_UNKNOWN:
	case VERDICT_TEMPFAIL:
		return 1;
	default:
		return 0;
	}
}

/*
 * cache_rec_reason_index - the on-disk number of reason r, or
 * REASON_LITERAL when it has none (written as its token)
 */
int
cache_rec_reason_index(enum reason r)
{
	size_t i;

	for (i = 0; i < NREASONS; i++)
		if (disk_reasons[i] == r)
			return (int)i;
	return REASON_LITERAL;
}

/* a reason token: [a-z0-9-], 1..31 */
static int
token_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 31)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* an enhanced status code "c.s.d": class 2/4/5, 1-3 digits each */
static int
enhanced_ok(const char *s, size_t len)
{
	size_t i = 0, n;
	int part;

	if (len == 0 || len > 15 || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return 0;
	for (part = 0; part < 3; part++) {
		for (n = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			n++;
		if (n < 1 || n > 3 || (part == 0 && n != 1))
			return 0;
		if (part < 2) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len;
}

/* printable ASCII only (what util_sanitize produces); nospace: no ' ' either */
static int
printable_ok(const char *s, size_t len, int nospace)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch > 0x7e || (nospace && ch == ' '))
			return 0;
	}
	return 1;
}

/* ---- encode / decode ---- */

/* append u8 length + bytes; returns the new offset, or 0 when it does not fit */
static size_t
put_str(unsigned char *buf, size_t off, size_t size, const char *s, size_t len)
{
	if (len > 255 || off + 1 + len > size)
		return 0;
	buf[off++] = (unsigned char)len;
	memcpy(buf + off, s, len);
	return off + len;
}

/*
 * key_parts - the address ("local@domain", after "a:") and the domain
 * (after the last '@', or after "d:") of a key. The key comes from the
 * file too: it must be printable ASCII, or neither is given.
 */
static void
key_parts(const char *key, size_t klen, const char **addr, size_t *alen,
	  const char **dom, size_t *dlen)
{
	const char *at;

	*addr = *dom = NULL;
	*alen = *dlen = 0;
	if (key == NULL || klen < 3 || !printable_ok(key, klen, 0))
		return;
	if (key[0] == 'd' && key[1] == ':') {
		*dom = key + 2;
		*dlen = klen - 2;
		return;
	}
	if (key[0] != 'a' || key[1] != ':' || (at = memrchr(key, '@', klen)) == NULL)
		return;
	*addr = key + 2;
	*alen = klen - 2;
	*dom = at + 1;
	*dlen = (size_t)(key + klen - *dom);
	if (*dlen == 0)
		*dom = NULL;
}

/* the enhanced code, packed into two bytes when canonical and small */
static size_t
put_enhanced(unsigned char *buf, size_t off, size_t size, const char *e)
{
	unsigned cl, sub, det;
	char canon[16];

	if (e[0] == '\0') {
		buf[off] = 0;
		return off + 1;
	}
	if (sscanf(e, "%u.%u.%u", &cl, &sub, &det) == 3 && (cl == 2 || cl == 4 || cl == 5) &&
	    sub <= 31 && det <= 255 &&
	    (size_t)snprintf(canon, sizeof(canon), "%u.%u.%u", cl, sub, det) < sizeof(canon) &&
	    strcmp(canon, e) == 0) {
		if (off + 2 > size)
			return 0;
		buf[off] = (unsigned char)(0x80u | (cl == 2 ? 0u : cl == 4 ? 1u : 2u) << 5 | sub);
		buf[off + 1] = (unsigned char)det;
		return off + 2;
	}
	return put_str(buf, off, size, e, strlen(e));
}

static int
get_enhanced(const unsigned char *buf, size_t len, size_t *off, char *dst, size_t size)
{
	unsigned b, n, cls;

	if (*off >= len)
		return -1;
	b = buf[*off];
	if (b == 0) {
		(*off)++;
		dst[0] = '\0';
		return 0;
	}
	if (b & 0x80) {
		if (*off + 2 > len || ((b >> 5) & 3) == 3)
			return -1;
		cls = ((b >> 5) & 3) == 0 ? 2 : ((b >> 5) & 3) == 1 ? 4 : 5;
		snprintf(dst, size, "%u.%u.%u", cls, b & 0x1f, buf[*off + 1]);
		*off += 2;
		return 0;
	}
	n = b;
	if (n > 15 || n >= size || *off + 1 + n > len)
		return -1;
	memcpy(dst, buf + *off + 1, n);
	dst[n] = '\0';
	*off += 1 + n;
	/* a string only when it would not pack: anything else is not ours */
	if (!enhanced_ok(dst, n))
		return -1;
	return 0;
}

/*
 * cache_rec_encode - one record into buf for key (klen bytes). The
 * strings of r must be bounded and printable (cache_rec_from_result).
 * Returns the length, 0 when it does not fit.
 */
size_t
cache_rec_encode(const struct rec *r, const char *key, size_t klen,
		 unsigned char *buf, size_t size)
{
	const char *addr, *dom, *p;
	size_t off, i, alen, dlen, mlen = strlen(r->mx), tlen = strlen(r->text);
	unsigned char ipb[16], flags = (unsigned char)(r->flags & 0x1f);
	if (r->type == REC_DOMAIN && (r->flags & FACT_NEEDS_TLS))
		flags |= F_FACT5;
	char text[CACHE_TEXT_MAX + 1];
	int fam = 0;
	int reason_ix;
	const char *tok;
	/* the transcript: A records other than valid (F_DIALOG is a fact bit in D records) */
	int dlg = r->type == REC_ADDR && r->verdict != VERDICT_VALID && r->dialog[0] != '\0';

	if (size < REC_MAX || tlen > CACHE_TEXT_MAX || mlen > 255)
		return 0;
	key_parts(key, klen, &addr, &alen, &dom, &dlen);
	if (r->tried > 0)
		flags |= F_TRIED;
	if (dlg)
		flags |= F_DIALOG;
	if (dom != NULL && mlen == dlen && memcmp(r->mx, dom, dlen) == 0)
		mlen = 0, flags |= F_MXREL;
	else if (dom != NULL && mlen > dlen + 1 && r->mx[mlen - dlen - 1] == '.' &&
	    memcmp(r->mx + mlen - dlen, dom, dlen) == 0)
		mlen -= dlen + 1, flags |= F_MXREL;
	/* the key's address in the text: one byte */
	for (i = 0, p = r->text; *p != '\0' && i < sizeof(text) - 1;) {
		if (r->type == REC_ADDR && addr != NULL && alen > 1 && strncmp(p, addr, alen) == 0) {
			text[i++] = TEXT_ADDR;
			p += alen;
		} else
			text[i++] = *p++;
	}
	text[i] = '\0';

	buf[0] = REC_MAGIC;
	buf[1] = REC_VERSION;
	buf[2] = (unsigned char)r->type;
	buf[3] = (unsigned char)r->verdict;
	buf[4] = flags;
	put16(buf + 5, (unsigned)r->code);
	put32(buf + 7, time32(r->created));
	off = REC_HDR;
	if (flags & F_TRIED) {
		put32(buf + off, time32(r->tried));
		off += 4;
	}
	if (r->type == REC_DOMAIN) {
		for (i = 0; i < NFACTS; i++) {
			if (r->flags & (1u << i)) {
				put32(buf + off, time32(r->fact_time[i]));
				off += 4;
			}
		}
	}
	reason_ix = cache_rec_reason_index(r->reason);
	buf[off++] = (unsigned char)reason_ix;
	if (reason_ix == REASON_LITERAL) {
		/* an unknown token read from disk goes back as it came */
		tok = r->reason == R_OTHER && r->other[0] != '\0' ? r->other : reason_str(r->reason);
		if (!token_ok(tok, strlen(tok)))
			return 0;
		off = put_str(buf, off, size, tok, strlen(tok));
	}
	if (off == 0 || (off = put_enhanced(buf, off, size, r->enhanced)) == 0 ||
	    (off = put_str(buf, off, size, text, strlen(text))) == 0 ||
	    (off = put_str(buf, off, size, r->mx, mlen)) == 0)
		return 0;
	if (r->ip[0] != '\0') {
		int af = ip_pton(r->ip, ipb);

		fam = af == AF_INET ? 4 : af == AF_INET6 ? 6 : 0;
	}
	if (off + 1 + 16 + 4 > size)
		return 0;
	buf[off++] = (unsigned char)fam;
	if (fam == 4) {
		memcpy(buf + off, ipb, 4);
		off += 4;
	} else if (fam == 6) {
		memcpy(buf + off, ipb, 16);
		off += 16;
	}
	if (dlg) {
		size_t dl = strnlen(r->dialog, sizeof(r->dialog));

		if (dl >= DIALOG_MAX || !dialog_ok(r->dialog, dl) || off + 2 + dl + 4 > size)
			return 0;
		put16(buf + off, (unsigned)dl);
		memcpy(buf + off + 2, r->dialog, dl);
		off += 2 + dl;
	}
	put32(buf + off, crc32_buf(buf, off));
	return off + 4;
}

/* read u8 length + bytes into dst (size bytes, NUL added); checks charset */
static int
get_str(const unsigned char *buf, size_t len, size_t *off, char *dst,
	size_t size, size_t max, int nospace)
{
	size_t n;

	if (*off >= len)
		return -1;
	n = buf[(*off)++];
	if (n > max || n >= size || *off + n > len)
		return -1;
	memcpy(dst, buf + *off, n);
	dst[n] = '\0';
	if (memchr(dst, '\0', n) != NULL || !printable_ok(dst, n, nospace))
		return -1;
	*off += n;
	return 0;
}

/* the stored text, with TEXT_ADDR expanded from the key's address */
static int
get_text(const unsigned char *buf, size_t len, size_t *off, struct rec *r,
	 const char *addr, size_t alen)
{
	size_t n, i, o = 0;

	if (*off >= len)
		return -1;
	n = buf[(*off)++];
	if (n > CACHE_TEXT_MAX || *off + n > len)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = buf[*off + i];

		if (ch == TEXT_ADDR && r->type == REC_ADDR && addr != NULL) {
			if (o + alen > CACHE_TEXT_MAX)
				return -1;
			memcpy(r->text + o, addr, alen);
			o += alen;
		} else if (ch >= 0x20 && ch <= 0x7e && o < CACHE_TEXT_MAX)
			r->text[o++] = (char)ch;
		else
			return -1;
	}
	r->text[o] = '\0';
	*off += n;
	return 0;
}

/*
 * decode_head - the fixed part of a record (len without the CRC):
 * magic, version, type, verdict, flags, code, times. Sets *off to the
 * reason byte. Returns 0, or -1 when any of it is out of range.
 */
static int
decode_head(const unsigned char *buf, size_t len, struct rec *r, size_t *off)
{
	unsigned fl;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (len < REC_HDR + 1 + 3 + 1 || len > REC_MAX)
		return -1;
	if (buf[0] != REC_MAGIC || buf[1] != REC_VERSION)
		return -1;
	r->type = buf[2];
	if (r->type != REC_ADDR && r->type != REC_DOMAIN)
		return -1;
	if (buf[3] >= VERDICT_COUNT || !cache_rec_storable((enum verdict)buf[3]))
		return -1;
	r->verdict = (enum verdict)buf[3];
	fl = buf[4];
	r->flags = fl & 0x1f;
	if (fl & ~(0x1fu | F_TRIED | F_MXREL | F_FACT5))
		return -1;
	if (r->type == REC_ADDR && (fl & F_DIALOG)) {
		if (r->verdict == VERDICT_VALID)
			return -1;
		r->hasdlg = 1;
		r->flags &= ~(unsigned)F_DIALOG;
	}
	if (fl & F_FACT5) {
		if (r->type != REC_DOMAIN)
			return -1;
		r->flags |= FACT_NEEDS_TLS;
	}
	if (r->type == REC_ADDR && (r->flags & ~1u) != 0)
		return -1;
	if (r->type == REC_DOMAIN && r->flags == 0)
		return -1;
	r->code = (int)get16(buf + 5);
	if (r->code != 0 && (r->code < 200 || r->code > 599))
		return -1;
	r->created = (time_t)get32(buf + 7);
	*off = REC_HDR;
	if (fl & F_TRIED) {
		if (*off + 4 > len)
			return -1;
		r->tried = (time_t)get32(buf + *off);
		*off += 4;
	}
	if (r->type == REC_DOMAIN) {
		for (i = 0; i < NFACTS; i++) {
			if (r->flags & (1u << i)) {
				if (*off + 4 > len)
					return -1;
				r->fact_time[i] = (time_t)get32(buf + *off);
				*off += 4;
			}
		}
	}
	r->mxrel = (fl & F_MXREL) != 0;
	return *off < len ? 0 : -1;
}

/*
 * cache_rec_newer - a record of a later format version than this code
 * knows (written by a newer sav-milter during an upgrade, say): a miss
 * here, but not damage, so purge and the sweep leave it alone.
 */
int
cache_rec_newer(const void *data, size_t len)
{
	const unsigned char *p = data;

	return len >= 2 && p[0] == REC_MAGIC && p[1] > REC_VERSION;
}

/*
 * cache_rec_decode_head - the header only, without the CRC and the
 * strings: enough to judge expiry cheaply (the incremental sweep). A
 * record that passes may still fail cache_rec_decode.
 */
int
cache_rec_decode_head(const unsigned char *buf, size_t len, struct rec *r)
{
	size_t off;

	return len < 4 ? -1 : decode_head(buf, len - 4, r, &off);
}

/*
 * cache_rec_decode - check and unpack one stored value of key (klen
 * bytes; the key is needed for the parts stored relative to it).
 * Returns 0, or -1 for a record that fails any check (the caller
 * treats it as a miss).
 */
int
cache_rec_decode(const unsigned char *buf, size_t len, const char *key, size_t klen,
		 struct rec *r)
{
	const char *addr, *dom;
	size_t off, alen, dlen;
	unsigned ix, fam;

	if (len < REC_HDR + 1 + 3 + 1 + 4 || len > REC_MAX ||
	    get32(buf + len - 4) != crc32_buf(buf, len - 4) ||
	    decode_head(buf, len - 4, r, &off) != 0)
		return -1;
	len -= 4;
	key_parts(key, klen, &addr, &alen, &dom, &dlen);
	ix = buf[off++];
	if (ix == REASON_LITERAL) {
		/*
		 * A token of the name table, or one this build does not
		 * know (another version's): R_OTHER, the token kept, the
		 * record's verdict used as stored, never re-judged.
		 */
		if (get_str(buf, len, &off, r->other, sizeof(r->other), 31, 1) != 0 ||
		    !token_ok(r->other, strlen(r->other)))
			return -1;
		if (reason_parse(r->other, &r->reason) != 0)
			r->reason = R_OTHER;
		else if (r->reason != R_OTHER)
			r->other[0] = '\0';
	} else if (ix < NREASONS)
		r->reason = disk_reasons[ix];
	else
		return -1;
	if (get_enhanced(buf, len, &off, r->enhanced, sizeof(r->enhanced)) != 0)
		return -1;
	if (get_text(buf, len, &off, r, addr, alen) != 0)
		return -1;
	if (get_str(buf, len, &off, r->mx, sizeof(r->mx), 255, 1) != 0)
		return -1;
	if (r->mxrel) {
		size_t ml = strlen(r->mx);

		if (dom == NULL || ml + (ml > 0) + dlen > 255)
			return -1;
		if (ml > 0)
			r->mx[ml++] = '.';
		memcpy(r->mx + ml, dom, dlen);
		r->mx[ml + dlen] = '\0';
		if (!printable_ok(r->mx, ml + dlen, 1))
			return -1;
	}
	if (off >= len)
		return -1;
	fam = buf[off++];
	if (fam == 4 || fam == 6) {
		size_t n = fam == 4 ? 4 : 16;

		if (off + n > len ||
		    ip_ntop(fam == 4 ? AF_INET : AF_INET6, buf + off, r->ip, sizeof(r->ip)) < 0)
			return -1;
		off += n;
	} else if (fam != 0)
		return -1;
	if (r->hasdlg) {
		size_t dl;

		if (off + 2 > len)
			return -1;
		dl = get16(buf + off);
		off += 2;
		if (dl == 0 || dl >= sizeof(r->dialog) || off + dl > len ||
		    !dialog_ok((const char *)buf + off, dl))
			return -1;
		memcpy(r->dialog, buf + off, dl);
		r->dialog[dl] = '\0';
		off += dl;
	}
	if (off != len)
		return -1;
	return 0;
}

/* rec_from_result - bound and sanitise everything that goes to disk */
void
cache_rec_from_result(struct rec *r, int type, const struct probe_result *pr, time_t t)
{
	size_t n;

	memset(r, 0, sizeof(*r));
	r->type = type;
	r->verdict = pr->verdict;
	r->created = t;
	if (type == REC_ADDR)
		r->flags = pr->catch_all ? 1 : 0;
	/* a value outside the table is stored as the empty reason */
	r->reason = (unsigned)pr->reason < R_COUNT ? pr->reason : R_NONE;
	r->code = pr->code >= 200 && pr->code <= 599 ? pr->code : 0;
	n = strnlen(pr->enhanced, sizeof(pr->enhanced));
	if (enhanced_ok(pr->enhanced, n))
		memcpy(r->enhanced, pr->enhanced, n);
	util_sanitize(r->text, sizeof(r->text), pr->text, strnlen(pr->text, sizeof(pr->text)));
	util_sanitize(r->mx, sizeof(r->mx), pr->mx, strnlen(pr->mx, sizeof(pr->mx)));
	for (n = 0; r->mx[n] != '\0'; n++)
		if (r->mx[n] == ' ')
			r->mx[n] = '?';
	n = strnlen(pr->ip, sizeof(pr->ip));
	if (n < sizeof(r->ip))
		memcpy(r->ip, pr->ip, n);	/* encode keeps it only if it parses */
	n = strnlen(pr->dialog, sizeof(pr->dialog));
	if (type == REC_ADDR && n < sizeof(r->dialog) && dialog_ok(pr->dialog, n))
		memcpy(r->dialog, pr->dialog, n);
}

void
cache_rec_to_result(struct probe_result *out, const struct rec *r, const char *key, size_t klen)
{
	memset(out, 0, sizeof(*out));
	if (klen > 2)
		util_sanitize(out->address, sizeof(out->address), key + 2, klen - 2);
	out->verdict = r->verdict;
	out->reason = r->reason;
	out->code = r->code;
	memcpy(out->enhanced, r->enhanced, sizeof(out->enhanced));
	util_strlcpy(out->text, r->text, sizeof(out->text));
	util_strlcpy(out->mx, r->mx, sizeof(out->mx));
	util_strlcpy(out->ip, r->ip, sizeof(out->ip));
	util_strlcpy(out->dialog, r->dialog, sizeof(out->dialog));
	out->catch_all = r->type == REC_ADDR ? (r->flags & 1) != 0 : (r->flags & FACT_CATCH_ALL) != 0;
	out->cached = 1;
}

/* the record type a key calls for: 'A', 'D', or 0 for a key that is neither */
int
cache_rec_key_type(const MDB_val *k)
{
	if (k->mv_size > 2 && memcmp(k->mv_data, "a:", 2) == 0)
		return REC_ADDR;
	if (k->mv_size > 2 && memcmp(k->mv_data, "d:", 2) == 0)
		return REC_DOMAIN;
	return 0;
}

/* cache_rec_created - created time of a raw record (0 when too short), for eviction */
uint32_t
cache_rec_created(const void *data, size_t len)
{
	return len >= REC_HDR ? get32((const unsigned char *)data + 7) : 0;
}

const char *
cache_fact_str(unsigned fact)
{
	int i;

	for (i = 0; i < NFACTS; i++)
		if (fact == 1u << i)
			return fact_names[i];
	return "?";
}

