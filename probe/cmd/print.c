/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * print - the result as sav-probe and sav-cache show it (print.h):
 * written once for both commands so that their JSON members and their
 * words for a reply stay the same.
 */
#include <stdio.h>

#include "print.h"
#include "util.h"
#include "verdict.h"

void
print_json_result(FILE *fp, const struct probe_result *r)
{
	fputs("\"address\":", fp);
	util_json_str(fp, r->address);
	fputs(",\"verdict\":", fp);
	util_json_str(fp, verdict_str(r->verdict));
	print_json_reply(fp, r);
}

void
print_json_reply(FILE *fp, const struct probe_result *r)
{
	fputs(",\"reason\":", fp);
	util_json_str(fp, reason_str(r->reason));
	fprintf(fp, ",\"code\":%d,\"enhanced\":", r->code);
	util_json_str(fp, r->enhanced);
	fputs(",\"text\":", fp);
	util_json_str(fp, r->text);
	fputs(",\"mx\":", fp);
	util_json_str(fp, r->mx);
	fputs(",\"ip\":", fp);
	util_json_str(fp, r->ip);
	fprintf(fp, ",\"catch_all\":%s", r->catch_all ? "true" : "false");
}

void
print_human(FILE *fp, const struct probe_result *r)
{
	fprintf(fp, "%s: %s (%s)", r->address, verdict_str(r->verdict), reason_str(r->reason));
	if (r->code)
		fprintf(fp, " %d%s%s", r->code, r->enhanced[0] ? " " : "", r->enhanced);
	if (r->mx[0])
		fprintf(fp, " mx=%s", r->mx);
	if (r->ip[0])
		fprintf(fp, " [%s]", r->ip);
	if (r->cached)
		fputs(r->cached == RESULT_CACHED_SHARED ? " cached (shared)" : " cached", fp);
	fprintf(fp, " %ldms\n", r->elapsed_ms);
	if (r->text[0] && r->verdict != VERDICT_VALID)
		fprintf(fp, "  remote said: %s\n", r->text);
}

void
print_reply(FILE *fp, const struct probe_result *r)
{
	fprintf(fp, "%d%s%s%s%s", r->code, r->enhanced[0] ? " " : "", r->enhanced,
	    r->text[0] ? " " : "", r->text);
}

void
print_mx(FILE *fp, const struct probe_result *r)
{
	fprintf(fp, "%s%s%s%s", r->mx, r->ip[0] ? " [" : "", r->ip, r->ip[0] ? "]" : "");
}
