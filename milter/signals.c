/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * signals - the self-pipe between signal handlers and the main loop
 * (see signals.h and run.c for why libmilter must not see the signals).
 *
 * libmilter starts its own signal thread in smfi_main, which sigwait()s
 * for SIGHUP, SIGTERM and SIGINT and stops the filter on any of them.
 * Linux offers a process-directed signal to the thread-group leader
 * first whenever that thread does not block it, so with the signals
 * unblocked only in the main thread, libmilter's sigwait() never sees
 * them. The handler only writes one byte (async-signal-safe); a full
 * pipe means a signal of that kind is pending anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

static int sigpipe_fd[2] = { -1, -1 };
static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };
#define NSIGS	(sizeof(sigs) / sizeof(sigs[0]))

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(sigpipe_fd[1], &b, 1) < 0) {
		/* the pipe is full: a signal of this kind is pending anyway */
	}
	errno = saved;
}

static void
sigset_ours(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < NSIGS; i++)
		sigaddset(set, sigs[i]);
}

void
signals_block(void)
{
	sigset_t set;

	sigset_ours(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
signals_open(void)
{
	return pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK);
}

void
signals_take(void)
{
	struct sigaction sa;
	sigset_t set;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < NSIGS; i++)
		sigaction(sigs[i], &sa, NULL);
	sigset_ours(&set);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int
signals_fd(void)
{
	return sigpipe_fd[0];
}

int
signals_next(void)
{
	unsigned char b;

	return read(sigpipe_fd[0], &b, 1) == 1 ? b : -1;
}

void
signals_wake(void)
{
	on_signal(0);
}
