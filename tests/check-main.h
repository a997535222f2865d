/* What every check suite's main() shares: building TCases from a table of named tests (with
 * an optional checked fixture and timeout) and running the suite to an exit status, so that
 * each suite says only which tests it has. Included by one test .c file each. */
#ifndef SPOTSWEEP_TESTS_CHECK_MAIN_H
#define SPOTSWEEP_TESTS_CHECK_MAIN_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#define CHECK_NELEM(a) (sizeof (a) / sizeof (a)[0])

/* One test; consecutive cases with the same name share one TCase of that name. */
struct check_case {
	const char	*name;
	const TTest	*test;
};

/* Adds the n cases to s, each TCase with the checked fixture setup/teardown (none when both
 * are NULL) and the timeout in seconds (check's default when 0). */
static __attribute__((unused)) void
check_add_cases(Suite *s, const struct check_case *cases, size_t n, SFun setup,
    SFun teardown, double timeout)
{
	TCase *tc = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(cases[i].name, cases[i - 1].name) != 0) {
			tc = tcase_create(cases[i].name);
			if (setup != NULL || teardown != NULL)
				tcase_add_checked_fixture(tc, setup, teardown);
			if (timeout > 0)
				tcase_set_timeout(tc, timeout);
			suite_add_tcase(s, tc);
		}
		tcase_add_test(tc, cases[i].test);
	}
}

/* Runs s (which it frees) with CK_NORMAL output; EXIT_SUCCESS when no test failed. */
static __attribute__((unused)) int
check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The whole main() of a suite named name that is one table of cases. */
static __attribute__((unused)) int
check_main(const char *name, const struct check_case *cases, size_t n, SFun setup,
    SFun teardown, double timeout)
{
	Suite *s = suite_create(name);

	check_add_cases(s, cases, n, setup, teardown, timeout);
	return check_run(s);
}

#endif
