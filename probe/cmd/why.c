/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * why - `sav-cache why ADDRESS|REFERENCE`: the answer to "my mail to
 * you bounced", from the cache alone: what the milter did with the
 * sender and why, in words; which mail server said what, to which
 * command, and when; the session that decided, as a short transcript
 * (kept for every verdict but valid); when the sender will be asked about again; the
 * facts known for its domain. A REFERENCE (8 hex digits, util_ref of
 * the cache key) is what the milter's reply text carries with
 * RejectReference yes; it is looked up by walking the address records.
 *
 * Everything printed comes from the cache, which is untrusted: the
 * records were checked when decoded (printable ASCII only) and the
 * reference argument is checked for its shape before use.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "addr.h"
#include "cache.h"
#include "conf.h"
#include "print.h"
#include "util.h"
#include "sav_cache.h"

/* what the milter does with the verdict: the configured action, or the default table's */
static const char *
action_of(const struct ctx *x, enum verdict v)
{
	struct conf d;

	if (v == VERDICT_SKIPPED)
		return "accept";
	if (x->have_conf)
		return action_str(x->conf.action[v]);
	conf_defaults(&d);
	return action_str(d.action[v]);
}

/* in words: what the verdict says about the sender */
static const char *
meaning(enum verdict v)
{
	switch (v) {
	case VERDICT_VALID:	return "the sender's mail server accepts this address";
	case VERDICT_INVALID:	return "the sender's mail server says this mailbox does not exist";
	case VERDICT_BAD_DOMAIN: return "the sender's domain cannot receive mail";
	case VERDICT_BAD_SYNTAX: return "this is not a valid envelope address";
	case VERDICT_CATCH_ALL:	return "the domain accepts any address, so its yes proves nothing";
	case VERDICT_UNKNOWN:	return "the mail server answered, but not about the mailbox";
	case VERDICT_TEMPFAIL:	return "no definite answer yet (the server said try later, or did not answer)";
	default:		return "no verdict";
	}
}

/* the step whose answer decided, from the reason */
static const char *
step_of(enum reason r)
{
	switch (r) {
	case R_USER_OK: case R_USER_UNKNOWN: case R_MAILBOX_FULL: case R_GREYLISTED:
	case R_TEMP_REPLY: case R_POLICY_BLOCK: case R_CATCH_ALL: case R_RCPT_SYNTAX:
	case R_UNDETERMINED:
		return "RCPT TO";
	case R_NULL_SENDER_REFUSED:
		return "MAIL FROM:<> (the null sender)";
	case R_GREETING_REFUSED:
		return "the greeting";
	case R_STARTTLS_REQUIRED:
		return "MAIL or RCPT in plaintext";
	case R_NXDOMAIN: case R_NULL_MX: case R_NO_MAIL_HOST: case R_BOGUS_MX:
	case R_SERVFAIL: case R_DNS_TIMEOUT:
		return "DNS";
	default:
		return NULL;
	}
}

/*
 * print_dialog - the transcript kept with the verdict, a line each,
 * indented ("> " what we sent, "< " what the server said, "- " what
 * happened); checked printable when the record was decoded
 */
static void
print_dialog(const char *d)
{
	const char *nl;

	printf("  the session:\n");
	for (;;) {
		nl = strchr(d, '\n');
		printf("    %.*s\n", nl != NULL ? (int)(nl - d) : (int)strlen(d), d);
		if (nl == NULL)
			break;
		d = nl + 1;
	}
}

static int
is_ref(const char *s)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[8] == '\0';
}

struct ref_find {
	char	want[9];
	char	key[PROBE_ADDR_MAX + 8];
	int	found;
};

static int
ref_one(const struct cache_entry *e, void *arg)
{
	struct ref_find *f = arg;
	char ref[9];

	if (!e->ok || e->domain)
		return 0;
	util_ref(e->key, ref);
	if (strcmp(ref, f->want) != 0)
		return 0;
	util_strlcpy(f->key, e->key, sizeof(f->key));
	f->found = 1;
	return 1;
}

int
cmd_why(struct ctx *x, int argc, char **argv)
{
	char key[PROBE_ADDR_MAX + 8], dom[ADDR_DOMAIN_MAX + 1], dkey[ADDR_DOMAIN_MAX + 8];
	char w[64], ts[64], ref[9];
	struct cache_entry e, d;
	const struct probe_result *r;
	const char *arg, *step, *at;
	time_t now;
	int rc, i = 1;

	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i + 1 != argc)
		return usage_error("why: give one address or reference");
	arg = argv[i];
	if ((rc = open_cache(x, 1)) != EX_OK)
		return rc;
	if (is_ref(arg)) {
		struct ref_find f;
		size_t k;

		memset(&f, 0, sizeof(f));
		for (k = 0; k < 8; k++)
			f.want[k] = (char)tolower((unsigned char)arg[k]);
		if (cache_iterate(x->cache, "a:", ref_one, &f) < 0) {
			fprintf(stderr, "sav-cache: reading the cache failed\n");
			return EX_IOERR;
		}
		if (!f.found) {
			fprintf(stderr, "sav-cache: reference %s: no such address in the cache "
			    "(expired and purged, or deleted)\n", f.want);
			return EXIT_NOTFOUND;
		}
		util_strlcpy(key, f.key, sizeof(key));
		at = strrchr(key, '@');
		util_strlcpy(dom, at != NULL ? at + 1 : "", sizeof(dom));
	} else if ((rc = key_for(arg, key, sizeof(key), dom, sizeof(dom))) != 0)
		return rc;
	if (key[0] != 'a')
		return usage_error("why: give an address (or a reference), not a domain");
	now = time(NULL);
	switch (cache_get_entry(x->cache, key, &e)) {
	case CACHE_HIT:
		break;
	case CACHE_MISS:
		fprintf(stderr, "sav-cache: %s: not in the cache: the milter has no verdict on file "
		    "(never seen, expired, or deleted)\n", key + 2);
		return EXIT_NOTFOUND;
	default:
		fprintf(stderr, "sav-cache: reading the cache failed\n");
		return EX_IOERR;
	}
	if (!e.ok) {
		printf("%s: the record is damaged; the milter ignores it and will probe again\n", key + 2);
		return EX_OK;
	}
	r = &e.r;
	util_ref(key, ref);
	printf("%s: %s (%s%s%s)%s\n", r->address, action_of(x, r->verdict), verdict_str(r->verdict),
	    r->reason != R_NONE ? ", " : "", r->reason != R_NONE ? reason_str(r->reason) : "",
	    e.expired ? ", expired: no longer used" : "");
	printf("  what it means: %s\n", meaning(r->verdict));
	stamp(ts, sizeof(ts), e.created);
	ago(w, sizeof(w), e.created, now);
	step = step_of(r->reason);
	if (r->mx[0] != '\0') {
		fputs("  decided:       ", stdout);
		print_mx(stdout, r);
		printf(" answered %s, %s (%s)\n", step != NULL ? step : "the probe", ts, w);
	} else
		printf("  decided:       %s (%s)%s%s\n", ts, w, step != NULL ? ", by " : "",
		    step != NULL ? step : "");
	if (r->code != 0) {
		fputs("  it said:       ", stdout);
		print_reply(stdout, r);
		putchar('\n');
	}
	if (r->dialog[0] != '\0')
		print_dialog(r->dialog);
	until(w, sizeof(w), e.expires, now);
	stamp(ts, sizeof(ts), e.expires);
	if (e.stale)
		printf("  asked again:   at the next message from this sender (due for refresh)\n");
	else if (!e.expired)
		printf("  asked again:   after %s (%s), or at once after: sav-cache del %s\n",
		    ts, w, r->address);
	else
		printf("  asked again:   at the next message from this sender\n");
	printf("  reference:     %s\n", ref);
	if (dom[0] != '\0' && (size_t)snprintf(dkey, sizeof(dkey), "d:%s", dom) < sizeof(dkey) &&
	    cache_get_entry(x->cache, dkey, &d) == CACHE_HIT && d.ok && !d.expired && d.facts != 0) {
		unsigned f;
		int first = 1;

		printf("  domain %s:", dom);
		for (f = 1; f != 0 && f <= d.facts; f <<= 1)
			if (d.facts & f) {
				printf("%s%s", first ? " " : ", ", cache_fact_str(f));
				first = 0;
			}
		until(w, sizeof(w), d.expires, now);
		printf(" (%s)\n", w);
	}
	return EX_OK;
}
