/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * script - fake_smtpd's script parser: a script file (the language is
 * described at the top of tests/tools/fake_smtpd.c, SCRIPT) into a
 * struct script, which the connection children only read. Any error
 * ends the program with the file and line (die); nothing is half
 * applied. Every line, reply and key is bounded (SCRIPT_LINE_MAX,
 * RS_MAX, RS_LINES, KEY_MAX, MAX_RULES).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>	/* the TLS1_x_VERSION numbers */

#include "fake_smtpd.h"

#define SCRIPT_LINE_MAX	8192
#define TLS_REQUIRED_REPLY "530 5.7.0 Must issue a STARTTLS command first"
/* a broken server that says 220 and then reads the ClientHello as commands */
#define TLS_GARBAGE_TEXT "500 5.5.2 Error: command not recognized\\r\\n"
#define TLS_INJECT_TEXT "250 2.1.5 Ok (injected before the TLS handshake)"

static const char *const stage_names[ST_COUNT] = {
	"greeting", "ehlo", "helo", "mail", "rcpt", "vrfy", "data",
	"dataend", "rset", "noop", "quit", "starttls", "other",
};

static const char *const default_replies[ST_COUNT] = {
	[ST_GREETING] = "220 fake.test ESMTP fake_smtpd",
	[ST_EHLO] = "250-fake.test|250-PIPELINING|250 8BITMIME",
	[ST_HELO] = "250 fake.test",
	[ST_MAIL] = "250 2.1.0 Ok",
	[ST_RCPT] = "550 5.1.1 User unknown",
	[ST_VRFY] = "502 5.5.1 VRFY command is disabled",
	[ST_DATA] = "354 End data with <CR><LF>.<CR><LF>",
	[ST_DATAEND] = "250 2.0.0 Ok: queued",
	[ST_RSET] = "250 2.0.0 Ok",
	[ST_NOOP] = "250 2.0.0 Ok",
	[ST_QUIT] = "221 2.0.0 Bye",
	[ST_STARTTLS] = "454 4.7.0 TLS not available",
	[ST_OTHER] = "502 5.5.2 Error: command not recognized",
};

static int
parse_stage(const char *w, int allow_any)
{
	int i;

	for (i = 0; i < ST_COUNT; i++)
		if (strcasecmp(w, stage_names[i]) == 0)
			return i;
	if (allow_any && strcasecmp(w, "any") == 0)
		return ST_ANY;
	return -1;
}

/*
 * rspec_parse - REPLY text -> lines. Returns NULL or a reason.
 */
static const char *
rspec_parse(const char *text, struct rspec *rs)
{
	size_t n = 0;
	const char *p;

	memset(rs, 0, sizeof(*rs));
	if (strcmp(text, "none") == 0) {
		rs->none = 1;
		return NULL;
	}
	if (*text == '\0')
		return "empty reply";
	rs->nlines = 1;
	rs->off[0] = 0;
	for (p = text; *p != '\0'; p++) {
		int c = (unsigned char)*p;

		if (c == '|') {
			rs->len[rs->nlines - 1] = n - rs->off[rs->nlines - 1];
			if (rs->nlines == RS_LINES)
				return "too many reply lines";
			rs->off[rs->nlines++] = n;
			continue;
		}
		if (c == '\\') {
			p++;
			switch (*p) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case '\\': c = '\\'; break;
			case '|': c = '|'; break;
			case 'x':
				if (!isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]))
					return "bad \\x escape";
				{
					char hex[3] = { p[1], p[2], '\0' };

					c = (int)strtol(hex, NULL, 16);
				}
				p += 2;
				break;
			default:
				return "bad escape";
			}
		}
		if (n >= sizeof(rs->data))
			return "reply too long";
		rs->data[n++] = (char)c;
	}
	rs->len[rs->nlines - 1] = n - rs->off[rs->nlines - 1];
	return NULL;
}

/* a 3-digit word is a reply code: the directive has no KEY */
static int
is_code(const char *w)
{
	return isdigit((unsigned char)w[0]) && isdigit((unsigned char)w[1]) &&
	    isdigit((unsigned char)w[2]) && (w[3] == '\0' || w[3] == ' ' ||
	    w[3] == '-');
}

static char *
next_word(char **pp)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	*pp = p;
	return w;
}

long
parse_num(const char *w, long min, long max, const char *file, int lineno)
{
	char *end;
	long v;

	if (w == NULL)
		die("%s:%d: number expected", file, lineno);
	errno = 0;
	v = strtol(w, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		die("%s:%d: bad number \"%s\" (want %ld..%ld)", file, lineno, w, min, max);
	return v;
}

void
script_defaults(struct script *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->idle_ms = 60000;
	sc->max_line = 2048;
	sc->tls_offer = -1;
	(void)rspec_parse(TLS_REQUIRED_REPLY, &sc->tls_required_reply);
}

/*
 * script_tls - "tls MODE [TEXT]", "tls-offer yes|no", "tls-ehlo
 * REPLY", "tls-max VERSION" and "tls-required [REPLY]" (p: the rest
 * of the line). Returns 1 when
 * cmd was one of them.
 */
static int
script_tls(struct script *sc, const char *cmd, char *p, const char *file, int lineno)
{
	static const struct { const char *w; enum tls_mode m; } modes[] = {
		{ "off", TLS_OFF }, { "handshake", TLS_HANDSHAKE }, { "garbage", TLS_GARBAGE },
		{ "close", TLS_CLOSE }, { "inject", TLS_INJECT }, { "stall", TLS_STALL },
		{ "trickle", TLS_TRICKLE },
	};
	const char *why, *text;
	char *w;
	size_t i;

	if (strcasecmp(cmd, "tls") == 0) {
		w = next_word(&p);
		for (i = 0; w != NULL && i < sizeof(modes) / sizeof(modes[0]); i++)
			if (strcasecmp(w, modes[i].w) == 0)
				break;
		if (w == NULL || i == sizeof(modes) / sizeof(modes[0]))
			die("%s:%d: tls off|handshake|garbage|close|inject|stall|trickle", file, lineno);
		sc->tls_mode = modes[i].m;
		sc->tls_mode_set = 1;
		if (sc->tls_mode == TLS_TRICKLE) {
			sc->tls_trickle_bytes = parse_num(next_word(&p), 1, 65536, file, lineno);
			sc->tls_trickle_ms = parse_num(next_word(&p), 0, 3600000, file, lineno);
			if (*p != '\0')
				die("%s:%d: tls trickle BYTES MS", file, lineno);
			return 1;
		}
		text = *p != '\0' ? p : sc->tls_mode == TLS_GARBAGE ? TLS_GARBAGE_TEXT :
		    TLS_INJECT_TEXT;
		if ((why = rspec_parse(text, &sc->tls_text)) != NULL || sc->tls_text.none)
			die("%s:%d: %s", file, lineno, why != NULL ? why : "text expected");
		if (sc->tls_mode == TLS_GARBAGE && sc->tls_text.nlines != 1)
			die("%s:%d: tls garbage: use \\| for a literal |", file, lineno);
		sc->tls_text_set = *p != '\0';
		return 1;
	}
	if (strcasecmp(cmd, "tls-offer") == 0) {
		w = next_word(&p);
		if (w == NULL || (strcasecmp(w, "yes") != 0 && strcasecmp(w, "no") != 0))
			die("%s:%d: tls-offer yes|no", file, lineno);
		sc->tls_offer = strcasecmp(w, "yes") == 0;
		return 1;
	}
	if (strcasecmp(cmd, "tls-ehlo") == 0) {
		if ((why = rspec_parse(p, &sc->tls_ehlo)) != NULL)
			die("%s:%d: %s", file, lineno, why);
		sc->tls_ehlo_set = 1;
		return 1;
	}
	if (strcasecmp(cmd, "tls-max") == 0) {
		static const struct { const char *w; int v; } vers[] = {
			{ "1.0", TLS1_VERSION }, { "1.1", TLS1_1_VERSION },
			{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION },
		};

		w = next_word(&p);
		for (i = 0; w != NULL && i < sizeof(vers) / sizeof(vers[0]); i++)
			if (strcmp(w, vers[i].w) == 0)
				break;
		if (w == NULL || i == sizeof(vers) / sizeof(vers[0]))
			die("%s:%d: tls-max 1.0|1.1|1.2|1.3", file, lineno);
		sc->tls_max = vers[i].v;
		return 1;
	}
	if (strcasecmp(cmd, "tls-required") == 0) {
		sc->tls_required = 1;
		if ((why = rspec_parse(*p != '\0' ? p : TLS_REQUIRED_REPLY,
				       &sc->tls_required_reply)) != NULL)
			die("%s:%d: %s", file, lineno, why);
		return 1;
	}
	return 0;
}

static void
script_line(struct script *sc, char *line, const char *file, int lineno)
{
	char *p = line, *cmd, *w, *rest;
	const char *why;
	int st;

	cmd = next_word(&p);
	if (cmd == NULL || cmd[0] == '#')
		return;
	/* rest of the line, trailing blanks removed */
	rest = p;
	{
		size_t n = strlen(rest);

		while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'))
			rest[--n] = '\0';
	}

	if ((st = parse_stage(cmd, 0)) >= 0 || strcasecmp(cmd, "banner") == 0) {
		if (st < 0)
			st = ST_GREETING;
		if (st == ST_MAIL || st == ST_RCPT || st == ST_VRFY) {
			if (*rest != '\0' && !is_code(rest) && strcmp(rest, "none") != 0) {
				char *q = rest;
				struct rule *r;

				w = next_word(&q);
				if (strcasecmp(w, "default") != 0) {
					if (sc->nrules == MAX_RULES)
						die("%s:%d: too many keyed rules", file, lineno);
					if (strlen(w) >= KEY_MAX)
						die("%s:%d: key too long", file, lineno);
					r = &sc->rules[sc->nrules];
					snprintf(r->key, sizeof(r->key), "%s", w);
					if ((why = rspec_parse(q, &r->reply)) != NULL)
						die("%s:%d: %s", file, lineno, why);
					sc->rule_stage[sc->nrules++] = (enum stage)st;
					return;
				}
				rest = q;
			}
		}
		if ((why = rspec_parse(rest, &sc->act[st].reply)) != NULL)
			die("%s:%d: %s", file, lineno, why);
		sc->act[st].reply_set = 1;
		if (st == ST_GREETING) {
			sc->have_garbage = 0;
			sc->banner_multi = 0;
		}
		return;
	}
	if (script_tls(sc, cmd, rest, file, lineno))
		return;
	if (strcasecmp(cmd, "banner-multi") == 0) {
		sc->banner_multi = (int)parse_num(next_word(&p), 1, 1000, file, lineno);
		return;
	}
	if (strcasecmp(cmd, "garbage") == 0) {
		struct rspec tmp;

		if ((why = rspec_parse(rest, &tmp)) != NULL || tmp.none)
			die("%s:%d: %s", file, lineno, why != NULL ? why : "garbage text expected");
		if (tmp.nlines != 1)
			die("%s:%d: garbage: use \\| for a literal |", file, lineno);
		memcpy(sc->garbage, tmp.data, tmp.len[0]);
		sc->garbage_len = tmp.len[0];
		sc->have_garbage = 1;
		return;
	}
	if (strcasecmp(cmd, "delay") == 0) {
		w = next_word(&p);
		if (w == NULL || (st = parse_stage(w, 1)) < 0)
			die("%s:%d: delay STAGE MS", file, lineno);
		sc->act[st].delay_ms = parse_num(next_word(&p), 0, 3600000, file, lineno);
		return;
	}
	if (strcasecmp(cmd, "trickle") == 0) {
		long b = parse_num(next_word(&p), 1, 65536, file, lineno);
		long ms = parse_num(next_word(&p), 0, 3600000, file, lineno);

		st = ST_ANY;
		if ((w = next_word(&p)) != NULL && (st = parse_stage(w, 1)) < 0)
			die("%s:%d: unknown stage \"%s\"", file, lineno, w);
		sc->act[st].trickle_bytes = b;
		sc->act[st].trickle_ms = ms;
		return;
	}
	if (strcasecmp(cmd, "giant-line") == 0) {
		long n = parse_num(next_word(&p), 1, 64L * 1024 * 1024, file, lineno);

		st = ST_EHLO;
		if ((w = next_word(&p)) != NULL && (st = parse_stage(w, 0)) < 0)
			die("%s:%d: unknown stage \"%s\"", file, lineno, w);
		sc->act[st].giant = (unsigned long)n;
		return;
	}
	if (strcasecmp(cmd, "endless-multiline") == 0) {
		unsigned long cap = 10UL * 1024 * 1024;

		st = ST_EHLO;
		if ((w = next_word(&p)) != NULL) {
			if ((st = parse_stage(w, 0)) < 0)
				die("%s:%d: unknown stage \"%s\"", file, lineno, w);
			if ((w = next_word(&p)) != NULL)
				cap = (unsigned long)parse_num(w, 1, 256L * 1024 * 1024,
							       file, lineno);
		}
		sc->act[st].endless = cap;
		return;
	}
	if (strcasecmp(cmd, "disconnect") == 0 || strcasecmp(cmd, "disconnect-after") == 0 ||
	    strcasecmp(cmd, "421-at") == 0 || strcasecmp(cmd, "reset-at") == 0) {
		w = next_word(&p);
		if (w == NULL || (st = parse_stage(w, 0)) < 0)
			die("%s:%d: %s STAGE", file, lineno, cmd);
		if (strcasecmp(cmd, "disconnect") == 0)
			sc->act[st].abort = AB_DISCONNECT;
		else if (strcasecmp(cmd, "disconnect-after") == 0)
			sc->act[st].abort = AB_PARTIAL;
		else if (strcasecmp(cmd, "421-at") == 0)
			sc->act[st].abort = AB_421;
		else
			sc->act[st].abort = AB_RESET;
		return;
	}
	if (strcasecmp(cmd, "close-after") == 0) {
		w = next_word(&p);
		if (w == NULL || (st = parse_stage(w, 0)) < 0)
			die("%s:%d: close-after STAGE [N]", file, lineno);
		w = next_word(&p);
		sc->act[st].close_after = w != NULL ? parse_num(w, 1, 1000, file, lineno) : 1;
		return;
	}
	if (strcasecmp(cmd, "batch") == 0) {
		sc->batch = 1;
		return;
	}
	if (strcasecmp(cmd, "bare-lf") == 0) {
		sc->bare_lf = 1;
		return;
	}
	if (strcasecmp(cmd, "idle") == 0) {
		sc->idle_ms = parse_num(next_word(&p), 1, 3600000, file, lineno);
		return;
	}
	if (strcasecmp(cmd, "max-line") == 0) {
		sc->max_line = (size_t)parse_num(next_word(&p), 16, 65536, file, lineno);
		return;
	}
	die("%s:%d: unknown directive \"%s\"", file, lineno, cmd);
}

void
script_load(struct script *sc, const char *file)
{
	char line[SCRIPT_LINE_MAX + 2];
	FILE *fp;
	int lineno = 0;
	size_t n;

	if ((fp = fopen(file, "r")) == NULL)
		die("%s: %s", file, strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		n = strlen(line);
		if (n > 0 && line[n - 1] != '\n' && !feof(fp))
			die("%s:%d: line too long", file, lineno);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		script_line(sc, line, file, lineno);
	}
	if (ferror(fp))
		die("%s: read error", file);
	fclose(fp);
}

/* script_default_reply - the built-in reply of stage st, parsed into tmp */
const struct rspec *
script_default_reply(enum stage st, struct rspec *tmp)
{
	const char *why = rspec_parse(default_replies[st], tmp);

	(void)why;	/* the built-in replies are well-formed */
	return tmp;
}
