/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rconn - the shared cache's connections (see rconn.h).
 *
 * State, process-wide: the parsed configuration and password (set once
 * by rconn_init), an "up or down" flag, a generation number that moves
 * on each time sharing goes down (a thread whose context is of an older
 * generation drops it instead of timing out on it again), the time of
 * the last reconnect attempt while down, and a small pool of idle
 * contexts left by threads that ended (libmilter runs one thread per
 * MTA connection; the pool spares each a connect and AUTH).
 *
 * Per thread: one context and its generation, behind a pthread key; the
 * key's destructor gives the context to the pool or frees it.
 *
 * Time: hiredis 0.14 bounds the connect by the timeout given to
 * redisConnect*WithTimeout and each later read or write by
 * redisSetTimeout (SO_RCVTIMEO/SO_SNDTIMEO); the connect, AUTH and
 * SELECT share one deadline of SharedCacheTimeout. A host name in the
 * URL is resolved by the system resolver at each connect: give an
 * address (or unix:) so that no DNS stands between a message and its
 * decision.
 *
 * Signals: with sharing on, rconn_init makes the process ignore SIGPIPE
 * (hiredis writes with write(2), not send(MSG_NOSIGNAL)).
 *
 * SECURITY: the password is read once from its file (which others must
 * not be able to read), kept in this module only, sent with AUTH and
 * never logged. What the server says reaches the log only through
 * log_msg, which sanitises it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "log.h"
#include "rconn.h"

#define POOL_MAX	32		/* idle contexts kept */
#define RETRY_MS	1000		/* reconnect attempts while down: one per second per process */
#define DB_MAX		100000

struct target {
	int	unix_sock;
	char	host[256];		/* or the socket's path */
	int	port;
	int	db;
};

struct local {
	redisContext *c;
	unsigned gen;
	int	short_tv;		/* c's time-out is what was left after the connect */
};

static struct {
	int	on;
	struct target t;
	char	user[128];
	char	pass[512];
	int	have_pass;
	msec_t	timeout_ms;
	char	prefix[64];
	pthread_key_t key;
	int	key_made;
	pthread_mutex_t mu;		/* guards pool */
	struct local pool[POOL_MAX];	/* idle contexts and their generations */
	int	npool;
} R = { .prefix = "sav:", .timeout_ms = 250, .mu = PTHREAD_MUTEX_INITIALIZER };

static atomic_int down;			/* 1: sharing is off until a reconnect works */
static atomic_uint gen;			/* moves on at each up -> down */
static _Atomic msec_t last_try;		/* last reconnect attempt while down */

static int
fail(char *err, size_t errlen, const char *what)
{
	if (err != NULL && errlen > 0)
		util_strlcpy(err, what, errlen);
	return -1;
}

/* parse_url - SharedCache into *t; 0 or -1 with why */
static int
parse_url(const char *url, struct target *t, char *err, size_t errlen)
{
	const char *p, *end;
	char *e;
	size_t hl;
	long n;

	memset(t, 0, sizeof(*t));
	t->port = 6379;
	if (strncmp(url, "unix:", 5) == 0) {
		p = url + 5;
		if (*p != '/')
			return fail(err, errlen, "want unix:/absolute/path");
		if (util_strlcpy(t->host, p, sizeof(t->host)) >= sizeof(t->host))
			return fail(err, errlen, "socket path too long");
		t->unix_sock = 1;
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return fail(err, errlen, "want redis://HOST[:PORT][/DB] or unix:/PATH");
	p = url + 8;
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL)
			return fail(err, errlen, "unclosed [ in host");
		hl = (size_t)(end - p - 1);
		if (hl == 0 || hl >= sizeof(t->host) || strspn(p + 1, "0123456789abcdefABCDEF:.") != hl)
			return fail(err, errlen, "bad IPv6 address");
		memcpy(t->host, p + 1, hl);
		p = end + 1;
	} else {
		hl = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		if (hl == 0 || hl >= sizeof(t->host))
			return fail(err, errlen, "bad or missing host");
		memcpy(t->host, p, hl);
		p += hl;
	}
	if (*p == ':') {
		p++;
		if (*p < '0' || *p > '9')
			return fail(err, errlen, "bad port");
		errno = 0;
		n = strtol(p, &e, 10);
		if (errno || n < 1 || n > 65535)
			return fail(err, errlen, "want a port 1-65535");
		t->port = (int)n;
		p = e;
	}
	if (*p == '/') {
		p++;
		if (*p != '\0') {
			if (*p < '0' || *p > '9')
				return fail(err, errlen, "bad database number");
			errno = 0;
			n = strtol(p, &e, 10);
			if (errno || n < 0 || n > DB_MAX)
				return fail(err, errlen, "bad database number");
			t->db = (int)n;
			p = e;
		}
	}
	if (*p != '\0')
		return fail(err, errlen, "trailing text after the host, port or database");
	return 0;
}

int
rconn_url_check(const char *url, char *err, size_t errlen)
{
	struct target t;

	return parse_url(url, &t, err, errlen);
}

int
rconn_prefix_check(const char *prefix)
{
	const unsigned char *p;
	size_t len = strlen(prefix);

	if (len == 0 || len > RCONN_PREFIX_MAX)
		return -1;
	for (p = (const unsigned char *)prefix; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return -1;
	return 0;
}

/* read_pass - the first line of path, without its line end; others must not be able to read the file */
static int
read_pass(const char *path)
{
	struct stat st;
	FILE *fp;
	size_t len;

	if ((fp = fopen(path, "r")) == NULL) {
		log_msg(LOG_ERR, "shared cache: SharedCachePasswordFile %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		log_msg(LOG_ERR, "shared cache: SharedCachePasswordFile %s: not a regular file", path);
		fclose(fp);
		return -1;
	}
	if (st.st_mode & S_IROTH) {
		log_msg(LOG_ERR, "shared cache: SharedCachePasswordFile %s: readable by others "
		    "(chmod o-rwx); refused", path);
		fclose(fp);
		return -1;
	}
	if (st.st_mode & S_IWGRP)
		log_msg(LOG_WARNING, "shared cache: SharedCachePasswordFile %s: writable by its group", path);
	if (fgets(R.pass, sizeof(R.pass), fp) == NULL) {
		log_msg(LOG_ERR, "shared cache: SharedCachePasswordFile %s: empty", path);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	len = strcspn(R.pass, "\r\n");
	if (R.pass[len] == '\0' && len == sizeof(R.pass) - 1) {
		log_msg(LOG_ERR, "shared cache: SharedCachePasswordFile %s: first line too long", path);
		memset(R.pass, 0, sizeof(R.pass));
		return -1;
	}
	R.pass[len] = '\0';
	if (len == 0) {
		log_msg(LOG_ERR, "shared cache: SharedCachePasswordFile %s: empty first line", path);
		return -1;
	}
	R.have_pass = 1;
	return 0;
}

static struct timeval
tv_ms(msec_t ms)
{
	struct timeval tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

/*
 * closed - has the server closed (or written on) an idle connection?
 * Nothing is due on it, so anything readable, EOF included, means it
 * is of no more use: Redis's idle timeout, a restart, a kill. Checked
 * without a round trip before each reuse, so such a connection is
 * replaced quietly instead of failing a command and marking sharing
 * down.
 */
static int
closed(const redisContext *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return c->err || poll(&p, 1, 0) != 0;
}

/* pool_put - keep an idle context of the current generation, or free it */
static void
pool_put(redisContext *c, unsigned g)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&R.mu);
	if (R.on && g == atomic_load(&gen) && !atomic_load(&down) && R.npool < POOL_MAX) {
		redisSetTimeout(c, tv_ms(R.timeout_ms));
		R.pool[R.npool].c = c;
		R.pool[R.npool++].gen = g;
		c = NULL;
	}
	pthread_mutex_unlock(&R.mu);
	if (c != NULL)
		redisFree(c);
}

static redisContext *
pool_take(unsigned g)
{
	redisContext *c = NULL;

	pthread_mutex_lock(&R.mu);
	/* a context from before the last outage is of no use */
	while (R.npool > 0 && c == NULL) {
		--R.npool;
		c = R.pool[R.npool].c;
		if (R.pool[R.npool].gen != g || closed(c)) {
			redisFree(c);
			c = NULL;
		}
	}
	pthread_mutex_unlock(&R.mu);
	return c;
}

static void
thread_end(void *arg)
{
	struct local *l = arg;

	pool_put(l->c, l->gen);
	free(l);
}

int
rconn_init(const struct rconn_conf *c)
{
	char why[128];
	int rc;

	rconn_shutdown();
	memset(R.pass, 0, sizeof(R.pass));
	R.have_pass = 0;
	if (c == NULL || c->url[0] == '\0')
		return 0;
	if (parse_url(c->url, &R.t, why, sizeof(why)) < 0) {
		log_msg(LOG_ERR, "shared cache: SharedCache %s: %s", c->url, why);
		return -1;
	}
	if (c->prefix[0] != '\0' && rconn_prefix_check(c->prefix) < 0) {
		log_msg(LOG_ERR, "shared cache: SharedCachePrefix: want 1-%d printable bytes, no space",
		    RCONN_PREFIX_MAX);
		return -1;
	}
	util_strlcpy(R.prefix, c->prefix[0] != '\0' ? c->prefix : "sav:", sizeof(R.prefix));
	util_strlcpy(R.user, c->user, sizeof(R.user));
	R.timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 250;
	if (c->passfile[0] != '\0' && read_pass(c->passfile) < 0)
		return -1;
	if (c->user[0] != '\0' && c->passfile[0] == '\0')
		log_msg(LOG_WARNING, "shared cache: SharedCacheUser %s without SharedCachePasswordFile: "
		    "no AUTH is sent", c->user);
	if (!R.key_made) {
		if ((rc = pthread_key_create(&R.key, thread_end)) != 0) {
			log_msg(LOG_ERR, "shared cache: pthread_key_create: %s", strerror(rc));
			return -1;
		}
		R.key_made = 1;
	}
	/*
	 * hiredis writes with write(2): a server that closed the connection
	 * (restarted, or its idle timeout) must cost a failed command, not
	 * the process. The milter ignores SIGPIPE already; the commands
	 * get the same here.
	 */
	signal(SIGPIPE, SIG_IGN);
	atomic_store(&down, 0);
	atomic_store(&last_try, 0);
	R.on = 1;
	return 0;
}

void
rconn_shutdown(void)
{
	int i;

	pthread_mutex_lock(&R.mu);
	R.on = 0;
	for (i = 0; i < R.npool; i++)
		redisFree(R.pool[i].c);
	R.npool = 0;
	pthread_mutex_unlock(&R.mu);
	/* contexts still held by live threads are dropped by them (generation) */
	atomic_fetch_add(&gen, 1);
}

int
rconn_enabled(void)
{
	return R.on;
}

int
rconn_up(void)
{
	return R.on && !atomic_load(&down);
}

const char *
rconn_prefix(void)
{
	return R.prefix;
}

msec_t
rconn_timeout_ms(void)
{
	return R.timeout_ms;
}

/* mark_down - sharing stops (one warning for the process); the next try is in RETRY_MS */
static void
mark_down(const char *what, const char *detail)
{
	atomic_store(&last_try, util_now_ms());
	if (atomic_exchange(&down, 1) == 0) {
		atomic_fetch_add(&gen, 1);
		log_msg(LOG_WARNING, "shared cache: unavailable (%s%s%s); deciding locally, "
		    "retrying every second", what, detail[0] ? ": " : "", detail);
	}
}

/* io_why - the text for a failed I/O on c: a time-out says so */
static const char *
io_why(const redisContext *c)
{
	return c->err == REDIS_ERR_IO && strstr(c->errstr, "temporarily unavailable") != NULL ?
	    "no answer within SharedCacheTimeout" : c->errstr;
}

/* reply_ok - the reply is +OK; else the error text into why */
static int
reply_ok(redisContext *c, redisReply *r, char *why, size_t n)
{
	int ok = r != NULL && r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0;

	if (!ok) {
		if (r == NULL)
			util_strlcpy(why, io_why(c), n);
		else if (r->type == REDIS_REPLY_ERROR)
			util_sanitize(why, n, r->str, r->len > 100 ? 100 : r->len);
		else
			util_strlcpy(why, "unexpected reply", n);
	}
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

/*
 * connect_one - a new context: connect, AUTH, SELECT under one deadline
 * of the timeout. NULL (and sharing marked down) on any failure.
 */
static redisContext *
connect_one(void)
{
	msec_t deadline = util_now_ms() + R.timeout_ms;
	char why[160] = "";	/* SELECT may fail at redisSetTimeout, before reply_ok says why */
	redisContext *c;
	redisReply *r;
	int noreply;

	if (R.t.unix_sock)
		c = redisConnectUnixWithTimeout(R.t.host, tv_ms(R.timeout_ms));
	else
		c = redisConnectWithTimeout(R.t.host, R.t.port, tv_ms(R.timeout_ms));
	if (c == NULL) {
		mark_down("connect", "out of memory");
		return NULL;
	}
	if (c->err) {
		mark_down("connect", c->errstr);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv_ms(util_left_ms(deadline, 0))) != REDIS_OK) {
		mark_down("connect", "cannot set the time-out");
		redisFree(c);
		return NULL;
	}
	if (R.have_pass) {
		if (R.user[0] != '\0')
			r = redisCommand(c, "AUTH %s %s", R.user, R.pass);
		else
			r = redisCommand(c, "AUTH %s", R.pass);
		noreply = r == NULL;
		if (!reply_ok(c, r, why, sizeof(why))) {
			/* no reply is a slow server, an error reply a refusal */
			mark_down(noreply ? "AUTH" : "AUTH refused", why);
			redisFree(c);
			return NULL;
		}
	}
	if (R.t.db != 0) {
		if (redisSetTimeout(c, tv_ms(util_left_ms(deadline, 0))) != REDIS_OK ||
		    !reply_ok(c, redisCommand(c, "SELECT %d", R.t.db), why, sizeof(why))) {
			mark_down("SELECT", why);
			redisFree(c);
			return NULL;
		}
	}
	if (util_left_ms(deadline, 0) <= 0) {
		/* it answered, but too slowly to be of use */
		mark_down("connect", "slower than SharedCacheTimeout");
		redisFree(c);
		return NULL;
	}
	/*
	 * The caller's first command gets what is left of the deadline, so
	 * that connecting and asking together take no longer than the
	 * time-out; rconn_get gives the context the whole time-out again
	 * the next time (short_tv).
	 */
	redisSetTimeout(c, tv_ms(util_left_ms(deadline, 0)));
	return c;
}

redisContext *
rconn_get(void)
{
	struct local *l;
	unsigned g;
	int was_down;

	if (!R.on)
		return NULL;
	if ((l = pthread_getspecific(R.key)) == NULL) {
		if ((l = calloc(1, sizeof(*l))) == NULL)
			return NULL;
		if (pthread_setspecific(R.key, l) != 0) {
			free(l);
			return NULL;
		}
	}
	g = atomic_load(&gen);
	was_down = atomic_load(&down);
	if (l->c != NULL && l->gen == g && !was_down && !closed(l->c)) {
		if (l->short_tv) {
			redisSetTimeout(l->c, tv_ms(R.timeout_ms));
			l->short_tv = 0;
		}
		return l->c;
	}
	if (l->c != NULL) {
		redisFree(l->c);
		l->c = NULL;
	}
	if (was_down) {
		msec_t now = util_now_ms(), last = atomic_load(&last_try);

		/* one attempt per second for the whole process; the rest go on alone */
		if (now - last < RETRY_MS ||
		    !atomic_compare_exchange_strong(&last_try, &last, now))
			return NULL;
	} else if ((l->c = pool_take(g)) != NULL) {
		l->gen = g;
		l->short_tv = 0;
		return l->c;
	}
	if ((l->c = connect_one()) == NULL)
		return NULL;
	l->short_tv = 1;
	if (was_down && atomic_exchange(&down, 0) == 1)
		log_msg(LOG_NOTICE, "shared cache: available again; sharing resumes");
	l->gen = atomic_load(&gen);
	return l->c;
}

void
rconn_failed(redisContext *c, const char *what)
{
	struct local *l = R.key_made ? pthread_getspecific(R.key) : NULL;
	char detail[160];

	detail[0] = '\0';
	if (c != NULL && c->err)
		util_strlcpy(detail, io_why(c), sizeof(detail));
	/* only this thread's own context is freed (rconn.h) */
	if (l != NULL && c != NULL && l->c == c) {
		l->c = NULL;
		redisFree(c);
	}
	mark_down(what != NULL ? what : "error", detail);
}

int
rconn_key(char *buf, size_t n, const char *kind, const char *rest)
{
	const unsigned char *p;
	int len;

	for (p = (const unsigned char *)kind; *p; p++)
		if (*p < 'a' || *p > 'z')
			return -1;
	if (*kind == '\0' || *rest == '\0')
		return -1;
	for (p = (const unsigned char *)rest; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return -1;
	len = snprintf(buf, n, "%sv1:%s:%s", R.prefix, kind, rest);
	if (len < 0 || (size_t)len >= n || len > RCONN_KEY_MAX)
		return -1;
	return len;
}
