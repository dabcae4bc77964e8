/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * verdict - the one vocabulary of outcomes (the verdicts of sav-probe(1)), and
 * the pure classification of SMTP replies into what they say about a
 * mailbox. No I/O.
 *
 * Rules that matter most: uncertainty never becomes a 5xx verdict; a
 * policy rejection (5.7.x, "blocked", "spamhaus", "blacklist", "relay",
 * "access denied", ...) is not "user unknown"; mailbox full (552, x.2.2
 * such as 452 4.2.2) means the mailbox exists; a bare 452 does not.
 */
#ifndef SAV_VERDICT_H
#define SAV_VERDICT_H

enum verdict {
	VERDICT_VALID,
	VERDICT_INVALID,
	VERDICT_BAD_DOMAIN,
	VERDICT_BAD_SYNTAX,
	VERDICT_CATCH_ALL,
	VERDICT_UNKNOWN,
	VERDICT_TEMPFAIL,
	VERDICT_SKIPPED,
	VERDICT_ERROR,
	VERDICT_COUNT
};

/* "valid", "invalid", "bad-domain", "bad-syntax", "catch-all", "unknown", "tempfail", "skipped", "error" */
const char *verdict_str(enum verdict v);
/* verdict_parse - name -> verdict; returns 0 on success, -1 when unknown */
int	verdict_parse(const char *s, enum verdict *out);

/* What one reply to RCPT TO (or VRFY) says about the mailbox. */
enum rcpt_class {
	RCPT_EXISTS,		/* 2xx (250, 251) */
	RCPT_NO_MAILBOX,	/* 5xx mailbox-level: 5.1.x (not 5.1.7/5.1.8 about the sender... see .c), 5.2.1, or 550/551/553 with no enhanced code and no policy wording */
	RCPT_MAILBOX_FULL,	/* 552, x.2.2 (452 4.2.2): exists */
	RCPT_POLICY,		/* 5xx policy: 5.7.x, blocklist/relay wording, anything else permanent not about the mailbox */
	RCPT_TEMP,		/* 4xx other than mailbox full (greylisting included) */
	RCPT_SYNTAX,		/* 501/553 "path too long"/syntax refusals of our command: unknown */
	RCPT_OTHER,		/* 5xx that proves nothing (500, 502, 503, 504, 554 without mailbox wording) */
};

/*
 * verdict_classify_rcpt - classify a reply by basic code, enhanced code
 * ("" if none) and sanitised text. Pure and table-driven.
 */
enum rcpt_class verdict_classify_rcpt(int code, const char *enhanced, const char *text);

/* verdict_policy_wording - non-zero when text (case-insensitive) holds blocklist/policy wording */
int	verdict_policy_wording(const char *text);

const char *rcpt_class_str(enum rcpt_class c);

/*
 * verdict_tls_required - non-zero when a 4xx/5xx reply to MAIL or RCPT
 * asks for TLS first ("530 5.7.0 Must issue a STARTTLS command first",
 * "454 4.7.0 encryption too weak"): about TLS, never the mailbox or
 * our sender.
 */
int	verdict_tls_required(int code, const char *enhanced, const char *text);

/* What a refusal of our MAIL FROM is about. */
enum mail_class {
	MAIL_OTHER,		/* not a 4xx/5xx */
	MAIL_TEMP,		/* 4xx without TLS wording */
	MAIL_TLS,		/* TLS first (any code) */
	MAIL_NULL_SENDER,	/* 5xx about the null sender: "refuses <>" */
	MAIL_POLICY,		/* 5xx about us, our client, or unexplained */
};

/* verdict_classify_mail - classify a reply to MAIL FROM. Pure. */
enum mail_class verdict_classify_mail(int code, const char *enhanced, const char *text);

const char *mail_class_str(enum mail_class c);

/*
 * Reasons: why a verification ended as it did, one value per token
 * (listed in sav-probe(1)).
 * Logs, JSON and the cache use the names of reason_str() (verdict.c
 * holds the one table), which are also the man page's spelling.
 * R_NONE is the empty reason. R_OTHER is never produced
 * here: it stands for a token read from the cache that this build
 * does not know (written by another version); such a record keeps its
 * stored verdict, as it always has.
 */
enum reason {
	R_NONE,
	R_USER_OK,
	R_USER_UNKNOWN,
	R_MAILBOX_FULL,
	R_GREYLISTED,
	R_TEMP_REPLY,
	R_POLICY_BLOCK,
	R_NULL_SENDER_REFUSED,
	R_GREETING_REFUSED,
	R_CATCH_ALL,
	R_NXDOMAIN,
	R_NULL_MX,
	R_NO_MAIL_HOST,
	R_BOGUS_MX,
	R_INVALID_TLD,
	R_BAD_IDN,
	R_BAD_DOMAIN_NAME,
	R_SERVFAIL,
	R_DNS_TIMEOUT,
	R_TIMEOUT,
	R_CONNECT_FAILED,
	R_PROTOCOL_ERROR,
	R_SERVICE_CLOSING,
	R_PRIVATE_TARGET,
	R_SELF_TARGET,
	R_SMTPUTF8_UNSUPPORTED,
	R_TOO_LONG,
	R_RCPT_SYNTAX,
	R_NO_DOMAIN,
	R_BAD_SYNTAX,
	R_ADDRESS_LITERAL,
	R_STARTTLS_REQUIRED,
	R_UNDETERMINED,
	R_RATE_LIMITED,
	R_BUDGET,
	R_CACHED_DOMAIN,
	R_NULL_SENDER,
	R_AUTHENTICATED,
	R_TRUSTED_NETWORK,
	R_EXEMPT_DOMAIN,
	R_LOCAL,
	R_PROBE_SENDER,
	R_SPF_PASS,
	R_INTERNAL,
	R_OTHER,
	R_COUNT
};

/* reason_str - the token of r ("" for R_NONE, "?" out of range) */
const char *reason_str(enum reason r);
/* reason_parse - token -> reason (exact, lowercase); 0 on success, -1 when unknown */
int	reason_parse(const char *s, enum reason *out);

#endif
