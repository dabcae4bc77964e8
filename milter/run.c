/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * run - smfi_main in its own thread, the signal loop in the main
 * thread (see signals.c for how the signals are kept from libmilter).
 *
 * libmilter's listener only notices smfi_stop() when its 5 second
 * select() times out, and its own signal handling would stop the
 * filter on SIGHUP. We want SIGHUP to reload and SIGTERM to stop within
 * a second, so:
 *   - smfi_main runs in a second thread, so the blocked signal mask it
 *     sets (and every libmilter thread inherits) is not the main
 *     thread's;
 *   - to stop, smfi_stop() runs in a helper thread (it waits for the
 *     listener's lock), and the main thread connects to the listening
 *     socket to wake the listener's select() at once. Connections in
 *     progress get a short grace period.
 * SIGHUP re-reads the configuration and installs it only if it loads
 * cleanly; each connection keeps the snapshot it started with (ctx.c),
 * so nothing is dropped. The restart-only keys (conf.c's table marks
 * them) need a restart; a warning names those whose value changed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "conf.h"
#include "ctx.h"
#include "daemon.h"
#include "log.h"
#include "run.h"
#include "signals.h"
#include "stats.h"
#include "util.h"

#define STOP_GRACE_MS	600	/* connections in progress, after the listener stopped */

static atomic_int smfi_done;
static int smfi_result;

static void *
smfi_thread(void *arg)
{
	smfi_result = smfi_main();
	atomic_store(&smfi_done, 1);
	/* wake the main thread's poll */
	signals_wake();
	return NULL;
}

static void *
stop_thread(void *arg)
{
	smfi_stop();
	return NULL;
}

/* reload - SIGHUP: install the new configuration only if it is valid */
static void
reload(const char *path, int explicit, const char *socket_override)
{
	struct snap *s, *cur;
	char err[1024], changed[512];
	size_t nchanged;

	if ((s = snap_new()) == NULL) {
		log_msg(LOG_ERR, "reload: out of memory; keeping the running configuration");
		return;
	}
	if (daemon_load(&s->conf, path, explicit, socket_override, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "reload: %s; keeping the running configuration", err);
		free(s);
		return;
	}
	cur = snap_acquire();
	nchanged = conf_restart_changes(&cur->conf, &s->conf, changed, sizeof(changed));
	if (nchanged > 0)
		log_msg(LOG_WARNING, "reload: %s change%s only on restart", changed,
			nchanged == 1 ? "s" : "");
	snap_release(cur);
	s->conf.probe.cache = milter.cache;
	snap_install(s);
	log_msg(LOG_INFO, "configuration reloaded from %s%s", path,
		access(path, F_OK) == 0 ? "" : " (defaults)");
}

/*
 * stop - SIGTERM: stop the listener at once (smfi_stop plus a wake-up
 * connection), give connections in progress a short grace period.
 */
static void
stop(const struct sockspec *ss)
{
	pthread_t t;
	msec_t deadline;
	int fd;

	if (pthread_create(&t, NULL, stop_thread, NULL) == 0)
		pthread_detach(t);
	else
		log_msg(LOG_ERR, "cannot start the stop thread");
	deadline = util_now_ms() + 2000;
	while (!atomic_load(&smfi_done) && util_now_ms() < deadline) {
		/* the poke lands in the listener's accept() and is closed at once */
		if ((fd = daemon_sock_connect(ss)) >= 0)
			close(fd);
		poll(NULL, 0, 20);
	}
	deadline = util_now_ms() + STOP_GRACE_MS;
	while (ctx_sessions() > 0 && util_now_ms() < deadline)
		poll(NULL, 0, 10);
}

int
run_milter(const struct run_args *a)
{
	pthread_t tid;
	int exitcode = EX_OK, sig;

	if (signals_open() < 0) {
		log_msg(LOG_ERR, "pipe: %s", strerror(errno));
		return EX_OSERR;
	}
	if (pthread_create(&tid, NULL, smfi_thread, NULL) != 0) {
		log_msg(LOG_ERR, "cannot start the milter thread");
		return EX_OSERR;
	}
	/*
	 * Before signals_take: the writer inherits the blocked mask, so only
	 * this thread takes the signals. No file is no reason to stop the
	 * mail: a failure is logged.
	 */
	if (a->statsfile != NULL && a->statsfile[0] != '\0')
		(void)stats_writer_start(a->statsfile, a->stats_interval_ms);
	signals_take();

	for (;;) {
		struct pollfd pfd = { .fd = signals_fd(), .events = POLLIN };
		int stopping = 0;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		while ((sig = signals_next()) >= 0) {
			if (sig == SIGHUP)
				reload(a->confpath, a->explicit, a->socket_override);
			else if (sig == SIGTERM || sig == SIGINT)
				stopping = 1;
		}
		if (stopping) {
			log_msg(LOG_INFO, "stopping");
			stop(a->sock);
			break;
		}
		if (atomic_load(&smfi_done)) {
			log_msg(LOG_ERR, "libmilter stopped on its own (%s)",
				smfi_result == MI_SUCCESS ? "no error" : "failure");
			exitcode = smfi_result == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
			break;
		}
	}
	if (atomic_load(&smfi_done))
		pthread_join(tid, NULL);
	/* after the grace period: the decisions of the last sessions are in */
	stats_writer_stop();
	return exitcode;
}
