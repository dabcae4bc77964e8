/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fake_fixture.h - run tests/tools/fake_smtpd (the scripted SMTP server)
 * for a test: check_smtp.c, check_limit.c. Header-only, like testns.h:
 * static functions, include it from one test file.
 *
 *	struct fake_smtpd sv;
 *	fake_start(&sv, NULL, NULL, "rcpt * 250 2.1.5 Ok\n");
 *	... connect to 127.0.0.1 port sv.port ...
 *	t = fake_stop(&sv);	(the transcript; the caller frees it)
 *
 * fake_start() writes the script into a fresh mkdtemp() directory (under
 * the directory it is given, /tmp without one), starts fake_smtpd on the
 * listen address (127.0.0.1:0 without one: a free port), and waits for
 * its ready file, which names the real port. It fails the test, with the
 * server's own output, if the server exits or is not ready within
 * FAKE_START_MS. The server gets SIGTERM when the test process dies, so
 * a failed test leaves nothing running; it also ends by itself after
 * FAKE_LIFETIME seconds. fake_stop() stops it (it then writes its STATS
 * line), reads the transcript and removes the directory.
 *
 * fake_smtpd is found through $FAKE_SMTPD, else next to the test binary,
 * else build/tests/fake_smtpd (make runs the suites from the top
 * directory). Without it every test that needs it fails and says so.
 *
 * Not thread-safe; one struct fake_smtpd per server.
 */
#ifndef SAV_FAKE_FIXTURE_H
#define SAV_FAKE_FIXTURE_H

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "util.h"

#define FAKE_BIN	"build/tests/fake_smtpd"
#define FAKE_LISTEN	"127.0.0.1:0"
#define FAKE_START_MS	5000
#define FAKE_LIFETIME	"60"	/* -T: seconds; the test stops it long before */
#define FAKE_MAXCONN	"400"	/* -c: room for check_limit's joe-job burst */
#define FAKE_TEXT_MAX	(1 << 20)	/* fake_read() keeps this much, less 1 */

struct fake_smtpd {
	char	dir[128];		/* mkdtemp directory, "" if none */
	char	script[PATH_MAX], transcript[PATH_MAX], ready[PATH_MAX], log[PATH_MAX];
	pid_t	pid;			/* 0: not running */
	int	port;
};

#define FAKE_FN static __attribute__((unused))

/* fake_path - where fake_smtpd is; buf holds the answer when it is built */
FAKE_FN const char *
fake_path(char *buf, size_t size)
{
	const char *env = getenv("FAKE_SMTPD");
	char self[PATH_MAX - 16], *slash;
	ssize_t n;

	if (env != NULL && env[0] != '\0')
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/fake_smtpd", self) < size &&
			    access(buf, X_OK) == 0)
				return buf;
		}
	}
	snprintf(buf, size, "%s", FAKE_BIN);
	return buf;
}

/* fake_read - a whole small file, NUL-terminated (caller frees); NULL: none */
FAKE_FN char *
fake_read(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (fp == NULL)
		return NULL;
	buf = malloc(FAKE_TEXT_MAX);
	ck_assert(buf != NULL);
	n = fread(buf, 1, FAKE_TEXT_MAX - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* fake_stop - stop the server, remove its files; returns the transcript (caller frees) */
FAKE_FN char *
fake_stop(struct fake_smtpd *sv)
{
	char *t;
	int status;

	if (sv->pid > 0) {
		kill(sv->pid, SIGTERM);
		while (waitpid(sv->pid, &status, 0) < 0 && errno == EINTR)
			;
		sv->pid = 0;
	}
	if (sv->dir[0] == '\0')
		return strdup("");
	t = fake_read(sv->transcript);
	unlink(sv->script);
	unlink(sv->transcript);
	unlink(sv->ready);
	unlink(sv->log);
	rmdir(sv->dir);
	sv->dir[0] = '\0';
	return t != NULL ? t : strdup("");
}

/* fake_file - sv->dir/name into buf, which must hold it */
FAKE_FN void
fake_file(const struct fake_smtpd *sv, char *buf, size_t size, const char *name)
{
	ck_assert_msg((size_t)snprintf(buf, size, "%s/%s", sv->dir, name) < size,
	    "%s/%s: path too long", sv->dir, name);
}

/*
 * fake_start - a server playing script on listen (NULL: FAKE_LISTEN),
 * its files under dir (NULL: /tmp); ready, with sv->port set, or the
 * test fails
 */
FAKE_FN void
fake_start(struct fake_smtpd *sv, const char *dir, const char *listen, const char *script)
{
	char path[PATH_MAX];
	const char *prog = fake_path(path, sizeof(path));
	const char *base = dir != NULL ? dir : "/tmp";
	char *ready, *log, *end;
	pid_t parent = getpid();
	msec_t until;
	FILE *fp;
	long port;
	int status;

	memset(sv, 0, sizeof(*sv));
	if (listen == NULL)
		listen = FAKE_LISTEN;
	ck_assert_msg(access(prog, X_OK) == 0, "fake_smtpd not found at %s (build it: "
	    "make build/tests/fake_smtpd, or set FAKE_SMTPD)", prog);
	ck_assert_msg((size_t)snprintf(sv->dir, sizeof(sv->dir), "%s/fake_smtpd.XXXXXX",
	    base) < sizeof(sv->dir), "%s: path too long", base);
	if (mkdtemp(sv->dir) == NULL) {
		sv->dir[0] = '\0';
		ck_abort_msg("mkdtemp under %s: %s", base, strerror(errno));
	}
	fake_file(sv, sv->script, sizeof(sv->script), "script");
	fake_file(sv, sv->transcript, sizeof(sv->transcript), "transcript");
	fake_file(sv, sv->ready, sizeof(sv->ready), "ready");
	fake_file(sv, sv->log, sizeof(sv->log), "log");
	fp = fopen(sv->script, "w");
	ck_assert_msg(fp != NULL, "open %s: %s", sv->script, strerror(errno));
	fputs(script, fp);
	ck_assert_msg(fclose(fp) == 0, "write %s failed", sv->script);

	sv->pid = fork();
	ck_assert_msg(sv->pid >= 0, "fork: %s", strerror(errno));
	if (sv->pid == 0) {
		int fd = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* the server dies with this test process, whatever happens */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(prog, "fake_smtpd", "-l", listen, "-s", sv->script, "-t", sv->transcript,
		    "-r", sv->ready, "-T", FAKE_LIFETIME, "-c", FAKE_MAXCONN, (char *)NULL);
		_exit(127);
	}
	until = util_now_ms() + FAKE_START_MS;
	while ((ready = fake_read(sv->ready)) == NULL) {
		if (waitpid(sv->pid, &status, WNOHANG) == sv->pid) {
			log = fake_read(sv->log);
			sv->pid = 0;
			free(fake_stop(sv));
			ck_abort_msg("fake_smtpd exited before listening (status 0x%x): %s",
			    status, log != NULL ? log : "(no log)");
		}
		if (util_now_ms() >= until) {
			free(fake_stop(sv));
			ck_abort_msg("fake_smtpd not ready after %d ms", FAKE_START_MS);
		}
		usleep(5000);
	}
	/* "ADDR PORT\n" */
	end = strrchr(ready, ' ');
	port = end != NULL ? strtol(end + 1, &end, 10) : 0;
	ck_assert_msg(port > 0 && port < 65536 && (*end == '\n' || *end == '\0'),
	    "bad ready file: %s", ready);
	sv->port = (int)port;
	free(ready);
}

/* fake_wait_close - wait up to ms until the transcript shows connection 1 ended */
FAKE_FN void
fake_wait_close(const struct fake_smtpd *sv, msec_t ms)
{
	msec_t until = util_now_ms() + ms;
	char *t;
	int done;

	for (;;) {
		t = fake_read(sv->transcript);
		done = t != NULL && (strstr(t, "\n1 CLOSE") != NULL ||
		    strncmp(t, "1 CLOSE", 7) == 0);
		free(t);
		if (done || util_now_ms() >= until)
			return;
		usleep(10000);
	}
}

#endif
