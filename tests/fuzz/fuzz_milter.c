/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_milter - sav-milter's libmilter callbacks (milter/handlers.c)
 * fed arbitrary argv and macros, without an MTA.
 *
 * libmilter is not linked: the smfi_* functions the handlers call are
 * defined here over a context laid out as libmilter 8.14+ lays out its
 * own (the macro lists and buffers, then the reply, then the private
 * data), and smfi_getsymval walks the lists the way libmilter does,
 * two entries at a time with no bound, so a list the milter failed to
 * check before the lookup shows up as an ASan report here as it
 * crashes the real one. limit_verdict_parsed() is replaced too: the
 * input says what the probe "found" (verdict, reason, code, enhanced
 * code, the remote server's text, MX, IP), so decide_reply and the log
 * line see hostile remote text without any network.
 *
 * Input: segments separated by "\xfe\xfe": 0 flags (monitor mode,
 * RejectDetail, SkipAuthenticated, client family, LogSkipped), 1 the
 * MAIL FROM argument, 2 the macro packet of the MAIL stage as
 * libmilter stores it (strings separated by NUL, any number of them),
 * 3 the probe result (verdict, reason, code as two bytes, then
 * enhanced, text, mx, ip separated by NUL), 4... header names for the
 * header callback (monitor mode).
 *
 * Oracles: the reply handed to smfi_setreply has a 4xx/5xx code, an
 * enhanced code of the same class, printable text with every '%'
 * doubled; the monitor header is printable, without CR or LF; every
 * log line is one printable line; a reject only for the verdicts that
 * may reject (invalid, bad-domain, bad-syntax, or a configured Action).
 */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <libmilter/mfapi.h>

#include "ctx.h"
#include "fakenet.h"
#include "handlers.h"
#include "limit.h"
#include "log.h"

#define STAGES	7
#define SEP	"\xfe\xfe"

/* libmilter 8.14+'s context: what macro.c relies on, nothing more */
struct smfi_str {
	void	*before[8];			/* thread, socket, state, flags, ... */
	char	**mac_ptr[STAGES];
	char	*mac_buf[STAGES];
	char	*mac_list[STAGES];
	char	*reply;
	void	*priv;
	void	*after[4];
};

static struct {
	int	replied;
	char	code[8], enh[32], text[1024];
	int	added;
	char	header[512];
	const struct fakenet *in;
	int	result_set;
} st;

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_milter: oracle: %s: [%s]\n", what, s);
	abort();
}

static void
printable(const char *s, const char *what)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			die(what, s);
}

char *
smfi_getsymval(SMFICTX *ctx, char *name)
{
	int i;
	char **s;

	/* as libmilter: newest stage first, name/value pairs, no bound */
	for (i = STAGES - 1; i >= 0; i--) {
		if ((s = ctx->mac_ptr[i]) == NULL || ctx->mac_buf[i] == NULL)
			continue;
		for (; *s != NULL; s += 2)
			if (strcmp(*s, name) == 0)
				return s[1];
	}
	return NULL;
}

int
smfi_setpriv(SMFICTX *ctx, void *p)
{
	ctx->priv = p;
	return MI_SUCCESS;
}

void *
smfi_getpriv(SMFICTX *ctx)
{
	return ctx->priv;
}

int
smfi_setreply(SMFICTX *ctx, char *code, char *enh, char *text)
{
	size_t i;

	(void)ctx;
	st.replied = 1;
	if (code == NULL || strlen(code) != 3 || (code[0] != '4' && code[0] != '5'))
		die("reply code", code != NULL ? code : "(null)");
	if (enh == NULL || enh[0] != code[0])
		die("enhanced code of another class", enh != NULL ? enh : "(null)");
	printable(enh, "enhanced code");
	if (text != NULL) {
		printable(text, "reply text");
		for (i = 0; text[i]; i++)
			if (text[i] == '%') {
				if (text[i + 1] != '%')
					die("a single '%' in the reply text", text);
				i++;
			}
	}
	snprintf(st.code, sizeof(st.code), "%s", code);
	return MI_SUCCESS;
}

int
smfi_setsymlist(SMFICTX *ctx, int stage, char *list)
{
	(void)ctx; (void)stage; (void)list;
	return MI_SUCCESS;
}

int
smfi_addheader(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	printable(name, "header name");
	printable(value, "header value");
	st.added++;
	return MI_SUCCESS;
}

int
smfi_chgheader(SMFICTX *ctx, char *name, int idx, char *value)
{
	(void)ctx; (void)idx;
	printable(name, "header name");
	if (value != NULL)
		printable(value, "header value");
	return MI_SUCCESS;
}

/* cstr - the idx-th NUL-separated string of seg into buf */
static const char *
cstr(const struct fakenet_seg *seg, int idx, char *buf, size_t size)
{
	size_t i = 0, n;
	int k = 0;

	while (k < idx && i < seg->len) {
		if (seg->p[i] == '\0')
			k++;
		i++;
	}
	for (n = 0; i + n < seg->len && seg->p[i + n] != '\0' && n + 1 < size; n++)
		buf[n] = (char)seg->p[i + n];
	buf[n] = '\0';
	return buf;
}

void
limit_verdict_parsed(struct limiter *l, const struct probe_conf *pc,
		     const struct sockaddr *client, const struct addr *a,
		     msec_t budget_ms, struct probe_result *res)
{
	static const struct fakenet_seg none;
	const struct fakenet_seg *s = st.in->nseg > 3 ? &st.in->seg[3] : &none;
	char b[1024];

	(void)l; (void)pc; (void)client; (void)a; (void)budget_ms;
	st.result_set = 1;
	res->verdict = s->len > 0 ? (enum verdict)(s->p[0] % VERDICT_COUNT) : VERDICT_UNKNOWN;
	res->reason = s->len > 1 ? (enum reason)(s->p[1] % R_COUNT) : R_NONE;
	res->code = s->len > 3 ? s->p[2] | s->p[3] << 8 : 0;
	/* what the probe passes on is bounded; its text may hold anything printable or not */
	snprintf(res->enhanced, sizeof(res->enhanced), "%s", cstr(s, 1, b, sizeof(b)));
	snprintf(res->text, sizeof(res->text), "%s", cstr(s, 2, b, sizeof(b)));
	snprintf(res->mx, sizeof(res->mx), "%s", cstr(s, 3, b, sizeof(b)));
	snprintf(res->ip, sizeof(res->ip), "%s", cstr(s, 4, b, sizeof(b)));
	if (s->len > 0 && s->p[0] & 0x80)
		res->catch_all = 1;
}

static void
log_hook(int prio, const char *line, void *arg)
{
	(void)prio; (void)arg;
	printable(line, "log line");
}

/* macros - build libmilter's list for the MAIL stage from seg */
static char **
macros(const struct fakenet_seg *seg, char **bufp)
{
	char *buf, **list;
	size_t i, n = 0, k = 0;

	*bufp = NULL;
	if (seg->len == 0)
		return NULL;
	/* the stored packet: the stage letter, then the strings */
	if ((buf = malloc(seg->len + 2)) == NULL)
		return NULL;
	buf[0] = 'M';
	memcpy(buf + 1, seg->p, seg->len);
	buf[seg->len + 1] = '\0';
	for (i = 0; i < seg->len; i++)
		n += seg->p[i] == '\0';
	if (n == 0) {
		free(buf);
		return NULL;
	}
	/* as libmilter: one slot per NUL, the last overwritten by the terminator */
	if ((list = malloc((n + 1) * sizeof(*list))) == NULL) {
		free(buf);
		return NULL;
	}
	list[0] = buf + 1;
	for (i = 0; i < seg->len && k < n; i++)
		if (seg->p[i] == '\0') {
			k++;
			list[k] = i + 1 >= seg->len ? NULL : buf + 1 + i + 1;
		}
	list[k] = NULL;
	*bufp = buf;
	return list;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_open("sav-milter", LOG_MAIL, 0, 0);
	log_set_hook(log_hook, NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fakenet in;
	struct smfiDesc *d = handlers_desc();
	struct smfi_str ctx;
	struct snap *snap;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	unsigned long f0, f1, f2, f3;
	char *argv[3], *sender, *mbuf = NULL, *hname;
	unsigned flags;
	int i;

	if (size > 8192)
		return 0;
	fakenet_split(&in, data, size, SEP);
	st.in = &in;
	st.replied = st.added = st.result_set = 0;
	flags = in.seg[0].len > 0 ? in.seg[0].p[0] : 0;

	if ((snap = snap_new()) == NULL)
		return 0;
	conf_defaults(&snap->conf);
	snap->conf.monitor = (flags & 1) != 0;
	snap->conf.reject_detail = (flags & 2) != 0;
	snap->conf.skip_auth = (flags & 4) == 0;
	snap->conf.log_skipped = (flags & 32) != 0;
	snap_install(snap);
	milter.limiter = (struct limiter *)&in;	/* never dereferenced: limit_verdict_parsed is ours */

	memset(&ctx, 0, sizeof(ctx));
	ctx.before[0] = &ctx;
	d->xxfi_negotiate(&ctx, SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST, 0x1fffff, 0, 0,
	    &f0, &f1, &f2, &f3);
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0xc0000209);	/* 192.0.2.9 */
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::9", &sin6.sin6_addr);
	switch ((flags >> 3) & 3) {
	case 0:
		d->xxfi_connect(&ctx, "client.test", (_SOCK_ADDR *)&sin);
		break;
	case 1:
		d->xxfi_connect(&ctx, "client.test", (_SOCK_ADDR *)&sin6);
		break;
	case 2:
		d->xxfi_connect(&ctx, "localhost", NULL);
		break;
	default:
		break;	/* MAIL without connect: a broken MTA */
	}
	ctx.mac_ptr[2] = in.nseg > 2 ? macros(&in.seg[2], &mbuf) : NULL;
	ctx.mac_buf[2] = mbuf;

	sender = NULL;
	if (in.nseg > 1 && (sender = malloc(in.seg[1].len + 1)) != NULL) {
		memcpy(sender, in.seg[1].p, in.seg[1].len);
		sender[in.seg[1].len] = '\0';
	}
	argv[0] = sender;
	argv[1] = NULL;
	d->xxfi_envfrom(&ctx, argv);
	for (i = 4; i < in.nseg && i < 40; i++) {
		if ((hname = malloc(in.seg[i].len + 1)) == NULL)
			break;
		memcpy(hname, in.seg[i].p, in.seg[i].len);
		hname[in.seg[i].len] = '\0';
		d->xxfi_header(&ctx, hname, "value");
		free(hname);
	}
	d->xxfi_eom(&ctx);
	d->xxfi_abort(&ctx);
	d->xxfi_close(&ctx);
	if (ctx.priv != NULL)
		die("private data left after close", "");

	free(sender);
	free(ctx.mac_ptr[2]);
	free(mbuf);
	return 0;
}
