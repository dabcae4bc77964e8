/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * print - how sav-probe and sav-cache show a result: the JSON members
 * they share and the pieces of the human form. Every string goes
 * through util_json_str (JSON) or was sanitised when the result was
 * made (human form: printable ASCII only).
 *
 * Thread rules: the caller serialises writes to one FILE.
 */
#ifndef SAV_PRINT_H
#define SAV_PRINT_H

#include <stdio.h>

#include "result.h"

/*
 * print_json_result - "address":..,"verdict":.. and then what
 * print_json_reply writes: JSON members without the braces, for the
 * caller to add its own.
 */
void	print_json_result(FILE *fp, const struct probe_result *r);

/*
 * print_json_reply - ,"reason":..,"code":N,"enhanced":..,"text":..,
 * "mx":..,"ip":..,"catch_all":true|false (with the leading comma)
 */
void	print_json_reply(FILE *fp, const struct probe_result *r);

/* print_human - sav-probe's form: one line, and the remote text on a second unless valid */
void	print_human(FILE *fp, const struct probe_result *r);

/* print_reply - "CODE[ ENHANCED][ TEXT]" (r->code != 0) */
void	print_reply(FILE *fp, const struct probe_result *r);

/* print_mx - "MX[ [IP]]" (r->mx != "") */
void	print_mx(FILE *fp, const struct probe_result *r);

#endif
