/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conf - the configuration file: one table of keys (name, type,
 * default, where it goes), "Key value" lines, '#' comments. Every
 * problem is reported as "file:line: Key: what is wrong" and loading
 * stops at the first one, so a daemon never starts (or reloads) with a
 * half-understood configuration.
 *
 * Memory: struct conf owns exempt[] (heap); conf_free releases it.
 * Thread rules: a loaded conf is immutable; share it read-only.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "sa.h"

enum ctype {
	CT_STRING,	/* char[]: any text that fits */
	CT_PATH,	/* char[]: "" or an absolute path */
	CT_SOCKET,	/* char[]: "" or unix:/path, local:, inet:port@host, inet6:port@host */
	CT_BOOL,	/* int: yes/no */
	CT_SECONDS,	/* long: a duration, in seconds */
	CT_MS,		/* msec_t: a duration of min..max seconds, kept in milliseconds */
	CT_MS_INT,	/* int: the same */
	CT_MSEC,	/* msec_t: "250ms" or a duration, min..max milliseconds */
	CT_INT,		/* int: min..max */
	CT_OCTAL,	/* int: a file mode, min..max */
	CT_SIZE,	/* size_t: bytes (k, M, G), at least min */
	CT_WORD,	/* int or enum: one of the row's words, stored as its value */
	CT_SPECIAL,	/* set() parses and stores it */
};

#define KF_REPEAT	1	/* may appear more than once; the file's first line replaces the default */
#define KF_EMPTY	2	/* an empty value is allowed */
#define KF_RESTART	4	/* restart-only: a reload keeps the running value and warns */

/* a word a CT_WORD key takes, and what it stores */
struct word {
	const char *word;
	int	value;
};

struct key;
typedef int key_set(struct conf *, const struct key *, const char *, char *, size_t);

struct key {
	const char *name;
	enum ctype type;
	const char *def;	/* default as text, applied by conf_defaults; NULL: none */
	size_t	off, size;	/* its field in struct conf (also what a reload compares); 0, 0: none */
	long	min, max;	/* CT_INT, CT_MS, CT_MS_INT, CT_OCTAL, CT_SIZE: bounds */
	const char *want;	/* CT_INT: the whole "want ..." text, when the generic one does not fit */
	const struct word *words;	/* CT_WORD: the words it takes, { NULL } last */
	key_set	*set;		/* CT_SPECIAL: parses and stores the value; NULL value: clear (KF_REPEAT) */
	unsigned flags;		/* KF_* */
};

/* AT(field) - where a key goes: its offset and size in struct conf */
#define AT(f)	.off = offsetof(struct conf, f), .size = sizeof(((struct conf *)0)->f)
#define NUM_MAX	100000	/* the largest number any CT_INT key takes */

static key_set set_resolver, set_helo, set_sender, set_header, set_nets, set_exempt, set_facility;
static key_set set_shared, set_prefix;

static const struct word methods[] = {
	{ "rcpt", SMTP_METHOD_RCPT }, { "vrfy", SMTP_METHOD_VRFY }, { NULL, 0 }
};
/* which ended probes stay counted against their client */
static const struct word client_counts[] = {
	{ "failures", LIMIT_COUNT_FAILURES }, { "all", LIMIT_COUNT_ALL }, { NULL, 0 }
};
static const struct word probe_whens[] = {
	{ "always", PROBE_WHEN_ALWAYS }, { "spf-not-pass", PROBE_WHEN_SPF_NOT_PASS }, { NULL, 0 }
};
static const struct word tls_modes[] = {
	{ "may", SMTP_TLS_MAY }, { "never", SMTP_TLS_NEVER }, { NULL, 0 }
};
static const struct word modes[] = { { "enforce", 0 }, { "monitor", 1 }, { NULL, 0 } };
static const struct word actions[] = {
	{ "accept", ACTION_ACCEPT }, { "tempfail", ACTION_TEMPFAIL }, { "reject", ACTION_REJECT }, { NULL, 0 }
};

/*
 * The table: one row per key, with its type, default, place, bounds and
 * flags; loading, defaults and the reload warning all read it.
 * etc/sav-milter.conf and doc/sav-milter.conf.5 mirror it (manlint.sh
 * reads the name and the default from each row, so a row stays on one
 * line with the name and the default as its first two strings).
 */
static const struct key keys[] = {
	{ "Socket",		CT_SOCKET,	"unix:/run/sav-milter/sav-milter.sock", AT(socket), .flags = KF_RESTART },
	{ "SocketMode",		CT_OCTAL,	"0660", AT(socket_mode), .min = 0, .max = 0777, .flags = KF_RESTART },
	{ "SocketGroup",	CT_STRING,	"", AT(socket_group), .flags = KF_EMPTY | KF_RESTART },
	{ "UserID",		CT_STRING,	"", AT(user), .flags = KF_EMPTY | KF_RESTART },
	{ "PidFile",		CT_PATH,	"", AT(pidfile), .flags = KF_EMPTY | KF_RESTART },
	{ "CacheFile",		CT_PATH,	"/var/lib/sav-milter/cache.mdb", AT(cachefile), .flags = KF_EMPTY | KF_RESTART },
	{ "CacheSize",		CT_SIZE,	"512M", AT(cache_size), .min = 1 << 20, .flags = KF_RESTART },
	{ "CacheTTL.valid",	CT_SECONDS,	"30d", AT(ttl.valid) },
	{ "CacheTTL.refresh",	CT_SECONDS,	"7d", AT(ttl.refresh) },
	{ "CacheTTL.invalid",	CT_SECONDS,	"3h", AT(ttl.invalid) },
	{ "CacheTTL.tempfail",	CT_SECONDS,	"5m", AT(ttl.tempfail) },
	{ "CacheTTL.domain",	CT_SECONDS,	"1d", AT(ttl.domain) },
	{ "CacheTTL.unknown",	CT_SECONDS,	"1h", AT(ttl.unknown) },
	{ "CacheTTL.spf-pass",	CT_SECONDS,	"10m", AT(spf_pass_ttl) },
	{ "Resolver",		CT_SPECIAL,	NULL, AT(probe.dns.server), .set = set_resolver, .flags = KF_REPEAT },
	{ "DNSTimeout",		CT_MS_INT,	"3s", AT(probe.dns.timeout_ms), .min = 1, .max = 3600 },
	{ "ProbePort",		CT_INT,		"25", AT(probe.port), .min = 1, .max = 65535, .want = "a port 1-65535" },
	{ "AllowPrivateTargets", CT_BOOL,	"no", AT(probe.allow_private) },
	{ "HeloName",		CT_SPECIAL,	NULL, AT(probe.helo), .set = set_helo },
	{ "ProbeSender",	CT_SPECIAL,	NULL, AT(probe.sender), .set = set_sender },
	{ "RetrySender",	CT_SPECIAL,	NULL, AT(probe.retry_sender), .set = set_sender },
	{ "StrictNullSender",	CT_BOOL,	"no", AT(probe.strict_null) },
	{ "ProbeMethod",	CT_WORD,	"rcpt", AT(probe.method), .words = methods },
	{ "ProbeTLS",		CT_WORD,	"may", AT(probe.tls), .words = tls_modes },
	{ "CatchAllCheck",	CT_BOOL,	"yes", AT(probe.catchall_check) },
	{ "MaxTargets",		CT_INT,		"5", AT(probe.max_targets), .min = 1, .max = 50 },
	{ "MaxSessions",	CT_INT,		"2", AT(probe.max_sessions), .min = 1, .max = 50 },
	{ "ProbeWhen",		CT_WORD,	"always", AT(probe_when), .words = probe_whens },
	{ "SPFTimeout",		CT_MS,		"4s", AT(spf_timeout_ms), .min = 1, .max = 3600 },
	{ "ProbeWait",		CT_MS,		"8s", AT(probe_wait_ms), .min = 1, .max = 3600 },
	{ "ProbeTimeout",	CT_MS,		"60s", AT(probe.timeout_ms), .min = 1, .max = 3600 },
	{ "ConnectTimeout",	CT_MS,		"10s", AT(probe.connect_ms), .min = 1, .max = 3600 },
	{ "GreetingTimeout",	CT_MS,		"20s", AT(probe.greeting_ms), .min = 1, .max = 3600 },
	{ "CommandTimeout",	CT_MS,		"20s", AT(probe.command_ms), .min = 1, .max = 3600 },
	{ "MaxProbes",		CT_INT,		"100", AT(limits.max_probes), .min = 1, .max = NUM_MAX, .flags = KF_RESTART },
	{ "DomainConcurrency",	CT_INT,		"2", AT(limits.per_domain), .min = 1, .max = NUM_MAX, .flags = KF_RESTART },
	{ "MXConcurrency",	CT_INT,		"10", AT(limits.per_mx), .min = 1, .max = NUM_MAX, .flags = KF_RESTART },
	/* the limiter keeps a ring of MXRate times per MX address */
	{ "MXRate",		CT_INT,		"60", AT(limits.mx_rate), .min = 1, .max = 1000, .flags = KF_RESTART },
	/* 0 switches the per-client limit off */
	{ "ClientProbeRate",	CT_INT,		"60", AT(limits.client_rate), .min = 0, .max = NUM_MAX, .want = "a number from 0 (off) to 100000", .flags = KF_RESTART },
	{ "ClientProbeRateCounts", CT_WORD,	"failures", AT(limits.client_counts), .words = client_counts, .flags = KF_RESTART },
	{ "Mode",		CT_WORD,	"enforce", AT(monitor), .words = modes },
	{ "MonitorHeader",	CT_SPECIAL,	"X-SAV-Verdict", AT(header), .set = set_header },
	{ "TrustedNetworks",	CT_SPECIAL,	"127.0.0.0/8, ::1/128", AT(nets), .set = set_nets, .flags = KF_EMPTY },
	{ "SkipAuthenticated",	CT_BOOL,	"yes", AT(skip_auth) },
	{ "ExemptDomains",	CT_SPECIAL,	"", .set = set_exempt, .flags = KF_EMPTY },
	{ "Action.valid",	CT_WORD,	"accept", AT(action[VERDICT_VALID]), .words = actions },
	{ "Action.invalid",	CT_WORD,	"reject", AT(action[VERDICT_INVALID]), .words = actions },
	{ "Action.bad-domain",	CT_WORD,	"reject", AT(action[VERDICT_BAD_DOMAIN]), .words = actions },
	{ "Action.bad-syntax",	CT_WORD,	"reject", AT(action[VERDICT_BAD_SYNTAX]), .words = actions },
	{ "Action.catch-all",	CT_WORD,	"accept", AT(action[VERDICT_CATCH_ALL]), .words = actions },
	{ "Action.unknown",	CT_WORD,	"accept", AT(action[VERDICT_UNKNOWN]), .words = actions },
	{ "Action.tempfail",	CT_WORD,	"tempfail", AT(action[VERDICT_TEMPFAIL]), .words = actions },
	{ "Action.error",	CT_WORD,	"tempfail", AT(action[VERDICT_ERROR]), .words = actions },
	{ "RejectDetail",	CT_BOOL,	"no", AT(reject_detail) },
	{ "SyslogFacility",	CT_SPECIAL,	"mail", AT(facility), .set = set_facility, .flags = KF_RESTART },
	{ "LogSkipped",		CT_BOOL,	"yes", AT(log_skipped) },
	{ "SharedCache",	CT_SPECIAL,	"", AT(shared.url), .set = set_shared, .flags = KF_EMPTY | KF_RESTART },
	{ "SharedCacheUser",	CT_STRING,	"", AT(shared.user), .flags = KF_EMPTY | KF_RESTART },
	{ "SharedCachePasswordFile", CT_PATH,	"", AT(shared.passfile), .flags = KF_EMPTY | KF_RESTART },
	{ "SharedCacheTimeout",	CT_MSEC,	"250ms", AT(shared.timeout_ms), .min = 10, .max = 10000, .flags = KF_RESTART },
	{ "SharedCachePrefix",	CT_SPECIAL,	"sav:", AT(shared.prefix), .set = set_prefix, .flags = KF_RESTART },
	{ NULL, 0, NULL, .flags = 0 }
};

static const struct {
	const char *name;
	int	facility;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }, { NULL, 0 }
};

const char *
action_str(enum action a)
{
	const struct word *w;

	for (w = actions; w->word != NULL; w++)
		if (w->value == (int)a)
			return w->word;
	return "?";
}

static const struct key *
find_key(const char *name)
{
	const struct key *k;

	for (k = keys; k->name != NULL; k++)
		if (strcasecmp(k->name, name) == 0)
			return k;
	return NULL;
}

static int fail(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int
parse_int(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int
parse_size(const char *v, size_t *out)
{
	char *end;
	unsigned long long n, mul = 1;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	default: return -1;
	}
	if (*end != '\0' || n == 0 || n > (1ULL << 40) / mul)
		return -1;
	*out = (size_t)(n * mul);
	return 0;
}

/* is_hostname - LDH labels with dots, or an address literal; no CR/LF */
static int
is_hostname(const char *s)
{
	size_t len = strlen(s), lab = 0;
	const char *p;

	if (len == 0 || len > 255)
		return 0;
	if (s[0] == '[')
		return s[len - 1] == ']' && strspn(s + 1, "0123456789abcdefABCDEF.:Pv6I") == len - 2;
	for (p = s; *p; p++) {
		if (*p == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-') {
			if (++lab > 63)
				return 0;
		} else
			return 0;
	}
	return lab > 0 || s[len - 1] == '.';
}

static int
parse_net(const char *item, struct conf_net *n)
{
	char buf[128], *slash;
	long prefix;
	int max;

	if (util_strlcpy(buf, item, sizeof(buf)) >= sizeof(buf))
		return -1;
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if ((n->family = ip_pton(buf, n->addr)) == 0)
		return -1;
	max = n->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		prefix = max;
	else if (parse_int(slash, 0, max, &prefix) < 0)
		return -1;
	n->prefix = (int)prefix;
	return 0;
}

/*
 * for_each_item - split a list value on commas and white space; a value
 * starting with '/' names a file with one item per line ('#' comments).
 */
static int
for_each_item(const char *value, int (*fn)(struct conf *, const char *, char *, size_t),
	      struct conf *c, char *err, size_t errlen)
{
	char line[1024], *tok, *save;
	FILE *fp;
	int lineno = 0;

	if (value[0] == '/') {
		if ((fp = fopen(value, "r")) == NULL) {
			snprintf(err, errlen, "cannot open %s: %s", value, strerror(errno));
			return -1;
		}
		while (fgets(line, sizeof(line), fp) != NULL) {
			char *hash = strchr(line, '#');

			lineno++;
			if (hash)
				*hash = '\0';
			for (tok = strtok_r(line, ", \t\r\n", &save); tok != NULL;
			     tok = strtok_r(NULL, ", \t\r\n", &save)) {
				if (fn(c, tok, err, errlen) < 0) {
					char why[256];

					util_strlcpy(why, err, sizeof(why));
					snprintf(err, errlen, "%s line %d: %s", value, lineno, why);
					fclose(fp);
					return -1;
				}
			}
		}
		fclose(fp);
		return 0;
	}
	if (util_strlcpy(line, value, sizeof(line)) >= sizeof(line))
		return fail(err, errlen, "%s", "list too long (use a file)");
	for (tok = strtok_r(line, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save))
		if (fn(c, tok, err, errlen) < 0)
			return -1;
	return 0;
}

static int
add_net(struct conf *c, const char *item, char *err, size_t errlen)
{
	if (c->nnets >= CONF_NETS_MAX)
		return fail(err, errlen, "more than %d networks", CONF_NETS_MAX);
	if (parse_net(item, &c->nets[c->nnets]) < 0)
		return fail(err, errlen, "not an address or CIDR network: %s", item);
	c->nnets++;
	return 0;
}

static int
add_exempt(struct conf *c, const char *item, char *err, size_t errlen)
{
	char tmp[300], norm[300], **v;
	struct addr a;
	const char *dom = item, *why = NULL;
	int wild = 0;

	if (strncmp(dom, "*.", 2) == 0) {
		dom += 2;
		wild = 1;
	} else if (dom[0] == '.') {
		dom += 1;
		wild = 1;
	}
	/* normalise (case, trailing dot, IDNA) through the address parser */
	snprintf(tmp, sizeof(tmp), "x@%s", dom);
	if (addr_parse(tmp, strlen(tmp), &a, &why) != ADDR_OK)
		return fail(err, errlen, "not a domain: %s", item);
	snprintf(norm, sizeof(norm), "%s%s", wild ? "*." : "", a.domain);
	v = realloc(c->exempt, (size_t)(c->nexempt + 1) * sizeof(*v));
	if (v == NULL)
		return fail(err, errlen, "%s", "out of memory");
	c->exempt = v;
	if ((c->exempt[c->nexempt] = strdup(norm)) == NULL)
		return fail(err, errlen, "%s", "out of memory");
	c->nexempt++;
	return 0;
}

/* FIELD(c, k, type) - the place of key k in c */
#define FIELD(c, k, type)	((type *)(void *)((char *)(c) + (k)->off))

static int
set_resolver(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	if (v == NULL) {
		c->probe.dns.nservers = 0;
		return 0;
	}
	return dns_conf_add_server(&c->probe.dns, v, err, errlen);
}

static int
set_helo(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	if (!is_hostname(v))
		return fail(err, errlen, "not a host name: %s", v);
	util_strlcpy(FIELD(c, k, char), v, k->size);
	return 0;
}

/* ProbeSender, RetrySender: RetrySender <> is "no retry": MAIL FROM:<> was what got refused */
static int
set_sender(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char *dst = FIELD(c, k, char);
	struct addr a, *parsed = dst == c->probe.sender ? &c->sender_addr : &c->retry_addr;
	const char *why = NULL;

	switch (addr_parse(v, strlen(v), &a, &why)) {
	case ADDR_NULL:
		dst[0] = '\0';
		memset(parsed, 0, sizeof(*parsed));
		return 0;
	case ADDR_OK:
		if (addr_format(&a, dst, k->size) < 0)
			return fail(err, errlen, "%s", "address too long");
		/* kept parsed: the milter compares every sender with it */
		*parsed = a;
		return 0;
	default:
		return fail(err, errlen, "not a usable address (%s)", why ? why : "syntax");
	}
}

static int
set_header(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	const char *p;

	if (*v == '\0' || strlen(v) >= k->size)
		return fail(err, errlen, "bad header name: %s", v);
	for (p = v; *p; p++)
		if (*p <= 32 || *p >= 127 || *p == ':')
			return fail(err, errlen, "bad header name: %s", v);
	util_strlcpy(FIELD(c, k, char), v, k->size);
	return 0;
}

static int
set_nets(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	c->nnets = 0;
	return for_each_item(v, add_net, c, err, errlen);
}

static int
set_exempt(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < c->nexempt; i++)
		free(c->exempt[i]);
	c->nexempt = 0;
	return for_each_item(v, add_exempt, c, err, errlen);
}

static int
set_facility(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	int i;

	for (i = 0; facilities[i].name; i++)
		if (!strcasecmp(facilities[i].name, v)) {
			*FIELD(c, k, int) = facilities[i].facility;
			return 0;
		}
	return fail(err, errlen, "unknown syslog facility: %s", v);
}

/* SharedCache: redis://HOST[:PORT][/DB], unix:/PATH or "" (no sharing) */
static int
set_shared(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char why[128];

	if (*v != '\0' && rconn_url_check(v, why, sizeof(why)) < 0)
		return fail(err, errlen, "%s, not %s", why, v);
	if (util_strlcpy(FIELD(c, k, char), v, k->size) >= k->size)
		return fail(err, errlen, "%s", "value too long");
	return 0;
}

/* SharedCachePrefix: it starts every key, so no space, CR, LF or other control byte */
static int
set_prefix(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	if (rconn_prefix_check(v) < 0)
		return fail(err, errlen, "want 1-%d printable characters without space, not %s",
		    RCONN_PREFIX_MAX, v);
	util_strlcpy(FIELD(c, k, char), v, k->size);
	return 0;
}

/* parse_msec - "250ms", or a duration in seconds ("1", "2s"), as milliseconds; -1 on error */
static long
parse_msec(const char *v)
{
	size_t len = strlen(v);
	char num[24];
	long n;

	if (len > 2 && strcmp(v + len - 2, "ms") == 0) {
		if (len - 2 >= sizeof(num))
			return -1;
		memcpy(num, v, len - 2);
		num[len - 2] = '\0';
		if (parse_int(num, 0, 3600L * 1000, &n) < 0)
			return -1;
		return n;
	}
	if ((n = util_parse_duration(v)) < 0 || n > 3600)
		return -1;
	return n * 1000;
}

/* set_word - a CT_WORD value: "want a, b or c, not v" when it is none of the row's words */
static int
set_word(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	const struct word *w;
	size_t n = 0, len;

	for (w = k->words; w->word != NULL; w++)
		if (!strcasecmp(v, w->word)) {
			*FIELD(c, k, int) = w->value;
			return 0;
		}
	len = (size_t)snprintf(err, errlen, "want");
	for (w = k->words; w->word != NULL; w++, n++)
		if (len < errlen)
			len += (size_t)snprintf(err + len, errlen - len, "%s%s",
			    n == 0 ? " " : w[1].word == NULL ? " or " : ", ", w->word);
	if (len < errlen)
		snprintf(err + len, errlen - len, ", not %s", v);
	return -1;
}

/* dur_text - seconds as the shortest duration word: 1s, 5m, 1h, 2d */
static void
dur_text(char *buf, size_t size, long s)
{
	if (s > 0 && s % 86400 == 0)
		snprintf(buf, size, "%ldd", s / 86400);
	else if (s > 0 && s % 3600 == 0)
		snprintf(buf, size, "%ldh", s / 3600);
	else if (s > 0 && s % 60 == 0)
		snprintf(buf, size, "%ldm", s / 60);
	else
		snprintf(buf, size, "%lds", s);
}

/* apply - the typed value of one key into its place in struct conf */
static int
apply(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char lo[24], hi[24];
	const char *p;
	long num, secs;
	int b;

	/* the same refusal for a file line and a command-line setting (conf_set) */
	for (p = v != NULL ? v : ""; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(err, errlen, "%s", "control character in value");
	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_SOCKET:
		if (k->type == CT_PATH && *v != '\0' && *v != '/')
			return fail(err, errlen, "want an absolute path, not %s", v);
		if (k->type == CT_SOCKET && *v != '\0' && strncmp(v, "unix:", 5) && strncmp(v, "local:", 6) &&
		    strncmp(v, "inet:", 5) && strncmp(v, "inet6:", 6))
			return fail(err, errlen, "want unix:/path, inet:port@host or inet6:port@host, not %s", v);
		if (util_strlcpy(FIELD(c, k, char), v, k->size) >= k->size)
			return fail(err, errlen, "%s", "value too long");
		return 0;
	case CT_BOOL:
		if (parse_bool(v, &b) < 0)
			return fail(err, errlen, "want yes or no, not %s", v);
		*FIELD(c, k, int) = b;
		return 0;
	case CT_SECONDS:
	case CT_MS:
	case CT_MS_INT:
		if ((secs = util_parse_duration(v)) < 0)
			return fail(err, errlen, "want a duration (30, 30s, 5m, 3h, 7d), not %s", v);
		if (k->type == CT_SECONDS) {
			*FIELD(c, k, long) = secs;
			return 0;
		}
		if (secs < k->min || secs > k->max) {
			dur_text(lo, sizeof(lo), k->min);
			dur_text(hi, sizeof(hi), k->max);
			return fail(err, errlen, "want between %s and %s, not %s", lo, hi, v);
		}
		if (k->type == CT_MS)
			*FIELD(c, k, msec_t) = secs * 1000;
		else
			*FIELD(c, k, int) = (int)(secs * 1000);
		return 0;
	case CT_MSEC:
		if ((num = parse_msec(v)) < 0)
			return fail(err, errlen, "want a duration (250ms, 1s), not %s", v);
		if (num < k->min || num > k->max)
			return fail(err, errlen, "want between %ldms and %ldms, not %s", k->min, k->max, v);
		*FIELD(c, k, msec_t) = num;
		return 0;
	case CT_INT:
		if (k->want != NULL) {
			if (parse_int(v, k->min, k->max, &num) < 0)
				return fail(err, errlen, "want %s, not %s", k->want, v);
		} else {
			if (parse_int(v, k->min, NUM_MAX, &num) < 0)
				return fail(err, errlen, "want a number from %ld, not %s", k->min, v);
			if (num > k->max)
				return fail(err, errlen, "want at most %ld, not %s", k->max, v);
		}
		*FIELD(c, k, int) = (int)num;
		return 0;
	case CT_OCTAL: {
		char *end;
		long m;

		errno = 0;
		m = strtol(v, &end, 8);
		if (errno || *end != '\0' || *v == '\0' || m < k->min || m > k->max)
			return fail(err, errlen, "want an octal mode like 0660, not %s", v);
		*FIELD(c, k, int) = (int)m;
		return 0;
	}
	case CT_SIZE:
		if (parse_size(v, FIELD(c, k, size_t)) < 0 || *FIELD(c, k, size_t) < (size_t)k->min)
			return fail(err, errlen, "want a size like 512M (at least 1M), not %s", v);
		return 0;
	case CT_WORD:
		return set_word(c, k, v, err, errlen);
	case CT_SPECIAL:
		return k->set(c, k, v, err, errlen);
	}
	return -1;
}

/* type_size - the size of the field a key of type t fills; 0: any (CT_SPECIAL, strings) */
static size_t
type_size(enum ctype t)
{
	switch (t) {
	case CT_BOOL: case CT_INT: case CT_OCTAL: case CT_MS_INT: case CT_WORD: return sizeof(int);
	case CT_SECONDS: return sizeof(long);
	case CT_MS: case CT_MSEC: return sizeof(msec_t);
	case CT_SIZE: return sizeof(size_t);
	default: return 0;
	}
}

void
conf_defaults(struct conf *c)
{
	const struct key *k;
	char err[256];

	memset(c, 0, sizeof(*c));
	probe_conf_init(&c->probe);
	cache_ttl_defaults(&c->ttl);
	limit_conf_defaults(&c->limits);
	c->facility = LOG_MAIL;
	for (k = keys; k->name != NULL; k++) {
		if ((type_size(k->type) != 0 && k->size != type_size(k->type)) ||
		    (k->type == CT_SPECIAL && k->set == NULL) || (k->type == CT_WORD && k->words == NULL)) {
			/* a row whose place does not fit its type is a programming error */
			fprintf(stderr, "conf: table row %s does not fit its type\n", k->name);
			abort();
		}
		if (k->def != NULL && apply(c, k, k->def, err, sizeof(err)) < 0) {
			/* a broken built-in default is a programming error */
			fprintf(stderr, "conf: default for %s: %s\n", k->name, err);
			abort();
		}
	}
}

int
conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	char why[512];

	if (k == NULL) {
		snprintf(err, errlen, "%s: unknown key", key);
		return -1;
	}
	if (apply(c, k, value, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", k->name, why);
		return -1;
	}
	return 0;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	unsigned char seen[sizeof(keys) / sizeof(keys[0])];
	char line[4096], why[600];
	FILE *fp;
	int lineno = 0;

	conf_defaults(c);
	memset(seen, 0, sizeof(seen));
	if (util_strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		conf_free(c);
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		conf_free(c);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = line, *key, *val, *end;
		const struct key *k;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto bad;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		key = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		/* values: no trailing comments (a '#' may be part of a path); strip white space */
		end = val + strlen(val);
		while (end > val && isspace((unsigned char)end[-1]))
			*--end = '\0';
		for (p = val; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				snprintf(err, errlen, "%s:%d: %s: control character in value", path, lineno, key);
				goto bad;
			}
		if ((k = find_key(key)) == NULL) {
			snprintf(err, errlen, "%s:%d: %s: unknown key", path, lineno, key);
			goto bad;
		}
		if (seen[k - keys] && !(k->flags & KF_REPEAT)) {
			snprintf(err, errlen, "%s:%d: %s: given twice", path, lineno, k->name);
			goto bad;
		}
		if (*val == '\0' && !(k->flags & KF_EMPTY)) {
			snprintf(err, errlen, "%s:%d: %s: missing value", path, lineno, k->name);
			goto bad;
		}
		/* a repeatable key's first line in the file replaces its default */
		if ((k->flags & KF_REPEAT) && !seen[k - keys])
			k->set(c, k, NULL, why, sizeof(why));
		seen[k - keys] = 1;
		if (apply(c, k, val, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, k->name, why);
			goto bad;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto bad;
	}
	fclose(fp);
	if (c->probe_wait_ms > c->probe.timeout_ms) {
		snprintf(err, errlen, "%s: ProbeWait: longer than ProbeTimeout", path);
		conf_free(c);
		return -1;
	}
	if (c->ttl.refresh > c->ttl.valid) {
		snprintf(err, errlen, "%s: CacheTTL.refresh: longer than CacheTTL.valid", path);
		conf_free(c);
		return -1;
	}
	return 0;
bad:
	fclose(fp);
	conf_free(c);
	return -1;
}

size_t
conf_restart_changes(const struct conf *o, const struct conf *n, char *buf, size_t size)
{
	const struct key *k;
	size_t count = 0, len = 0;

	if (size > 0)
		buf[0] = '\0';
	for (k = keys; k->name != NULL; k++) {
		const char *a = (const char *)o + k->off, *b = (const char *)n + k->off;
		int same;

		if (!(k->flags & KF_RESTART))
			continue;
		if (k->type == CT_STRING || k->type == CT_PATH || k->type == CT_SOCKET)
			same = strncmp(a, b, k->size) == 0;
		else
			same = memcmp(a, b, k->size) == 0;
		if (same)
			continue;
		if (len < size) {
			int r = snprintf(buf + len, size - len, "%s%s", count ? ", " : "", k->name);

			len = r < 0 ? size : len + (size_t)r;
		}
		count++;
	}
	return count;
}

void
conf_free(struct conf *c)
{
	int i;

	for (i = 0; i < c->nexempt; i++)
		free(c->exempt[i]);
	free(c->exempt);
	c->exempt = NULL;
	c->nexempt = 0;
}

static int
net_match(const struct conf_net *n, const unsigned char *a)
{
	int full = n->prefix / 8, rest = n->prefix % 8;

	if (memcmp(n->addr, a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((n->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

int
conf_trusted(const struct conf *c, const struct sockaddr *sa)
{
	unsigned char v4[4];
	const unsigned char *v6 = NULL;
	int i, have4 = 0;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		have4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		v6 = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(v4, v6 + 12, 4);
			have4 = 1;
		}
	} else
		return 0;
	for (i = 0; i < c->nnets; i++) {
		if (c->nets[i].family == AF_INET && have4 && net_match(&c->nets[i], v4))
			return 1;
		if (c->nets[i].family == AF_INET6 && v6 != NULL && net_match(&c->nets[i], v6))
			return 1;
	}
	return 0;
}

int
conf_exempt(const struct conf *c, const char *domain)
{
	size_t dlen = strlen(domain);
	int i;

	for (i = 0; i < c->nexempt; i++) {
		const char *e = c->exempt[i];

		if (e[0] == '*' && e[1] == '.') {
			size_t elen = strlen(e + 1);	/* ".parent" */

			if (dlen > elen && strcasecmp(domain + dlen - elen, e + 1) == 0)
				return 1;
		} else if (strcasecmp(domain, e) == 0)
			return 1;
	}
	return 0;
}
