/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * signals - how sav-milter takes SIGHUP, SIGTERM and SIGINT away from
 * libmilter: block them before any thread starts (so every libmilter
 * thread inherits the mask), then, once smfi_main runs in its own
 * thread, take them in the main thread through handlers that write the
 * signal number to a self-pipe.
 */
#ifndef SAV_MILTER_SIGNALS_H
#define SAV_MILTER_SIGNALS_H

/* signals_block - block the three signals in this thread (before any other thread starts); SIGPIPE ignored */
void	signals_block(void);

/* signals_open - the self-pipe; 0, or -1 with errno */
int	signals_open(void);

/* signals_take - install the handlers and unblock the signals in this thread */
void	signals_take(void);

/* signals_fd - the self-pipe's read end, to poll */
int	signals_fd(void);

/* signals_next - the next signal number written to the pipe, 0 for a wake-up, -1 when none is pending */
int	signals_next(void);

/* signals_wake - write a wake-up (0) to the pipe: async-signal-safe, from any thread */
void	signals_wake(void);

#endif
