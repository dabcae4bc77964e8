/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_dialog - the session transcript kept with negative verdicts
 * (probe/core/dialog.c): lines marked "> ", "< " and "- ", server text
 * made printable and cut, a reply's extra lines counted, the bound
 * kept by dropping the oldest lines behind a "- earlier lines cut"
 * mark, and the shape check the cache's decoder relies on.
 */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "dialog.h"

START_TEST(test_lines)
{
	char d[DIALOG_MAX] = "";

	dialog_add(d, sizeof(d), '<', "220 mx.x.test ESMTP", 19, 0);
	dialog_add(d, sizeof(d), '>', "MAIL FROM:<>", 12, 0);
	dialog_add(d, sizeof(d), '<', "250-mx.x.test", 13, 7);
	dialog_add(d, sizeof(d), '<', "250 ok", 6, 1);
	dialog_add(d, sizeof(d), '-', "timeout waiting for RCPT reply", 30, 0);
	ck_assert_str_eq(d, "< 220 mx.x.test ESMTP\n> MAIL FROM:<>\n< 250-mx.x.test (+7 lines)\n"
			 "< 250 ok (+1 line)\n- timeout waiting for RCPT reply");
	ck_assert(dialog_ok(d, strlen(d)));
}
END_TEST

/* what the server sends is made printable and cut; a kind we do not know is an event */
START_TEST(test_hostile_text)
{
	char d[DIALOG_MAX] = "", big[3000];
	const char *nl;

	dialog_add(d, sizeof(d), '<', "550 a\r\nRCPT\0x\x1b[2J", 17, 0);
	ck_assert_str_eq(d, "< 550 a  RCPT");
	memset(big, 'A', sizeof(big));
	memcpy(big, "550 ", 4);
	dialog_add(d, sizeof(d), '\n', big, sizeof(big), 0);
	nl = strchr(d, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(strlen(nl + 1), 2 + DIALOG_LINE_MAX);
	ck_assert(strncmp(nl + 1, "- 550 AAA", 9) == 0);
	ck_assert_str_eq(nl + 1 + 2 + DIALOG_LINE_MAX - 3, "...");
	ck_assert(dialog_ok(d, strlen(d)));
	/* a line of nothing but spaces keeps its mark */
	dialog_add(d, sizeof(d), '<', "   ", 3, 0);
	ck_assert_str_eq(strrchr(d, '\n') + 1, "< ");
	ck_assert(dialog_ok(d, strlen(d)));
}
END_TEST

/* over the bound: the oldest lines go, the newest (the answer) stays */
START_TEST(test_bound)
{
	char d[DIALOG_MAX] = "", line[64];
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(line, sizeof(line), "250 line %03d of a long session", i);
		dialog_add(d, sizeof(d), '<', line, strlen(line), 0);
		ck_assert_uint_lt(strlen(d), DIALOG_MAX);
		ck_assert(dialog_ok(d, strlen(d)));
	}
	ck_assert(strncmp(d, "- earlier lines cut\n", 20) == 0);
	ck_assert_ptr_null(strstr(d + 1, "- earlier lines cut"));
	ck_assert_str_eq(strrchr(d, '\n') + 1, "< 250 line 199 of a long session");
	ck_assert_ptr_null(strstr(d, "line 000"));
	/* a smaller buffer than a line and the mark is left alone */
	{
		char tiny[16] = "";

		dialog_add(tiny, sizeof(tiny), '<', "250 ok", 6, 0);
		ck_assert_str_eq(tiny, "");
	}
}
END_TEST

START_TEST(test_ok)
{
	static const char *const bad[] = {
		"", "<", "250 ok", "< 250\n", "\n< 250", "<250", "< a\n\n< b", "< a\tb", "< \x7f",
		"? x", "<  ok\r",
	};
	char big[DIALOG_MAX + 8];
	size_t i;

	ck_assert(dialog_ok("< 250 ok", 8));
	ck_assert(dialog_ok("> QUIT\n< 221 bye", 16));
	ck_assert(dialog_ok("- x", 3));
	ck_assert(dialog_ok("< \n> a", 6));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!dialog_ok(bad[i], strlen(bad[i])), "accepted: %s", bad[i]);
	ck_assert(!dialog_ok("< a\0b", 5));
	memset(big, 'x', sizeof(big));
	big[0] = '<';
	big[1] = ' ';
	ck_assert(!dialog_ok(big, 2 + DIALOG_LINE_MAX + 25));
	ck_assert(!dialog_ok(big, DIALOG_MAX));
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dialog");
	TCase *tc = tcase_create("transcript");

	tcase_add_test(tc, test_lines);
	tcase_add_test(tc, test_hostile_text);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_ok);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
