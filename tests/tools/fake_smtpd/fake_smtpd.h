/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fake_smtpd.h - what the files of fake_smtpd share: the script as
 * parsed (struct script) and the few helpers of the main file. Used by
 * nothing but fake_smtpd: tests/tools/fake_smtpd.c and the .c files
 * beside this header.
 */
#ifndef FAKE_SMTPD_H
#define FAKE_SMTPD_H

#include <stddef.h>

#define RS_MAX		8192	/* bytes in one scripted reply (a reply past netio's 4096-byte buffer) */
#define RS_LINES	64	/* lines in one scripted reply */
#define MAX_RULES	64
#define KEY_MAX		320
#define LOG_TEXT_MAX	1000

enum stage {
	ST_GREETING, ST_EHLO, ST_HELO, ST_MAIL, ST_RCPT, ST_VRFY, ST_DATA,
	ST_DATAEND, ST_RSET, ST_NOOP, ST_QUIT, ST_STARTTLS, ST_OTHER,
	ST_COUNT,
	ST_ANY = ST_COUNT
};

/* A scripted reply, escapes decoded, split into lines. */
struct rspec {
	int	none;
	int	nlines;
	size_t	len[RS_LINES];
	size_t	off[RS_LINES];
	char	data[RS_MAX];
};

struct rule {
	char	key[KEY_MAX];
	struct rspec reply;
};

enum abort_kind { AB_NONE, AB_DISCONNECT, AB_PARTIAL, AB_421, AB_RESET };

struct stage_act {
	struct rspec reply;		/* valid when reply_set */
	int	reply_set;
	long	delay_ms;
	long	trickle_bytes, trickle_ms;
	unsigned long giant;		/* giant-line N, 0: off */
	unsigned long endless;		/* endless-multiline cap, 0: off */
	enum abort_kind abort;
	long	close_after;		/* close after the reply to the Nth command, 0: off */
};

struct script {
	struct stage_act act[ST_COUNT + 1];	/* [ST_ANY]: delay, trickle */
	struct rule rules[MAX_RULES];
	enum stage rule_stage[MAX_RULES];
	int	nrules;
	int	banner_multi;
	int	have_garbage;
	size_t	garbage_len;
	char	garbage[RS_MAX];
	int	bare_lf;
	int	batch;			/* hold replies while commands are waiting */
	long	idle_ms;
	size_t	max_line;
};

/* fake_smtpd.c: the transcript and small helpers */
void	die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	tlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	esc(char *dst, size_t size, const char *src, size_t len);
long	now_ms(void);

/* script.c: the script language */
void	script_defaults(struct script *sc);
void	script_load(struct script *sc, const char *file);
long	parse_num(const char *w, long min, long max, const char *file, int lineno);
const struct rspec *script_default_reply(enum stage st, struct rspec *tmp);

/* conn.c: one connection, in its own child process */
void	conn_serve(int fd, unsigned long id, const struct script *sc, long end_ms)
	    __attribute__((noreturn));

#endif
