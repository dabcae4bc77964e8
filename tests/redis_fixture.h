/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * redis_fixture.h - a real redis-server for a unit test, on a unix
 * socket in a fresh temp dir (no TCP port, nothing persisted).
 * Header-only: static functions, include it from one test file.
 *
 *	struct redisfx fx;
 *	if (!redisfx_available())
 *		... skip, saying so (redisfx_skip) ...
 *	if (redisfx_start(&fx) != 0)
 *		... fx.err says why ...
 *	redisContext *c = redisfx_connect(&fx, 500);
 *	...
 *	redisfx_stop(&fx);
 *
 * The server gets SIGKILL when the process that started it dies, so a
 * crashed test (Check forks one process per test) leaves no server
 * behind. redisfx_pause/redisfx_resume stop and continue it (SIGSTOP,
 * SIGCONT), for the "Redis paused" cases.
 */
#ifndef SAV_TESTS_REDIS_FIXTURE_H
#define SAV_TESTS_REDIS_FIXTURE_H

#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define REDISFX_BIN		"redis-server"
#define REDISFX_START_MS	5000

struct redisfx {
	pid_t	pid;			/* 0: not running */
	char	dir[64];		/* mkdtemp directory, "" if none */
	char	sock[128];		/* its unix socket */
	char	err[256];		/* why redisfx_start() failed */
};

#define REDISFX_FN static __attribute__((unused))

/* redisfx_available - is redis-server on PATH? */
REDISFX_FN int
redisfx_available(void)
{
	const char *path = getenv("PATH");
	char buf[512];

	if (path == NULL)
		path = "/usr/bin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");

		if (n > 0 && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path,
		    REDISFX_BIN) < sizeof(buf) && access(buf, X_OK) == 0)
			return 1;
		path += n;
		if (*path == ':')
			path++;
	}
	return 0;
}

/* redisfx_skip - the visible line a suite prints when it cannot run (run-units.sh shows it) */
REDISFX_FN void
redisfx_skip(const char *suite)
{
	printf("SKIP: %s: %s not found on PATH (apt-get install redis-server); "
	    "the shared-cache cases did not run\n", suite, REDISFX_BIN);
	fflush(stdout);
}

REDISFX_FN long
redisfx_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* redisfx_connect - a context on the server's socket with a timeout of ms on every command, or NULL */
REDISFX_FN redisContext *
redisfx_connect(const struct redisfx *fx, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	redisContext *c = redisConnectUnixWithTimeout(fx->sock, tv);

	if (c == NULL)
		return NULL;
	if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* redisfx_ping - does the server answer PING? */
REDISFX_FN int
redisfx_ping(const struct redisfx *fx)
{
	redisContext *c = redisfx_connect(fx, 200);
	redisReply *r;
	int ok = 0;

	if (c == NULL)
		return 0;
	if ((r = redisCommand(c, "PING")) != NULL) {
		ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
		freeReplyObject(r);
	}
	redisFree(c);
	return ok;
}

/* redisfx_stop - kill the server, remove its files; safe to call twice */
REDISFX_FN void
redisfx_stop(struct redisfx *fx)
{
	char log[160];

	if (fx->pid > 0) {
		kill(fx->pid, SIGKILL);
		kill(fx->pid, SIGCONT);
		while (waitpid(fx->pid, NULL, 0) < 0 && errno == EINTR)
			;
		fx->pid = 0;
	}
	if (fx->dir[0] != '\0') {
		unlink(fx->sock);
		snprintf(log, sizeof(log), "%s/redis.log", fx->dir);
		unlink(log);
		rmdir(fx->dir);
		fx->dir[0] = '\0';
	}
}

/* redisfx_start - start redis-server and wait until it answers; 0, or -1 with fx->err */
REDISFX_FN int
redisfx_start(struct redisfx *fx)
{
	pid_t parent = getpid();
	char log[160];
	long t0;
	int status;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/sav-redisfx.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		snprintf(fx->err, sizeof(fx->err), "mkdtemp: %s", strerror(errno));
		fx->dir[0] = '\0';
		return -1;
	}
	snprintf(fx->sock, sizeof(fx->sock), "%s/redis.sock", fx->dir);
	snprintf(log, sizeof(log), "%s/redis.log", fx->dir);
	if ((fx->pid = fork()) < 0) {
		snprintf(fx->err, sizeof(fx->err), "fork: %s", strerror(errno));
		fx->pid = 0;
		redisfx_stop(fx);
		return -1;
	}
	if (fx->pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp(REDISFX_BIN, REDISFX_BIN, "--port", "0", "--unixsocket", fx->sock,
		    "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
		    "--dir", fx->dir, "--logfile", log, "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	for (t0 = redisfx_ms(); redisfx_ms() - t0 < REDISFX_START_MS;) {
		if (waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
			snprintf(fx->err, sizeof(fx->err), "%s exited at start (status %d)",
			    REDISFX_BIN, status);
			fx->pid = 0;
			redisfx_stop(fx);
			return -1;
		}
		if (access(fx->sock, F_OK) == 0 && redisfx_ping(fx))
			return 0;
		usleep(10000);
	}
	snprintf(fx->err, sizeof(fx->err), "%s did not answer within %d ms", REDISFX_BIN,
	    REDISFX_START_MS);
	redisfx_stop(fx);
	return -1;
}

REDISFX_FN void
redisfx_pause(const struct redisfx *fx)
{
	if (fx->pid > 0)
		kill(fx->pid, SIGSTOP);
}

REDISFX_FN void
redisfx_resume(const struct redisfx *fx)
{
	if (fx->pid > 0)
		kill(fx->pid, SIGCONT);
}

/* redisfx_int - run one command (printf form), return its integer reply, or -999 on any other reply */
REDISFX_FN long long
redisfx_int(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v = -999;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL)
		return -999;
	if (r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	freeReplyObject(r);
	return v;
}

/* redisfx_str - run one command, copy a string/status reply into buf ("" for nil, "?" otherwise) */
REDISFX_FN const char *
redisfx_str(redisContext *c, char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	snprintf(buf, n, "?");
	if (r == NULL)
		return buf;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		snprintf(buf, n, "%s", r->str);
	else if (r->type == REDIS_REPLY_NIL)
		buf[0] = '\0';
	freeReplyObject(r);
	return buf;
}

#endif
