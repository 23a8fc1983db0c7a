/* check_main.h: the runner every Check unit test binary's main() shares: fork mode, exit 1 on a failure. */
#ifndef WPS_TESTS_CHECK_MAIN_H
#define WPS_TESTS_CHECK_MAIN_H

#include <check.h>

/* Run every test of s (steals s), each in its own process; 0 when all passed, 1 otherwise. */
static inline int check_run(Suite *s)
{
	SRunner *r = srunner_create(s);
	int failed;

	srunner_set_fork_status(r, CK_FORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}

#endif
