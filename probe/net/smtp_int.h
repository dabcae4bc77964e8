/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtp_int - what smtp.c (the dialogue) and smtp_io.c (its commands and
 * replies) share: the session and the I/O steps. Not a contract between
 * modules; nothing outside probe/net/smtp*.c includes it.
 */
#ifndef SAV_SMTP_INT_H
#define SAV_SMTP_INT_H

#include "netio.h"
#include "reply.h"
#include "smtp.h"

#define SMTP_LINE_MAX	512	/* RFC 5321 4.5.3.1.4, CRLF included */
#define SMTP_QUIT_MS	1000	/* default wait for the 221 */
#define SMTP_TRACE_MAX	600	/* server text shown per trace line */
#define SMTP_FIN_MS	500	/* most wait for the server's close after the 221 */

struct smtp_sess {
	const struct smtp_params *p;
	struct smtp_outcome *out;
	struct netio n;
	msec_t	deadline;	/* the probe's deadline, or the end of this address's share */
	msec_t	first_by;	/* 0, or when the first line of the next reply is due (greeting) */
	int	quit_sent;	/* QUIT went out (with the pipelined batch) */
	char	peer[64];
};

/* what each stage's reply is called in errors and the trace */
extern const char *const smtp_stage_what[];

void	smtp_err(struct smtp_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
msec_t	smtp_step_deadline(const struct smtp_sess *s, msec_t step_ms);
void	smtp_trace_cmd(const struct smtp_sess *s, const char *buf, size_t len);
enum smtp_status smtp_send(struct smtp_sess *s, const char *buf, size_t len, const char *what,
	  msec_t step_ms);
enum smtp_status smtp_read(struct smtp_sess *s, struct reply *r, enum smtp_stage stage,
	  msec_t step_ms);
enum smtp_status smtp_no_trailing(struct smtp_sess *s, enum smtp_stage stage);
enum smtp_status smtp_answer(struct smtp_sess *s, struct reply *r, enum smtp_stage stage);
enum smtp_status smtp_cmd(struct smtp_sess *s, const char *line, enum smtp_stage stage,
	 struct reply *r);
int	smtp_cmd_kept(struct smtp_sess *s, const char *line, enum smtp_stage stage, struct reply *r);
int	smtp_due(struct smtp_sess *s, enum smtp_stage stage, msec_t step_ms, struct reply *r);
int	smtp_quit(struct smtp_sess *s, int random_due);
void	smtp_settle(struct smtp_sess *s, int quit_rc);
int	smtp_after_fail(struct smtp_sess *s, enum smtp_status st, const struct reply *r);

#endif
