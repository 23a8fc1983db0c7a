/* check_cfg.h: read one configuration section from libconfig text in a Check test, with the error
 * worded as wpsgated words it for a file named "t.conf". */
#ifndef WPS_TESTS_CHECK_CFG_H
#define WPS_TESTS_CHECK_CFG_H

#include <check.h>
#include <libconfig.h>

#include "cfgtab.h"

/* Read the setting s (NULL: the section absent) into obj. 0, or -1 with err (may be NULL) set to
 * "t.conf:LINE: KEY: WHAT". obj must be released with cfgtab_clear either way. */
static inline int check_cfg_setting(const struct cfgtab_section *sec, const config_setting_t *s, void *obj,
                                    char *err, size_t errlen)
{
	struct cfgtab_err e;
	int rc = cfgtab_read(sec, s, obj, &e);

	if (err != NULL && errlen > 0) {
		err[0] = '\0';
		if (rc < 0)
			cfgtab_err_format(&e, "t.conf", err, errlen);
	}
	return rc;
}

/* Read the group at path of text (text NULL: the section absent) into obj. 0, or -1 with err set to
 * "t.conf:LINE: KEY: WHAT". obj must be released with cfgtab_clear either way. */
static inline int check_cfg_read(const struct cfgtab_section *sec, const char *text, const char *path,
                                 void *obj, char *err, size_t errlen)
{
	struct cfgtab_err e;
	config_t c;
	int rc;

	config_init(&c);
	if (text != NULL)
		ck_assert_int_eq(config_read_string(&c, text), CONFIG_TRUE);
	rc = cfgtab_read(sec, text != NULL ? config_lookup(&c, path) : NULL, obj, &e);
	err[0] = '\0';
	if (rc < 0)
		cfgtab_err_format(&e, "t.conf", err, errlen);
	config_destroy(&c);
	return rc;
}

#endif
