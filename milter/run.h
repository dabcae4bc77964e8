/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * run - sav-milter's running phase: libmilter's smfi_main in a thread
 * of its own, and the main thread's loop that takes the signals:
 * SIGHUP reloads, SIGTERM and SIGINT stop within a second.
 */
#ifndef SAV_MILTER_RUN_H
#define SAV_MILTER_RUN_H

#include "daemon.h"

struct run_args {
	const char *confpath;		/* for reloads */
	int	explicit;		/* -c given */
	const char *socket_override;	/* -p, or NULL */
	const struct sockspec *sock;	/* the listening socket, to wake the listener */
	const char *statsfile;		/* StatsFile, "" or NULL: none */
	msec_t	stats_interval_ms;	/* StatsInterval */
};

/*
 * run_milter - start smfi_main and serve signals until a stop or until
 * libmilter ends on its own. Returns a sysexits.h status. The caller
 * has blocked the signals (signals_block) before any thread started.
 */
int	run_milter(const struct run_args *a);

#endif
