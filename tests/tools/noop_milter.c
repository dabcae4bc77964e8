/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * noop_milter - a do-nothing libmilter filter, the baseline that
 * `make bench-milter` measures sav-milter against.
 *
 *	noop_milter -p SPEC
 *
 *	-p	libmilter socket: unix:/path, inet:PORT@IP, inet6:PORT@IP
 *
 * Every callback is registered (connect, helo, envfrom, envrcpt, data,
 * header, eoh, body, eom, abort, close, unknown) and each one returns
 * SMFIS_CONTINUE at once; there is no xxfi_negotiate, so the filter
 * asks for every event and every reply the MTA offers, as the
 * simplest real filters do. It requests no actions (flags 0). A unix
 * socket is made mode 0666 so that an MTA running as another user can
 * connect (it only ever says "continue"). A stale socket is removed at
 * start. It runs in the foreground until SIGTERM or SIGINT (libmilter
 * handles those), and prints "noop_milter: listening on SPEC" to
 * standard error once the socket is open.
 *
 * Thread rules: libmilter calls the callbacks from its worker threads;
 * they touch no state.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

static sfsistat
noop_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	return SMFIS_CONTINUE;
}

static sfsistat
noop_helo(SMFICTX *ctx, char *name)
{
	return SMFIS_CONTINUE;
}

static sfsistat
noop_args(SMFICTX *ctx, char **argv)
{
	return SMFIS_CONTINUE;
}

static sfsistat
noop_header(SMFICTX *ctx, char *name, char *value)
{
	return SMFIS_CONTINUE;
}

static sfsistat
noop_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	return SMFIS_CONTINUE;
}

static sfsistat
noop_event(SMFICTX *ctx)
{
	return SMFIS_CONTINUE;
}

static sfsistat
noop_unknown(SMFICTX *ctx, const char *cmd)
{
	return SMFIS_CONTINUE;
}

static struct smfiDesc noop_desc = {
	.xxfi_name = "noop_milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = 0,
	.xxfi_connect = noop_connect,
	.xxfi_helo = noop_helo,
	.xxfi_envfrom = noop_args,
	.xxfi_envrcpt = noop_args,
	.xxfi_header = noop_header,
	.xxfi_eoh = noop_event,
	.xxfi_body = noop_body,
	.xxfi_eom = noop_event,
	.xxfi_abort = noop_event,
	.xxfi_close = noop_event,
	.xxfi_unknown = noop_unknown,
	.xxfi_data = noop_event,
	.xxfi_negotiate = NULL,
};

int
main(int argc, char **argv)
{
	const char *spec = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		if (ch != 'p')
			goto usage;
		spec = optarg;
	}
	if (spec == NULL || optind != argc)
		goto usage;
	if (smfi_setconn((char *)spec) != MI_SUCCESS || smfi_register(noop_desc) != MI_SUCCESS) {
		fprintf(stderr, "noop_milter: bad socket \"%s\"\n", spec);
		return 1;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "noop_milter: cannot open %s\n", spec);
		return 1;
	}
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		if (chmod(strchr(spec, ':') + 1, 0666) != 0) {
			perror("noop_milter: chmod socket");
			return 1;
		}
	}
	fprintf(stderr, "noop_milter: listening on %s\n", spec);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
usage:
	fprintf(stderr, "usage: noop_milter -p SPEC (unix:/path, inet:PORT@IP)\n");
	return 1;
}
