/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sav-probe - verify envelope addresses from the command line with the
 * same probe the milter uses (see sav-probe(1)).
 *
 *   sav-probe [options] ADDRESS...
 *   sav-probe [options] -f FILE|-
 *
 * Arguments are never handed to a subprocess or a shell. An argument
 * that holds '@' is an address even when it starts with '-';
 * "--" ends the options.
 *
 * Every address, of a list or of the arguments, goes through one
 * limiter (limit.c, its waiting form) with the limits of the
 * configuration, as the milter's do: the cache, one probe for all the
 * copies of an address in flight, DomainConcurrency, MXConcurrency,
 * MXRate and MaxProbes. A worker that finds no free slot waits for one
 * (up to --wait), and the probe's --timeout counts from when it starts.
 *
 * Exit status: 0 all valid; 1 any invalid, bad-domain or bad-syntax;
 * 2 otherwise undetermined; 64 usage; 78 configuration.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "conf.h"
#include "limit.h"
#include "log.h"
#include "print.h"
#include "probe.h"
#include "tls.h"
#include "rcache.h"
#include "rconn.h"

#define LIST_LINE_MAX	2048
#define WAIT_MAX	86400	/* --wait: seconds */
#define BAR_TICK_S	1	/* the progress bar is drawn again this often */

static const char usage_text[] =
"usage: sav-probe [options] ADDRESS...\n"
"       sav-probe [options] -f FILE     (one address per line; - for stdin)\n"
"\n"
"Verify envelope sender addresses the way a person would with telnet:\n"
"look up the domain's MX, connect to port 25, EHLO, MAIL FROM:<>,\n"
"RCPT TO:<address>, read the answer, QUIT. Nothing is ever sent as mail.\n"
"\n"
"options:\n"
"  --json             one JSON object per address on stdout\n"
"  -v                 show the DNS steps and the SMTP dialogue (C:/S:) on stderr\n"
"  -f FILE            read addresses from FILE (- for standard input)\n"
"  -j N               N probes at once for a list, within the limits (1-64, default 1)\n"
"  --resolver H[:P]   DNS server to ask (repeatable; default /etc/resolv.conf)\n"
"  --port N           SMTP port to probe (default 25)\n"
"  --allow-private    allow loopback/private targets (labs and tests)\n"
"  --sender ADDR      MAIL FROM address (default <>)\n"
"  --helo NAME        EHLO name (default /etc/mailname or the host name)\n"
"  --timeout SEC      limit for one probe, from when it starts (default 60)\n"
"  --wait SEC         give up on a free slot after SEC s of waiting (default: wait)\n"
"  --no-catchall      skip the random-recipient catch-all check\n"
"  --method M         rcpt (default) or vrfy (VRFY first, RCPT when refused)\n"
"  --tls MODE         may (default: STARTTLS when offered) or never\n"
"  --cache FILE       answer from and fill this verdict cache\n"
"  -c CONF            read settings from a sav-milter.conf file\n"
"  -h, --help         this text\n"
"\n"
"verdicts: valid invalid bad-domain bad-syntax catch-all unknown tempfail\n"
"exit status: 0 all valid; 1 any invalid/bad-domain/bad-syntax;\n"
"             2 otherwise undetermined; 64 usage; 78 configuration\n";

struct opts {
	int	json, verbose, jobs, list_mode;
	const char *listfile;
	struct conf conf;
	struct limiter *lim;		/* every probe asks it */
	msec_t	wait_ms;		/* --wait, LIMIT_FOREVER without */
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int bar_on;		/* a progress bar is drawn on stderr (a terminal) */

static void
print_json(FILE *fp, const struct probe_result *r)
{
	fputc('{', fp);
	print_json_result(fp, r);
	fputs(",\"tls\":", fp);
	if (r->tls[0] != '\0')
		util_json_str(fp, r->tls);
	else
		fputs("null", fp);
	/* cache_source: which cache answered, null when none did */
	fprintf(fp, ",\"cached\":%s,\"cache_source\":%s,\"elapsed_ms\":%ld}\n",
		r->cached ? "true" : "false",
		!r->cached ? "null" : r->cached == RESULT_CACHED_SHARED ? "\"shared\"" : "\"local\"",
		r->elapsed_ms);
}

static void
trace_line(void *arg, const char *line)
{
	const char *who = arg;
	char clean[1100];

	util_sanitize(clean, sizeof(clean), line, strlen(line));
	pthread_mutex_lock(&out_lock);
	if (who != NULL)
		fprintf(stderr, "[%s] %s\n", who, clean);
	else
		fprintf(stderr, "%s\n", clean);
	pthread_mutex_unlock(&out_lock);
}

/* List mode: workers take lines from one reader under a lock. */
struct list {
	FILE	*fp;
	const struct opts *o;
	int	worst;			/* exit class so far */
	long	done, total;		/* total known only for files */
	int	bar;
	int	stop;			/* the workers are done: the bar's ticker ends */
};

static pthread_cond_t tick_cv = PTHREAD_COND_INITIALIZER;

static void
account(int *worst, enum verdict v)
{
	int cls = probe_exit_class(v);

	if (cls == 1 || (cls == 2 && *worst == 0))
		*worst = cls;
}

static void
one(const struct opts *o, const char *addr, size_t len, int *worst, int tagged)
{
	struct probe_result r;
	struct trace t = { NULL, NULL };
	char tag[80];

	if (o->verbose) {
		t.fn = trace_line;
		if (tagged) {
			util_sanitize(tag, sizeof(tag), addr, len);
			t.arg = tag;
		}
	}
	limit_verdict_wait(o->lim, &o->conf.probe, addr, len, o->wait_ms, &t, &r);
	pthread_mutex_lock(&out_lock);
	if (bar_on) {
		/* the result goes where the bar was; the bar is drawn again below it */
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	if (o->json)
		print_json(stdout, &r);
	else
		print_human(stdout, &r);
	fflush(stdout);
	account(worst, r.verdict);
	pthread_mutex_unlock(&out_lock);
}

/* read_item - next non-empty line, bounded; an overlong line is consumed and flagged */
static int
read_item(FILE *fp, char *buf, size_t size, size_t *len)
{
	int ch;
	size_t n;

	for (;;) {
		n = 0;
		int over = 0;

		while ((ch = getc(fp)) != EOF && ch != '\n') {
			if (n + 1 < size)
				buf[n++] = (char)ch;
			else
				over = 1;
		}
		if (ch == EOF && n == 0 && !over)
			return 0;
		if (n > 0 && buf[n - 1] == '\r')
			n--;	/* CRLF list files: the CR belongs to the file, not the address */
		buf[n] = '\0';
		if (over) {
			/* never truncate silently: an overlong line is judged as is (too long) */
			memset(buf, 'x', size - 1);
			buf[size - 1] = '\0';
			n = size - 1;
		}
		if (n == 0)
			continue;
		*len = n;
		return 1;
	}
}

/* progress - the bar (out_lock held): done, and what the limiter's workers are at */
static void
progress(struct list *l)
{
	struct limit_stats st;

	if (!l->bar)
		return;
	limit_stats(l->o->lim, &st);
	fprintf(stderr, "\r\033[Kprobed %ld", l->done);
	if (l->total > 0) {
		int w = 20, k = (int)(l->done * w / (l->total ? l->total : 1));

		fprintf(stderr, "/%ld [%.*s%*s]", l->total, k, "##############################", w - k, "");
	}
	fprintf(stderr, " %d probing, %d waiting for a slot", st.probing, st.waiting);
	fflush(stderr);
}

/* ticker - draw the bar every BAR_TICK_S, so that waits show while nothing ends */
static void *
ticker(void *arg)
{
	struct list *l = arg;
	struct timespec ts;

	pthread_mutex_lock(&out_lock);
	while (!l->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += BAR_TICK_S;
		pthread_cond_timedwait(&tick_cv, &out_lock, &ts);
		if (!l->stop)
			progress(l);
	}
	pthread_mutex_unlock(&out_lock);
	return NULL;
}

static void *
list_worker(void *arg)
{
	struct list *l = arg;
	char buf[LIST_LINE_MAX + 1];
	size_t len;

	for (;;) {
		int got;

		pthread_mutex_lock(&out_lock);
		got = read_item(l->fp, buf, sizeof(buf), &len);
		pthread_mutex_unlock(&out_lock);
		if (!got)
			break;
		one(l->o, buf, len, &l->worst, l->o->jobs > 1);
		pthread_mutex_lock(&out_lock);
		l->done++;
		progress(l);
		pthread_mutex_unlock(&out_lock);
	}
	return NULL;
}

static long
count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	long n = 0;
	int ch, prev = '\n';

	if (fp == NULL)
		return 0;
	while ((ch = getc(fp)) != EOF) {
		if (ch == '\n' && prev != '\n')
			n++;
		prev = ch;
	}
	if (prev != '\n')
		n++;
	fclose(fp);
	return n;
}

static int
run_list(struct opts *o)
{
	struct list l;
	pthread_t tid[64], tick;
	int i, n = o->jobs, ticking = 0;

	memset(&l, 0, sizeof(l));
	l.o = o;
	if (strcmp(o->listfile, "-") == 0)
		l.fp = stdin;
	else if ((l.fp = fopen(o->listfile, "r")) == NULL) {
		fprintf(stderr, "sav-probe: %s: %s\n", o->listfile, strerror(errno));
		return EX_USAGE;
	} else
		l.total = count_lines(o->listfile);
	l.bar = isatty(STDERR_FILENO) && !o->verbose;
	bar_on = l.bar;
	if (l.bar && pthread_create(&tick, NULL, ticker, &l) == 0)
		ticking = 1;
	for (i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, list_worker, &l) != 0) {
			n = i;
			break;
		}
	if (n == 0)
		list_worker(&l);
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	if (ticking) {
		pthread_mutex_lock(&out_lock);
		l.stop = 1;
		pthread_cond_signal(&tick_cv);
		pthread_mutex_unlock(&out_lock);
		pthread_join(tick, NULL);
	}
	if (l.bar)
		fputs("\n", stderr);
	if (l.fp != stdin)
		fclose(l.fp);
	return l.worst;
}

static int usage_error(const char *, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sav-probe: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(sav-probe --help for usage)\n");
	return EX_USAGE;
}

static int
need(int argc, char **argv, int i)
{
	return i + 1 < argc && argv[i + 1] != NULL;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char err[700];
	const char *conffile = NULL, *cachefile = NULL;
	/*
	 * The addresses are gathered in place, at the front of argv: the
	 * n-th address is at an index past n, so nothing unread is
	 * overwritten, and any number of them fits without allocating.
	 */
	char **addrs = argv + 1;
	int naddr = 0, i, worst = 0, opts_done = 0;
	long timeout = -1;
	/* command-line settings are applied after the file, as conf_set calls */
	const char *sets[64][2];
	int nsets = 0, resolvers = 0;

	memset(&o, 0, sizeof(o));
	o.jobs = 1;
	o.wait_ms = LIMIT_FOREVER;
	log_open("sav-probe", LOG_MAIL, 0, 1);

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts_done || a[0] != '-' || a[1] == '\0' || (strchr(a, '@') && strcmp(a, "--sender"))) {
			addrs[naddr++] = argv[i];
			continue;
		}
		if (nsets >= (int)(sizeof(sets) / sizeof(sets[0])))
			return usage_error("%s", "too many options");
		if (!strcmp(a, "--")) {
			opts_done = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o.verbose = 1;
		} else if (!strcmp(a, "--allow-private")) {
			sets[nsets][0] = "AllowPrivateTargets"; sets[nsets++][1] = "yes";
		} else if (!strcmp(a, "--no-catchall")) {
			sets[nsets][0] = "CatchAllCheck"; sets[nsets++][1] = "no";
		} else if (!strcmp(a, "-f") || !strcmp(a, "-j") || !strcmp(a, "-c") ||
			   !strcmp(a, "--resolver") || !strcmp(a, "--port") || !strcmp(a, "--sender") ||
			   !strcmp(a, "--helo") || !strcmp(a, "--timeout") || !strcmp(a, "--cache") ||
			   !strcmp(a, "--method") || !strcmp(a, "--wait") || !strcmp(a, "--tls")) {
			const char *v;

			if (!need(argc, argv, i))
				return usage_error("%s needs a value", a);
			v = argv[++i];
			if (!strcmp(a, "-f")) {
				o.listfile = v;
			} else if (!strcmp(a, "-j")) {
				char *end;
				long j = strtol(v, &end, 10);

				if (*end || j < 1 || j > 64)
					return usage_error("-j wants 1 to 64, not %s", v);
				o.jobs = (int)j;
			} else if (!strcmp(a, "-c")) {
				conffile = v;
			} else if (!strcmp(a, "--cache")) {
				cachefile = v;
			} else if (!strcmp(a, "--wait")) {
				char *end;
				long w = strtol(v, &end, 10);

				if (*end || end == v || w < 0 || w > WAIT_MAX)
					return usage_error("--wait wants 0 to %d seconds, not %s", WAIT_MAX, v);
				o.wait_ms = (msec_t)w * 1000;
			} else if (!strcmp(a, "--timeout")) {
				char *end;

				timeout = strtol(v, &end, 10);
				if (*end || timeout < 1 || timeout > 3600)
					return usage_error("--timeout wants 1 to 3600 seconds, not %s", v);
			} else {
				const char *key = !strcmp(a, "--resolver") ? "Resolver" :
				    !strcmp(a, "--port") ? "ProbePort" : !strcmp(a, "--sender") ? "ProbeSender" :
				    !strcmp(a, "--helo") ? "HeloName" : !strcmp(a, "--tls") ? "ProbeTLS" :
				    "ProbeMethod";

				if (!strcmp(key, "Resolver"))
					resolvers++;
				sets[nsets][0] = key;
				sets[nsets++][1] = v;
			}
		} else {
			return usage_error("unknown option %s", a);
		}
	}
	if (naddr == 0 && o.listfile == NULL)
		return usage_error("%s", "no address given");
	if (naddr > 0 && o.listfile != NULL)
		return usage_error("%s", "give addresses or -f, not both");

	if (conffile != NULL) {
		if (conf_load(&o.conf, conffile, err, sizeof(err)) < 0) {
			fprintf(stderr, "sav-probe: %s\n", err);
			return EX_CONFIG;
		}
	} else {
		conf_defaults(&o.conf);
		o.conf.cachefile[0] = '\0';	/* without -c or --cache: no cache */
	}
	if (resolvers > 0)
		o.conf.probe.dns.nservers = 0;
	for (i = 0; i < nsets; i++)
		if (conf_set(&o.conf, sets[i][0], sets[i][1], err, sizeof(err)) < 0) {
			fprintf(stderr, "sav-probe: %s\n", err);
			return EX_USAGE;
		}
	if (timeout > 0) {
		msec_t ms = timeout * 1000;

		o.conf.probe.timeout_ms = ms;
		if (o.conf.probe.connect_ms > ms) o.conf.probe.connect_ms = ms;
		if (o.conf.probe.greeting_ms > ms) o.conf.probe.greeting_ms = ms;
		if (o.conf.probe.command_ms > ms) o.conf.probe.command_ms = ms;
		if (o.conf.probe.dns.timeout_ms > ms) o.conf.probe.dns.timeout_ms = (int)ms;
	}
	if (cachefile != NULL)
		util_strlcpy(o.conf.cachefile, cachefile, sizeof(o.conf.cachefile));
	if (o.conf.cachefile[0] != '\0') {
		o.conf.probe.cache = cache_open(o.conf.cachefile, &o.conf.ttl, o.conf.cache_size, 0,
						err, sizeof(err));
		if (o.conf.probe.cache == NULL)
			fprintf(stderr, "sav-probe: warning: no cache: %s\n", err);
	}

	/* the trust store is read once, before the first probe's clock starts */
	if (o.conf.probe.tls != SMTP_TLS_NEVER && tls_prepare(err, sizeof(err)) < 0)
		fprintf(stderr, "sav-probe: warning: TLS: %s; probes stay in plaintext\n", err);
	/* the fleet's shared cache (SharedCache in -c CONF), as the milter uses it */
	rcache_init(&o.conf.ttl);
	if (rconn_init(&o.conf.shared) < 0) {
		fprintf(stderr, "sav-probe: the shared cache cannot be used (SharedCache keys)\n");
		conf_free(&o.conf);
		return EX_CONFIG;
	}

	/* the milter's limits, from the configuration (defaults without -c) */
	if ((o.lim = limit_new(&o.conf.limits, o.conf.probe.cache)) == NULL) {
		fprintf(stderr, "sav-probe: cannot set up the probe limits\n");
		worst = 2;
	} else if (o.listfile != NULL)
		worst = run_list(&o);
	else
		for (i = 0; i < naddr; i++)
			one(&o, addrs[i], strlen(addrs[i]), &worst, 0);

	/* every probe has ended with its caller: nothing is left to wait for */
	if (limit_free(o.lim, 5000) == 0 && o.conf.probe.cache != NULL)
		cache_close(o.conf.probe.cache);
	rconn_shutdown();
	conf_free(&o.conf);
	return worst;
}
