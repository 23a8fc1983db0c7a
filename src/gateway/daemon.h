/* daemon.h: wpsgated's life cycle: start-up in order, reload on SIGHUP, drain on SIGTERM, teardown. */
#ifndef WPS_GW_DAEMON_H
#define WPS_GW_DAEMON_H

#include <stddef.h>

/* -t: load the configuration and the credentials. Returns 0, or -1 with the reason in err. */
int daemon_check(const char *config_path, char *err, size_t errlen);

/* Run in the foreground until SIGTERM/SIGINT. verbose forces the debug log level.
 * Returns the process exit status (0 after a clean shutdown, 1 when start-up failed). */
int daemon_run(const char *config_path, int verbose);

#endif
