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

/* what happens after "220 Ready to start TLS" (script "tls MODE") */
enum tls_mode {
	TLS_OFF,		/* no TLS: STARTTLS gets the starttls reply */
	TLS_HANDSHAKE,		/* a real handshake with the -C/-K certificate */
	TLS_GARBAGE,		/* bytes that are no ServerHello, after the ClientHello */
	TLS_CLOSE,		/* close right after the 220 */
	TLS_INJECT,		/* plaintext lines in the 220's write, then the handshake */
	TLS_STALL,		/* the 220, then silence */
	TLS_TRICKLE		/* a real handshake, its bytes sent slowly */
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
	enum tls_mode tls_mode;
	int	tls_mode_set;		/* a "tls" line was read */
	struct rspec tls_text;		/* garbage bytes (one line) or injected lines */
	int	tls_text_set;
	long	tls_trickle_bytes, tls_trickle_ms;	/* "tls trickle BYTES MS" */
	int	tls_offer;		/* STARTTLS in EHLO: -1 when TLS is on, 0, 1 */
	struct rspec tls_ehlo;		/* "tls-ehlo": EHLO reply inside TLS */
	int	tls_ehlo_set;
	int	tls_max;		/* highest protocol version (TLS1_x_VERSION), 0: any */
	int	tls_required;		/* MAIL, RCPT, VRFY, DATA need TLS first */
	struct rspec tls_required_reply;
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

/* tls.c: OpenSSL, server side (SSL is OpenSSL's type) */
struct ssl_st;
void	tls_load(const char *cert, const char *key);
int	tls_loaded(void);
struct ssl_st *tls_accept(int fd, unsigned long id, long timeout_ms, int max_version);
struct ssl_st *tls_accept_trickle(int fd, unsigned long id, long timeout_ms, int max_version,
				  long bytes, long ms);
long	tls_read(struct ssl_st *ssl, void *buf, size_t len);
long	tls_write(struct ssl_st *ssl, const void *buf, size_t len);
int	tls_pending(struct ssl_st *ssl);
void	tls_end(struct ssl_st *ssl, int notify);
const char *tls_mode_name(enum tls_mode m);

/* conn.c: one connection, in its own child process */
void	conn_serve(int fd, unsigned long id, const struct script *sc, long end_ms)
	    __attribute__((noreturn));

#endif
