/* sdnotify.h: systemd readiness notifications (sd_notify protocol) without libsystemd. */
#ifndef WPS_GW_SDNOTIFY_H
#define WPS_GW_SDNOTIFY_H

#include <stdint.h>

/* Send state ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET (a path, or "@name" for an abstract
 * socket). Returns 1 when sent, 0 when there is no $NOTIFY_SOCKET, -1 on error. */
int sdn_notify(const char *state);
/* The watchdog interval in microseconds from $WATCHDOG_USEC (and $WATCHDOG_PID when set), 0 if none. */
uint64_t sdn_watchdog_usec(void);

#endif
