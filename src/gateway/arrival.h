/* arrival.h: a deadline for every request to arrive whole, against slow senders (slowloris). */
#ifndef WPS_GW_ARRIVAL_H
#define WPS_GW_ARRIVAL_H

#include <microhttpd.h>

struct loop;
struct arrival;

/* From its connection's start, or from the answer to the previous request on it, a request must arrive
 * whole (headers and body) within timeout_ms; otherwise its connection is shut down, without an answer.
 * No deadline runs while a whole request is being handled (the request deadline bounds that).
 * timeout_ms 0 turns the check off. */
struct arrival *arrival_new(struct loop *l, unsigned long timeout_ms);
void arrival_free(struct arrival *s); /* accepts NULL; every connection must be gone */
void arrival_set_timeout(struct arrival *s, unsigned long timeout_ms); /* SIGHUP */
unsigned long long arrival_closed_total(const struct arrival *s);

/* MHD_OPTION_NOTIFY_CONNECTION, cls = the struct arrival. */
void arrival_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe);
/* The request on conn is whole: no deadline until arrival_request_done. */
void arrival_request_received(struct MHD_Connection *conn);
/* The request on conn is answered: the next one must arrive within the timeout. */
void arrival_request_done(struct MHD_Connection *conn);

#endif
