/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * verdict - the one vocabulary of outcomes (the verdicts of sav-probe(1)), and
 * the pure classification of SMTP replies into what they say about a
 * mailbox. No I/O.
 *
 * Rules that matter most: uncertainty never becomes a 5xx verdict; a
 * policy rejection (5.7.x, "blocked", "spamhaus", "blacklist", "relay",
 * "access denied", ...) is not "user unknown"; mailbox full (552, 452,
 * x.2.2) means the mailbox exists.
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
	RCPT_MAILBOX_FULL,	/* 552, 452, x.2.2: exists */
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
 * Reason tokens (listed in sav-probe(1)). Use these constants, never free text, so
 * logs, JSON and the cache agree.
 */
#define R_USER_OK		"user-ok"
#define R_USER_UNKNOWN		"user-unknown"
#define R_MAILBOX_FULL		"mailbox-full"
#define R_GREYLISTED		"greylisted"
#define R_TEMP_REPLY		"temp-reply"
#define R_POLICY_BLOCK		"policy-block"
#define R_NULL_SENDER_REFUSED	"null-sender-refused"
#define R_GREETING_REFUSED	"greeting-refused"
#define R_CATCH_ALL		"catch-all"
#define R_NXDOMAIN		"nxdomain"
#define R_NULL_MX		"null-mx"
#define R_NO_MAIL_HOST		"no-mail-host"
#define R_BOGUS_MX		"bogus-mx"
#define R_INVALID_TLD		"invalid-tld"
#define R_BAD_IDN		"bad-idn"
#define R_SERVFAIL		"servfail"
#define R_DNS_TIMEOUT		"dns-timeout"
#define R_TIMEOUT		"timeout"
#define R_CONNECT_FAILED	"connect-failed"
#define R_PROTOCOL_ERROR	"protocol-error"
#define R_SERVICE_CLOSING	"service-closing"
#define R_PRIVATE_TARGET	"private-target"
#define R_SELF_TARGET		"self-target"
#define R_SMTPUTF8_UNSUPPORTED	"smtputf8-unsupported"
#define R_TOO_LONG		"too-long"
#define R_RCPT_SYNTAX		"rcpt-syntax"
#define R_NO_DOMAIN		"no-domain"
#define R_BAD_SYNTAX		"bad-syntax"
#define R_ADDRESS_LITERAL	"address-literal"
#define R_STARTTLS_REQUIRED	"starttls-required"
#define R_UNDETERMINED		"undetermined"
#define R_RATE_LIMITED		"rate-limited"
#define R_BUDGET		"budget"
#define R_CACHED_DOMAIN		"domain-cached"
#define R_NULL_SENDER		"null-sender"
#define R_AUTHENTICATED		"authenticated"
#define R_TRUSTED_NETWORK	"trusted-network"
#define R_EXEMPT_DOMAIN		"exempt-domain"
#define R_LOCAL			"local-submission"
#define R_PROBE_SENDER		"probe-sender"
#define R_INTERNAL		"internal"

#endif
