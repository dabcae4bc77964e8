/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * verdict - verdict names, and what one RCPT (or VRFY) reply says
 * about a mailbox.
 *
 * DESCRIPTION
 *	verdict_str()/verdict_parse() map the verdict names of
 *	JSON, logs and the man pages (valid, invalid, ...).
 *	verdict_classify_rcpt() turns (basic code, enhanced code, text)
 *	into an rcpt_class. It is pure: no I/O, no state, no allocation.
 *
 * PRECEDENCE (first rule that matches wins)
 *	 1. code outside 200..599                        -> OTHER
 *	 2. 2xx -> EXISTS, except 252 ("cannot VRFY user, but will
 *	    accept") -> OTHER; 3xx -> OTHER
 *	 3. The enhanced code counts only when it is well formed and its
 *	    class equals the code's first digit; otherwise it is absent.
 *	 4. enhanced x.2.2 (mailbox full: 452 4.2.2, 552 5.2.2)
 *	                                                 -> MAILBOX_FULL
 *	 5. (none: a bare 452 is "insufficient system storage" or "too
 *	    many recipients" in RFC 5321, neither about the mailbox)
 *	 6. any other 4xx (greylisting 450/451 4.7.1, bare 452, 452 4.5.3
 *	    too many recipients, 452 4.3.1 system storage) -> TEMP
 *	 7. 552 with no enhanced code or 5.2.x (not 5.2.1), and no
 *	    policy wording                               -> MAILBOX_FULL
 *	 8. enhanced 5.7.x (incl. 530 5.7.0 STARTTLS)    -> POLICY
 *	 9. enhanced 5.1.7, 5.1.8: about OUR sender      -> POLICY
 *	10. enhanced 5.1.3: bad destination syntax      -> SYNTAX
 *	11. enhanced mailbox code 5.1.0, 5.1.1, 5.1.2, 5.1.6, 5.1.10
 *	    (Exchange RecipientNotFound), 5.2.1 (disabled), 5.2.4 (list
 *	    expansion failed: OpenSMTPD's answer for an unknown virtual
 *	    user, "524 5.2.4 Mailing list expansion problem")
 *	                 -> POLICY if STRONG wording, else NO_MAILBOX
 *	12. 501/553 with syntax wording ("syntax", "too long", ...)
 *	                                                 -> SYNTAX
 *	13. any policy wording (verdict_policy_wording: blocklists,
 *	    relay, policy, "prohibit", "sender", "connect", ...)
 *	                                                 -> POLICY
 *	14. any other well-formed enhanced code but x.0.0 (5.5.x, 5.1.4
 *	    ambiguous, 5.3.x, ...) outranks the wording: "550 5.5.1 User
 *	    unknown" names an invalid command            -> OTHER
 *	15. 550/551/553 with no enhanced code            -> NO_MAILBOX
 *	16. 550..559 with mailbox wording ("no such user", "user unknown",
 *	    "mailbox unavailable", "does not exist", ...), with no enhanced
 *	    code or the say-nothing x.0.0 (old Sendmail's "550 5.0.0
 *	    <u>... User unknown")                        -> NO_MAILBOX
 *	17. anything else (500, 502-504, 554 without wording)
 *	                                                 -> OTHER
 *
 *	The enhanced code outranks the basic code because it is the more
 *	specific statement: "452 4.5.3 Too many recipients" is not a full
 *	mailbox, "552 5.7.1 ..." is policy. Only uncertain outcomes result
 *	when in doubt: every fall-back is OTHER or POLICY, never
 *	NO_MAILBOX.
 *
 *	A reply at MAIL or RCPT with TLS wording (verdict_tls_required:
 *	"STARTTLS", "TLS", "SSL", "encrypt...") asks for TLS first; it is
 *	neither about the mailbox nor about our sender.
 *
 *	verdict_classify_mail() says what a refusal of our MAIL FROM is
 *	about: TLS first; the null sender (an address-status enhanced
 *	code x.1.x, the echoed "<>", or sender/bounce wording); or, in all
 *	other cases, us, our client address or a policy we cannot see
 *	("554 5.7.1 Client host blocked by local policy"). Only the
 *	second is evidence that the domain refuses <>.
 *
 *	STRONG wording (rule 11) is the short list that overrides an
 *	explicit mailbox code: blocklist names (spamhaus, spamcop,
 *	barracuda, sorbs, dnsbl, rbl), "blacklist", "blocklist",
 *	"denylist", "blocked", "reputation", "your ip", "client host",
 *	and a relay REFUSAL ("relay" together with "denied", "not
 *	permitted", "not allowed", "prohibited", "refused", "unable" or
 *	"do not"). The plain word "relay" is not strong: Postfix's
 *	"550 5.1.1 <u@d>: Recipient address rejected: User unknown in
 *	relay recipient table" is a real unknown user, as is "User unknown
 *	in virtual mailbox table". "Recipient address rejected" alone is
 *	not policy. "listed" is not strong either (Lotus Domino says
 *	"550 5.1.1 User not listed in public Name & Address Book").
 *
 * SECURITY
 *	The text of a reply often echoes the probed address, and the
 *	address is chosen by whoever forged the sender. Wording inside
 *	<...> (quote-aware) and in any blank-delimited token holding an
 *	'@' is therefore ignored, so that <spamhaus.blocked@victim> does
 *	not turn "user unknown" into "policy" and dodge the rejection.
 *	The whole reply text is examined (reply.c keeps all of it, up to
 *	the reply's byte cap): policy wording on the last of many long
 *	lines counts as it does on the first.
 *
 * THREADS
 *	Reentrant; all tables are const.
 */
#include <string.h>
#include <strings.h>

#include "reply.h"
#include "util.h"
#include "verdict.h"

#define WORD_SCAN_MAX	REPLY_FULL_MAX	/* text examined for wording: the whole reply */

static const char *const verdict_names[VERDICT_COUNT] = {
	[VERDICT_VALID] = "valid",
	[VERDICT_INVALID] = "invalid",
	[VERDICT_BAD_DOMAIN] = "bad-domain",
	[VERDICT_BAD_SYNTAX] = "bad-syntax",
	[VERDICT_CATCH_ALL] = "catch-all",
	[VERDICT_UNKNOWN] = "unknown",
	[VERDICT_TEMPFAIL] = "tempfail",
	[VERDICT_SKIPPED] = "skipped",
	[VERDICT_ERROR] = "error",
};

/*
 * The one table of reason names: logs, JSON, the cache's literal
 * tokens and doc/sav-probe.1 (tests/manlint.sh reads this table) use
 * these spellings. The cache's on-disk numbering is a separate,
 * append-only table in cache_rec.c.
 */
static const char *const reason_names[R_COUNT] = {
	[R_NONE] = "",
	[R_USER_OK] = "user-ok",
	[R_USER_UNKNOWN] = "user-unknown",
	[R_MAILBOX_FULL] = "mailbox-full",
	[R_GREYLISTED] = "greylisted",
	[R_TEMP_REPLY] = "temp-reply",
	[R_POLICY_BLOCK] = "policy-block",
	[R_NULL_SENDER_REFUSED] = "null-sender-refused",
	[R_GREETING_REFUSED] = "greeting-refused",
	[R_CATCH_ALL] = "catch-all",
	[R_NXDOMAIN] = "nxdomain",
	[R_NULL_MX] = "null-mx",
	[R_NO_MAIL_HOST] = "no-mail-host",
	[R_BOGUS_MX] = "bogus-mx",
	[R_INVALID_TLD] = "invalid-tld",
	[R_BAD_IDN] = "bad-idn",
	[R_BAD_DOMAIN_NAME] = "bad-domain-name",
	[R_SERVFAIL] = "servfail",
	[R_DNS_TIMEOUT] = "dns-timeout",
	[R_TIMEOUT] = "timeout",
	[R_CONNECT_FAILED] = "connect-failed",
	[R_PROTOCOL_ERROR] = "protocol-error",
	[R_SERVICE_CLOSING] = "service-closing",
	[R_PRIVATE_TARGET] = "private-target",
	[R_SELF_TARGET] = "self-target",
	[R_SMTPUTF8_UNSUPPORTED] = "smtputf8-unsupported",
	[R_TOO_LONG] = "too-long",
	[R_RCPT_SYNTAX] = "rcpt-syntax",
	[R_NO_DOMAIN] = "no-domain",
	[R_BAD_SYNTAX] = "bad-syntax",
	[R_ADDRESS_LITERAL] = "address-literal",
	[R_STARTTLS_REQUIRED] = "starttls-required",
	[R_UNDETERMINED] = "undetermined",
	[R_RATE_LIMITED] = "rate-limited",
	[R_BUDGET] = "budget",
	[R_CACHED_DOMAIN] = "domain-cached",
	[R_NULL_SENDER] = "null-sender",
	[R_AUTHENTICATED] = "authenticated",
	[R_TRUSTED_NETWORK] = "trusted-network",
	[R_EXEMPT_DOMAIN] = "exempt-domain",
	[R_LOCAL] = "local-submission",
	[R_PROBE_SENDER] = "probe-sender",
	[R_SPF_PASS] = "spf-pass",
	[R_INTERNAL] = "internal",
	[R_OTHER] = "other",
};

static const char *const rcpt_class_names[] = {
	[RCPT_EXISTS] = "exists",
	[RCPT_NO_MAILBOX] = "no-mailbox",
	[RCPT_MAILBOX_FULL] = "mailbox-full",
	[RCPT_POLICY] = "policy",
	[RCPT_TEMP] = "temp",
	[RCPT_SYNTAX] = "syntax",
	[RCPT_OTHER] = "other",
};

/* A needle; word means it must not touch a letter or digit on either side. */
struct word {
	const char	*s;
	int		 word;
};

static const struct word policy_words[] = {
	{ "block", 0 }, { "blacklist", 0 }, { "blocklist", 0 },
	{ "denylist", 0 }, { "spamhaus", 0 }, { "spamcop", 0 },
	{ "barracuda", 0 }, { "rbl", 1 }, { "dnsbl", 0 }, { "relay", 0 },
	{ "access denied", 0 }, { "not permitted", 0 }, { "policy", 0 },
	{ "reputation", 0 }, { "listed", 0 }, { "banned", 0 },
	{ "rejected due to", 0 }, { "spam", 0 }, { "abuse", 0 },
	{ "your ip", 0 }, { "client host", 0 }, { "sorbs", 0 },
	{ "rcpthosts", 0 }, { "starttls", 0 },
	/*
	 * Exim's text for an ACL "deny" without a message is "550
	 * Administrative prohibition" (no enhanced code): a refusal of
	 * us. A reply about the sender is about OUR MAIL FROM (null
	 * sender refused at RCPT time, "Sender verify failed"), never
	 * about the mailbox probed.
	 */
	{ "prohibit", 0 }, { "sender", 0 },
	/*
	 * A refusal of our connection held back until RCPT (Haraka's
	 * access plugin behind delay_deny: "550 host [ip] You are not
	 * allowed to connect", no enhanced code) is about us.
	 */
	{ "connect", 1 },
	{ NULL, 0 }
};

static const struct word strong_words[] = {
	{ "spamhaus", 0 }, { "spamcop", 0 }, { "barracuda", 0 },
	{ "sorbs", 0 }, { "dnsbl", 0 }, { "rbl", 1 }, { "blacklist", 0 },
	{ "blocklist", 0 }, { "denylist", 0 }, { "blocked", 0 },
	{ "reputation", 0 }, { "your ip", 0 }, { "client host", 0 },
	{ NULL, 0 }
};

static const struct word relay_refusal_words[] = {
	{ "denied", 0 }, { "not permitted", 0 }, { "not allowed", 0 },
	{ "prohibited", 0 }, { "refused", 0 }, { "unable", 0 },
	{ "do not", 0 },
	{ NULL, 0 }
};

static const struct word mailbox_words[] = {
	{ "no such user", 0 }, { "user unknown", 0 }, { "unknown user", 0 },
	{ "no such mailbox", 0 }, { "no such recipient", 0 },
	{ "mailbox unavailable", 0 }, { "mailbox not found", 0 },
	{ "does not exist", 0 }, { "doesn't exist", 0 },
	{ "recipient not found", 0 }, { "recipientnotfound", 0 },
	{ "unknown recipient", 0 }, { "invalid recipient", 0 },
	{ "user not found", 0 }, { "no mailbox", 0 },
	{ "not a valid mailbox", 0 }, { "unrouteable address", 0 },
	{ "unknown local part", 0 }, { "user doesn't have", 0 },
	{ NULL, 0 }
};

static const struct word syntax_words[] = {
	{ "syntax", 0 }, { "too long", 0 }, { "malformed", 0 },
	{ "length", 0 },
	{ NULL, 0 }
};

static const struct word tls_words[] = {
	{ "starttls", 0 }, { "tls", 1 }, { "ssl", 1 }, { "encrypt", 0 },
	{ NULL, 0 }
};

/* a MAIL refusal that names our client, not the null sender */
static const struct word about_us_words[] = {
	{ "client", 0 }, { "helo", 1 }, { "ehlo", 1 }, { "your ip", 0 },
	{ "reverse dns", 0 }, { "rdns", 1 }, { "ptr", 1 }, { "connection", 0 },
	{ NULL, 0 }
};

/* a MAIL refusal that names the null sender (bounces) */
static const struct word null_sender_words[] = {
	{ "sender", 0 }, { "null", 1 }, { "bounce", 0 }, { "empty", 0 },
	{ "mail from", 0 }, { "return path", 0 }, { "return-path", 0 },
	{ "reverse path", 0 }, { "reverse-path", 0 }, { "mailer-daemon", 0 },
	{ "dsn", 1 },
	{ NULL, 0 }
};

/* A parsed enhanced status code; valid == 0 means "none". */
struct enh {
	int	valid;
	int	cls, subj, det;
};

const char *
verdict_str(enum verdict v)
{
	if ((unsigned)v >= VERDICT_COUNT)
		return "?";
	return verdict_names[v];
}

int
verdict_parse(const char *s, enum verdict *out)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < VERDICT_COUNT; i++) {
		if (strcasecmp(s, verdict_names[i]) == 0) {
			if (out != NULL)
				*out = (enum verdict)i;
			return 0;
		}
	}
	return -1;
}

const char *
reason_str(enum reason r)
{
	if ((unsigned)r >= R_COUNT || reason_names[r] == NULL)
		return "?";
	return reason_names[r];
}

int
reason_parse(const char *s, enum reason *out)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < R_COUNT; i++) {
		if (reason_names[i] != NULL && strcmp(s, reason_names[i]) == 0) {
			if (out != NULL)
				*out = (enum reason)i;
			return 0;
		}
	}
	return -1;
}

const char *
rcpt_class_str(enum rcpt_class c)
{
	if ((unsigned)c >= sizeof(rcpt_class_names) / sizeof(rcpt_class_names[0]))
		return "?";
	return rcpt_class_names[c];
}

/*
 * fold - copy text into buf lower-cased, with what may echo the probed
 * address blanked out: every <...> span (a '>' inside a quoted string
 * does not close it; an unclosed '<' hides the rest) and every
 * blank-delimited token holding an '@'. Bytes outside printable ASCII
 * become spaces.
 */
static void
fold(const char *text, char *buf, size_t size)
{
	size_t i, n = 0, tok;
	int inside = 0, quoted = 0;

	/* cppcheck-suppress arrayIndexOutOfBoundsCond ; text may be "", but the loop stops at its NUL */
	for (i = 0; i < WORD_SCAN_MAX && text[i] != '\0' && n + 1 < size; i++) {
		char c = text[i];

		if (inside) {
			if (quoted) {
				if (c == '\\' && text[i + 1] != '\0')
					i++;
				else if (c == '"')
					quoted = 0;
			} else if (c == '"')
				quoted = 1;
			else if (c == '>')
				inside = 0;
			continue;
		}
		if (c == '<') {
			inside = 1;
			c = ' ';
		} else if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
			c = ' ';
		buf[n++] = c;
	}
	buf[n] = '\0';

	for (i = 0; i < n; i = tok) {
		int at = 0;

		for (tok = i; tok < n && buf[tok] != ' '; tok++)
			if (buf[tok] == '@')
				at = 1;
		if (at)
			memset(buf + i, ' ', tok - i);
		if (tok < n)
			tok++;
	}
}

/* has_word - folded text holds one of the needles */
static int
has_word(const char *folded, const struct word *w)
{
	for (; w->s != NULL; w++) {
		const char *p = folded;
		size_t len = strlen(w->s);

		while ((p = strstr(p, w->s)) != NULL) {
			if (!w->word ||
			    ((p == folded || !util_is_alnum(p[-1])) &&
			    !util_is_alnum(p[len])))
				return 1;
			p++;
		}
	}
	return 0;
}

/* strong_wording - blocklist or relay refusal, enough to outrank a 5.1.1 */
static int
strong_wording(const char *folded)
{
	if (has_word(folded, strong_words))
		return 1;
	return strstr(folded, "relay") != NULL &&
	    has_word(folded, relay_refusal_words);
}

int
verdict_policy_wording(const char *text)
{
	char folded[WORD_SCAN_MAX + 1];

	if (text == NULL)
		return 0;
	fold(text, folded, sizeof(folded));
	return has_word(folded, policy_words);
}

/* num - 1-3 digits at *p, advancing *p; -1 if none */
static int
num(const char **p)
{
	int v = 0, n = 0;

	while (**p >= '0' && **p <= '9' && n < 3) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n > 0 ? v : -1;
}

/* enh_parse - an enhanced code that agrees with the basic code, or none */
static void
enh_parse(const char *s, int code, struct enh *e)
{
	char buf[16];
	size_t len;
	const char *p;

	memset(e, 0, sizeof(*e));
	if (s == NULL)
		return;
	len = strlen(s);
	if (len == 0 || reply_parse_enhanced(s, len, buf, sizeof(buf)) != len)
		return;
	if (buf[0] - '0' != code / 100)
		return;
	p = buf;
	e->cls = num(&p);
	p++;
	e->subj = num(&p);
	p++;
	e->det = num(&p);
	e->valid = e->cls >= 0 && e->subj >= 0 && e->det >= 0;
}

/* is_mailbox_enh - an enhanced code that names the mailbox (rule 11) */
static int
is_mailbox_enh(const struct enh *e)
{
	if (e->subj == 1)
		switch (e->det) {
		case 0: case 1: case 2: case 6: case 10:
			return 1;
		default:
			return 0;
		}
	return e->subj == 2 && (e->det == 1 || e->det == 4);
}

enum rcpt_class
verdict_classify_rcpt(int code, const char *enhanced, const char *text)
{
	char folded[WORD_SCAN_MAX + 1];
	struct enh e;

	if (code < 200 || code > 599)
		return RCPT_OTHER;
	if (code < 300)
		return code == 252 ? RCPT_OTHER : RCPT_EXISTS;
	if (code < 400)
		return RCPT_OTHER;

	enh_parse(enhanced, code, &e);
	fold(text != NULL ? text : "", folded, sizeof(folded));

	if (e.valid && e.subj == 2 && e.det == 2)
		return RCPT_MAILBOX_FULL;
	if (code < 500)
		return RCPT_TEMP;
	if (code == 552 && (!e.valid || (e.subj == 2 && e.det != 1)) &&
	    !has_word(folded, policy_words))
		return RCPT_MAILBOX_FULL;

	if (e.valid) {
		if (e.subj == 7)
			return RCPT_POLICY;
		if (e.subj == 1 && (e.det == 7 || e.det == 8))
			return RCPT_POLICY;
		if (e.subj == 1 && e.det == 3)
			return RCPT_SYNTAX;
		if (is_mailbox_enh(&e))
			return strong_wording(folded) ? RCPT_POLICY :
			    RCPT_NO_MAILBOX;
	}
	if ((code == 501 || code == 553) && has_word(folded, syntax_words))
		return RCPT_SYNTAX;
	if (has_word(folded, policy_words))
		return RCPT_POLICY;
	/*
	 * A well-formed enhanced code that is not about the mailbox
	 * outranks the wording; x.0.0 ("other or undefined status") says
	 * nothing, so the wording may still decide after it.
	 */
	if (e.valid && (e.subj != 0 || e.det != 0))
		return RCPT_OTHER;
	if (!e.valid && (code == 550 || code == 551 || code == 553))
		return RCPT_NO_MAILBOX;
	if (code >= 550 && code <= 559 && has_word(folded, mailbox_words))
		return RCPT_NO_MAILBOX;
	return RCPT_OTHER;
}

int
verdict_tls_required(int code, const char *enhanced, const char *text)
{
	char folded[WORD_SCAN_MAX + 1];

	(void)enhanced;
	if (code < 400 || code > 599 || text == NULL)
		return 0;
	fold(text, folded, sizeof(folded));
	return has_word(folded, tls_words);
}

enum mail_class
verdict_classify_mail(int code, const char *enhanced, const char *text)
{
	char folded[WORD_SCAN_MAX + 1];
	struct enh e;

	if (code < 400 || code > 599)
		return MAIL_OTHER;
	if (verdict_tls_required(code, enhanced, text))
		return MAIL_TLS;
	if (code < 500)
		return MAIL_TEMP;
	if (text == NULL)
		text = "";
	enh_parse(enhanced, code, &e);
	fold(text, folded, sizeof(folded));
	if (strong_wording(folded) || has_word(folded, about_us_words))
		return MAIL_POLICY;
	/*
	 * The only address in a MAIL command is the sender, so an
	 * address-status code, or our own "<>" echoed, is about it.
	 */
	if ((e.valid && e.subj == 1) || strstr(text, "<>") != NULL ||
	    has_word(folded, null_sender_words))
		return MAIL_NULL_SENDER;
	return MAIL_POLICY;
}

const char *
mail_class_str(enum mail_class c)
{
	static const char *const names[] = {
		[MAIL_OTHER] = "other", [MAIL_TEMP] = "temp", [MAIL_TLS] = "tls",
		[MAIL_NULL_SENDER] = "null-sender", [MAIL_POLICY] = "policy",
	};

	if ((unsigned)c >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[c];
}
