/* dcfg.h: small helpers all gateway modules share to read their libconfig sections and report errors. */
#ifndef WPS_GW_DCFG_H
#define WPS_GW_DCFG_H

#include <stddef.h>
#include <libconfig.h>

/* Every helper takes the section `s` (NULL: nothing configured, the default stays), the member name and
 * writes an error "SECTION.NAME (line N): WHAT" into err on failure. Values never appear in errors.
 * They return 0 (found and valid, or absent) or -1. */

/* -1 with an error naming the first member of s that is not in the NULL-terminated list `known`,
 * or naming s itself when it is not a group. */
int dcfg_check_members(const config_setting_t *s, const char *const *known, char *err, size_t errlen);

int dcfg_long(const config_setting_t *s, const char *name, long min, long max, long *out, char *err,
              size_t errlen);
int dcfg_double(const config_setting_t *s, const char *name, double min, double max, double *out, char *err,
                size_t errlen);
int dcfg_bool(const config_setting_t *s, const char *name, int *out, char *err, size_t errlen);
/* *out becomes a new string (free it) when the member is present; it stays untouched otherwise. */
int dcfg_string(const config_setting_t *s, const char *name, size_t maxlen, char **out, char *err,
                size_t errlen);

/* Write "PATH (line N): " + message into err for setting m (or its parent s when m is NULL). */
int dcfg_fail(const config_setting_t *m, char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Write "KEY: message (line N)" into err for setting m, or "KEY: message" when m is NULL or has no line
 * (the layout of the access, guard, metrics, ratelimit and upstream.entra sections). Returns -1. */
int dcfg_keyfail(const config_setting_t *m, char *err, size_t errlen, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#endif
