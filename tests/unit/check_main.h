/* check_main.h: the runner every Check unit test binary's main() shares: Check's environment, exit 1 on a failure. */
#ifndef WPS_TESTS_CHECK_MAIN_H
#define WPS_TESTS_CHECK_MAIN_H

#include <check.h>

/* Run the tests of s (steals s); 0 when all passed, 1 otherwise. Check reads the environment: each test
 * runs in a child process of its own unless CK_FORK=no (then all run in this one, so that gdb and valgrind
 * see them; a test that needs a process of its own forks it itself), CK_RUN_SUITE and CK_RUN_CASE pick
 * what runs, CK_DEFAULT_TIMEOUT sets the time limit of a test (fork mode only). */
static inline int check_run(Suite *s)
{
	SRunner *r = srunner_create(s);
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}

#endif
