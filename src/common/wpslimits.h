/* wpslimits.h: the bounds the service itself sets, the defaults of the local API and the hard limits of the
 * request parser, shared by the three programs. A module's own bounds are named in its header (upstream.h,
 * events.h, emulimits.h, ...), and every bound that can be configured is a setting (wpsgate.conf(5)). */
#ifndef WPS_LIMITS_H
#define WPS_LIMITS_H

/* Web PubSub service rules (shared/docs/webpubsub-rest.md). */
#define WPS_HUB_MAX      128           /* characters in a hub name */
#define WPS_GROUP_MAX    1024          /* characters in a group name */
#define WPS_ID_MAX       1024          /* characters in a userId or connectionId */
#define WPS_TTL_MAX      300           /* messageTtlSeconds upper bound */
#define WPS_PAGESIZE_MAX 200           /* ListConnectionsInGroup maxpagesize */
#define WPS_MESSAGE_MAX  (1024 * 1024) /* largest message the service takes */

/* Local API defaults; each can be changed in the configuration. */
#define WPS_DEFAULT_BODY_MAX        (1024 * 1024)
#define WPS_DEFAULT_TIMEOUT_MS      30000
#define WPS_DEFAULT_MAX_CONNECTIONS 1024
#define WPS_DEFAULT_MAX_INFLIGHT    10000
#define WPS_DEFAULT_UPSTREAM_CONNS  64
#define WPS_DEFAULT_API_VERSION     "2024-12-01"
#define WPS_JWT_LIFETIME_S          300 /* exp of a server JWT, from the time of signing */

/* Hard limits of the request parser. */
#define WPS_URL_MAX          8192  /* bytes in a request path plus query */
#define WPS_QUERY_PARAMS_MAX 64    /* query parameters in one request */
#define WPS_GROUPS_JSON_MAX  100   /* groups in one add/removeFromGroups body */
#define WPS_FILTER_MAX       4096  /* bytes in an OData filter */
#define WPS_ERRMSG_MAX       256   /* bytes in an error message */
#define WPS_JWT_MAX          16384 /* bytes in a JWT that jwt_verify looks at */
#define WPS_LOG_VALUE_MAX    2048  /* bytes of one logged value (longer ones are cut) */

#endif
