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
	CT_STRING, CT_PATH, CT_BOOL, CT_DURATION, CT_INT, CT_OCTAL, CT_SIZE,
	CT_SPECIAL,
};

struct key {
	const char *name;
	enum ctype type;
	const char *def;	/* default as text, applied by conf_defaults; NULL: none */
	int	repeat;		/* may appear more than once */
};

/* The table: every key, its type and default. etc/sav-milter.conf mirrors it. */
static const struct key keys[] = {
	{ "Socket",		CT_STRING,	"unix:/run/sav-milter/sav-milter.sock", 0 },
	{ "SocketMode",		CT_OCTAL,	"0660", 0 },
	{ "SocketGroup",	CT_STRING,	"", 0 },
	{ "UserID",		CT_STRING,	"", 0 },
	{ "PidFile",		CT_PATH,	"", 0 },
	{ "CacheFile",		CT_PATH,	"/var/lib/sav-milter/cache.mdb", 0 },
	{ "CacheSize",		CT_SIZE,	"512M", 0 },
	{ "CacheTTL.valid",	CT_DURATION,	"30d", 0 },
	{ "CacheTTL.refresh",	CT_DURATION,	"7d", 0 },
	{ "CacheTTL.invalid",	CT_DURATION,	"3h", 0 },
	{ "CacheTTL.tempfail",	CT_DURATION,	"5m", 0 },
	{ "CacheTTL.domain",	CT_DURATION,	"1d", 0 },
	{ "CacheTTL.unknown",	CT_DURATION,	"1h", 0 },
	{ "Resolver",		CT_SPECIAL,	NULL, 1 },
	{ "DNSTimeout",		CT_DURATION,	"3s", 0 },
	{ "ProbePort",		CT_INT,		"25", 0 },
	{ "AllowPrivateTargets", CT_BOOL,	"no", 0 },
	{ "HeloName",		CT_SPECIAL,	NULL, 0 },
	{ "ProbeSender",	CT_SPECIAL,	NULL, 0 },
	{ "RetrySender",	CT_SPECIAL,	NULL, 0 },
	{ "StrictNullSender",	CT_BOOL,	"no", 0 },
	{ "ProbeMethod",	CT_SPECIAL,	"rcpt", 0 },
	{ "CatchAllCheck",	CT_BOOL,	"yes", 0 },
	{ "MaxTargets",		CT_INT,		"5", 0 },
	{ "MaxSessions",	CT_INT,		"2", 0 },
	{ "ProbeWait",		CT_DURATION,	"8s", 0 },
	{ "ProbeTimeout",	CT_DURATION,	"60s", 0 },
	{ "ConnectTimeout",	CT_DURATION,	"10s", 0 },
	{ "GreetingTimeout",	CT_DURATION,	"20s", 0 },
	{ "CommandTimeout",	CT_DURATION,	"20s", 0 },
	{ "MaxProbes",		CT_INT,		"100", 0 },
	{ "DomainConcurrency",	CT_INT,		"2", 0 },
	{ "MXConcurrency",	CT_INT,		"10", 0 },
	{ "MXRate",		CT_INT,		"60", 0 },
	{ "ClientProbeRate",	CT_INT,		"60", 0 },
	{ "ClientProbeRateCounts", CT_SPECIAL,	"failures", 0 },
	{ "Mode",		CT_SPECIAL,	"enforce", 0 },
	{ "MonitorHeader",	CT_SPECIAL,	"X-SAV-Verdict", 0 },
	{ "TrustedNetworks",	CT_SPECIAL,	"127.0.0.0/8, ::1/128", 0 },
	{ "SkipAuthenticated",	CT_BOOL,	"yes", 0 },
	{ "ExemptDomains",	CT_SPECIAL,	"", 0 },
	{ "Action.valid",	CT_SPECIAL,	"accept", 0 },
	{ "Action.invalid",	CT_SPECIAL,	"reject", 0 },
	{ "Action.bad-domain",	CT_SPECIAL,	"reject", 0 },
	{ "Action.bad-syntax",	CT_SPECIAL,	"reject", 0 },
	{ "Action.catch-all",	CT_SPECIAL,	"accept", 0 },
	{ "Action.unknown",	CT_SPECIAL,	"accept", 0 },
	{ "Action.tempfail",	CT_SPECIAL,	"tempfail", 0 },
	{ "Action.error",	CT_SPECIAL,	"tempfail", 0 },
	{ "RejectDetail",	CT_BOOL,	"no", 0 },
	{ "SyslogFacility",	CT_SPECIAL,	"mail", 0 },
	{ "LogSkipped",		CT_BOOL,	"yes", 0 },
	{ NULL, 0, NULL, 0 }
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

static const char *action_names[] = { "accept", "tempfail", "reject" };

const char *
action_str(enum action a)
{
	return (unsigned)a < 3 ? action_names[a] : "?";
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

static int
set_special(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	const char *n = k->name;
	int i;

	if (!strcmp(n, "Resolver"))
		return dns_conf_add_server(&c->probe.dns, v, err, errlen);
	if (!strcmp(n, "HeloName")) {
		if (!is_hostname(v))
			return fail(err, errlen, "not a host name: %s", v);
		util_strlcpy(c->probe.helo, v, sizeof(c->probe.helo));
		return 0;
	}
	if (!strcmp(n, "ProbeSender") || !strcmp(n, "RetrySender")) {
		/* RetrySender <> is "no retry": MAIL FROM:<> was what got refused */
		int probe = !strcmp(n, "ProbeSender");
		char *dst = probe ? c->probe.sender : c->probe.retry_sender;
		size_t size = probe ? sizeof(c->probe.sender) : sizeof(c->probe.retry_sender);
		struct addr a;
		const char *why = NULL;

		switch (addr_parse(v, strlen(v), &a, &why)) {
		case ADDR_NULL:
			dst[0] = '\0';
			return 0;
		case ADDR_OK:
			if (addr_format(&a, dst, size) < 0)
				return fail(err, errlen, "%s", "address too long");
			return 0;
		default:
			return fail(err, errlen, "not a usable address (%s)", why ? why : "syntax");
		}
	}
	if (!strcmp(n, "ProbeMethod")) {
		if (!strcasecmp(v, "rcpt"))
			c->probe.method = SMTP_METHOD_RCPT;
		else if (!strcasecmp(v, "vrfy"))
			c->probe.method = SMTP_METHOD_VRFY;
		else
			return fail(err, errlen, "want rcpt or vrfy, not %s", v);
		return 0;
	}
	if (!strcmp(n, "ClientProbeRateCounts")) {
		/* which ended probes stay counted against their client */
		if (!strcasecmp(v, "failures"))
			c->limits.client_counts = LIMIT_COUNT_FAILURES;
		else if (!strcasecmp(v, "all"))
			c->limits.client_counts = LIMIT_COUNT_ALL;
		else
			return fail(err, errlen, "want failures or all, not %s", v);
		return 0;
	}
	if (!strcmp(n, "Mode")) {
		if (!strcasecmp(v, "enforce"))
			c->monitor = 0;
		else if (!strcasecmp(v, "monitor"))
			c->monitor = 1;
		else
			return fail(err, errlen, "want enforce or monitor, not %s", v);
		return 0;
	}
	if (!strcmp(n, "MonitorHeader")) {
		const char *p;

		if (*v == '\0' || strlen(v) >= sizeof(c->header))
			return fail(err, errlen, "bad header name: %s", v);
		for (p = v; *p; p++)
			if (*p <= 32 || *p >= 127 || *p == ':')
				return fail(err, errlen, "bad header name: %s", v);
		util_strlcpy(c->header, v, sizeof(c->header));
		return 0;
	}
	if (!strcmp(n, "TrustedNetworks")) {
		c->nnets = 0;
		return for_each_item(v, add_net, c, err, errlen);
	}
	if (!strcmp(n, "ExemptDomains")) {
		for (i = 0; i < c->nexempt; i++)
			free(c->exempt[i]);
		c->nexempt = 0;
		return for_each_item(v, add_exempt, c, err, errlen);
	}
	if (!strcmp(n, "SyslogFacility")) {
		for (i = 0; facilities[i].name; i++)
			if (!strcasecmp(facilities[i].name, v)) {
				c->facility = facilities[i].facility;
				return 0;
			}
		return fail(err, errlen, "unknown syslog facility: %s", v);
	}
	if (!strncmp(n, "Action.", 7)) {
		enum verdict vd;
		int a = -1;

		if (verdict_parse(n + 7, &vd) < 0)
			return fail(err, errlen, "%s", "unknown verdict");
		for (i = 0; i < 3; i++)
			if (!strcasecmp(v, action_names[i]))
				a = i;
		if (a < 0)
			return fail(err, errlen, "want accept, tempfail or reject, not %s", v);
		c->action[vd] = (enum action)a;
		return 0;
	}
	return fail(err, errlen, "%s", "internal: unhandled key");
}

/* apply - the typed value of one key into its place in struct conf */
static int
apply(struct conf *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	const char *n = k->name;
	long num, secs;
	int b;

	switch (k->type) {
	case CT_STRING:
	case CT_PATH: {
		char *dst;
		size_t size;

		if (!strcmp(n, "Socket")) { dst = c->socket; size = sizeof(c->socket); }
		else if (!strcmp(n, "SocketGroup")) { dst = c->socket_group; size = sizeof(c->socket_group); }
		else if (!strcmp(n, "UserID")) { dst = c->user; size = sizeof(c->user); }
		else if (!strcmp(n, "PidFile")) { dst = c->pidfile; size = sizeof(c->pidfile); }
		else if (!strcmp(n, "CacheFile")) { dst = c->cachefile; size = sizeof(c->cachefile); }
		else return fail(err, errlen, "%s", "internal: unhandled key");
		if (k->type == CT_PATH && *v != '\0' && *v != '/')
			return fail(err, errlen, "want an absolute path, not %s", v);
		if (!strcmp(n, "Socket") && *v != '\0' && strncmp(v, "unix:", 5) && strncmp(v, "local:", 6) &&
		    strncmp(v, "inet:", 5) && strncmp(v, "inet6:", 6))
			return fail(err, errlen, "want unix:/path, inet:port@host or inet6:port@host, not %s", v);
		if (util_strlcpy(dst, v, size) >= size)
			return fail(err, errlen, "%s", "value too long");
		return 0;
	}
	case CT_BOOL:
		if (parse_bool(v, &b) < 0)
			return fail(err, errlen, "want yes or no, not %s", v);
		if (!strcmp(n, "AllowPrivateTargets")) c->probe.allow_private = b;
		else if (!strcmp(n, "CatchAllCheck")) c->probe.catchall_check = b;
		else if (!strcmp(n, "StrictNullSender")) c->probe.strict_null = b;
		else if (!strcmp(n, "SkipAuthenticated")) c->skip_auth = b;
		else if (!strcmp(n, "RejectDetail")) c->reject_detail = b;
		else if (!strcmp(n, "LogSkipped")) c->log_skipped = b;
		else return fail(err, errlen, "%s", "internal: unhandled key");
		return 0;
	case CT_DURATION:
		if ((secs = util_parse_duration(v)) < 0)
			return fail(err, errlen, "want a duration (30, 30s, 5m, 3h, 7d), not %s", v);
		if (!strncmp(n, "CacheTTL.", 9)) {
			if (!strcmp(n, "CacheTTL.valid")) c->ttl.valid = secs;
			else if (!strcmp(n, "CacheTTL.refresh")) c->ttl.refresh = secs;
			else if (!strcmp(n, "CacheTTL.invalid")) c->ttl.invalid = secs;
			else if (!strcmp(n, "CacheTTL.tempfail")) c->ttl.tempfail = secs;
			else if (!strcmp(n, "CacheTTL.domain")) c->ttl.domain = secs;
			else c->ttl.unknown = secs;
			return 0;
		}
		if (secs == 0 || secs > 3600)
			return fail(err, errlen, "want between 1s and 1h, not %s", v);
		if (!strcmp(n, "DNSTimeout")) c->probe.dns.timeout_ms = (int)(secs * 1000);
		else if (!strcmp(n, "ProbeWait")) c->probe_wait_ms = secs * 1000;
		else if (!strcmp(n, "ProbeTimeout")) c->probe.timeout_ms = secs * 1000;
		else if (!strcmp(n, "ConnectTimeout")) c->probe.connect_ms = secs * 1000;
		else if (!strcmp(n, "GreetingTimeout")) c->probe.greeting_ms = secs * 1000;
		else if (!strcmp(n, "CommandTimeout")) c->probe.command_ms = secs * 1000;
		else return fail(err, errlen, "%s", "internal: unhandled key");
		return 0;
	case CT_INT:
		if (!strcmp(n, "ProbePort")) {
			if (parse_int(v, 1, 65535, &num) < 0)
				return fail(err, errlen, "want a port 1-65535, not %s", v);
			c->probe.port = (int)num;
			return 0;
		}
		if (!strcmp(n, "ClientProbeRate")) {
			/* 0 switches the per-client limit off */
			if (parse_int(v, 0, 100000, &num) < 0)
				return fail(err, errlen, "want a number from 0 (off) to 100000, not %s", v);
			c->limits.client_rate = (int)num;
			return 0;
		}
		if (parse_int(v, 1, 100000, &num) < 0)
			return fail(err, errlen, "want a number from 1, not %s", v);
		if (!strcmp(n, "MaxTargets")) {
			if (num > 50)
				return fail(err, errlen, "want at most 50, not %s", v);
			c->probe.max_targets = (int)num;
		} else if (!strcmp(n, "MaxSessions")) {
			if (num > 50)
				return fail(err, errlen, "want at most 50, not %s", v);
			c->probe.max_sessions = (int)num;
		} else if (!strcmp(n, "MaxProbes")) c->limits.max_probes = (int)num;
		else if (!strcmp(n, "DomainConcurrency")) c->limits.per_domain = (int)num;
		else if (!strcmp(n, "MXConcurrency")) c->limits.per_mx = (int)num;
		else if (!strcmp(n, "MXRate")) {
			/* the limiter keeps a ring of MXRate times per MX address */
			if (num > 1000)
				return fail(err, errlen, "want at most 1000, not %s", v);
			c->limits.mx_rate = (int)num;
		}
		else return fail(err, errlen, "%s", "internal: unhandled key");
		return 0;
	case CT_OCTAL: {
		char *end;
		long m;

		errno = 0;
		m = strtol(v, &end, 8);
		if (errno || *end != '\0' || *v == '\0' || m < 0 || m > 0777)
			return fail(err, errlen, "want an octal mode like 0660, not %s", v);
		c->socket_mode = (int)m;
		return 0;
	}
	case CT_SIZE:
		if (parse_size(v, &c->cache_size) < 0 || c->cache_size < (1u << 20))
			return fail(err, errlen, "want a size like 512M (at least 1M), not %s", v);
		return 0;
	case CT_SPECIAL:
		return set_special(c, k, v, err, errlen);
	}
	return -1;
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
	for (k = keys; k->name != NULL; k++)
		if (k->def != NULL && apply(c, k, k->def, err, sizeof(err)) < 0) {
			/* a broken built-in default is a programming error */
			fprintf(stderr, "conf: default for %s: %s\n", k->name, err);
			abort();
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
	int lineno = 0, resolvers = 0;

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
		if (seen[k - keys] && !k->repeat) {
			snprintf(err, errlen, "%s:%d: %s: given twice", path, lineno, k->name);
			goto bad;
		}
		seen[k - keys] = 1;
		if (*val == '\0' && strcmp(k->name, "ExemptDomains") && strcmp(k->name, "PidFile") &&
		    strcmp(k->name, "CacheFile") && strcmp(k->name, "UserID") && strcmp(k->name, "SocketGroup") &&
		    strcmp(k->name, "TrustedNetworks")) {
			snprintf(err, errlen, "%s:%d: %s: missing value", path, lineno, k->name);
			goto bad;
		}
		if (!strcmp(k->name, "Resolver") && resolvers++ == 0)
			c->probe.dns.nservers = 0;
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
