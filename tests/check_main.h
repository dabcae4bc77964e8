/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_main.h - shared main() for the Check suites: each suite file
 * defines `Suite *make_suite(void)` and includes this at the end.
 */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H
#include <check.h>
#include <stdlib.h>

Suite	*make_suite(void);

int
main(void)
{
	SRunner *sr = srunner_create(make_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
