/* entra_curl.h: the entra_ops HTTP interface on a libcurl multi handle that upstream.c owns and drives
 * (token requests share its event loop, DNS and connection caches; they never block a request). */
#ifndef WPS_GW_ENTRA_CURL_H
#define WPS_GW_ENTRA_CURL_H

#include <curl/curl.h>
#include "entra.h"

struct loop;
struct entra_curl;

/* multi and l are borrowed and must outlive the object. NULL when out of memory. */
struct entra_curl *entra_curl_new(CURLM *multi, struct loop *l);
/* Cancels a request in flight (no callback) and stops the timer. Free the struct entra that uses
 * it first (entra_free calls cancel). Accepts NULL. */
void entra_curl_free(struct entra_curl *ec);
/* Fill ops with this object's request/cancel/arm/now_ms/on_fetch (a failed fetch counts as
 * metrics_credential_error). The arm timer ticks the cache named with entra_curl_set_cache (set it
 * once entra_new has returned; NULL before entra_free). */
void entra_curl_ops(struct entra_curl *ec, struct entra_ops *ops);
void entra_curl_set_cache(struct entra_curl *ec, struct entra *e);
/* upstream.c's loop over curl_multi_info_read: call it first for every CURLMSG_DONE message.
 * Returns 1 when easy was a token request (it is then finished, removed and freed, and entra's
 * callback has run), 0 when it is someone else's. */
int entra_curl_done(struct entra_curl *ec, CURL *easy, CURLcode rc);

#endif
