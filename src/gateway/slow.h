/* slow.h: a deadline for every request to arrive whole, against slow senders (slowloris). */
#ifndef WPS_SLOW_H
#define WPS_SLOW_H

#include <microhttpd.h>

struct loop;
struct slow;

/* From its connection's start, or from the answer to the previous request on it, a request must arrive
 * whole (headers and body) within timeout_ms; otherwise its connection is shut down, without an answer.
 * No deadline runs while a whole request is being handled (the request deadline bounds that).
 * timeout_ms 0 turns the check off. */
struct slow *slow_new(struct loop *l, unsigned long timeout_ms);
void slow_free(struct slow *s); /* accepts NULL; every connection must be gone */
void slow_set_timeout(struct slow *s, unsigned long timeout_ms); /* SIGHUP */
unsigned long long slow_closed_total(const struct slow *s);

/* MHD_OPTION_NOTIFY_CONNECTION, cls = the struct slow. */
void slow_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe);
/* The request on conn is whole: no deadline until slow_request_done. */
void slow_request_received(struct MHD_Connection *conn);
/* The request on conn is answered: the next one must arrive within the timeout. */
void slow_request_done(struct MHD_Connection *conn);

#endif
