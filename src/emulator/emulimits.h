/* emulimits.h: compiled-in bounds of wpsgate-emulator (beside the shared ones in wpslimits.h). */
#ifndef WPS_EMULIMITS_H
#define WPS_EMULIMITS_H

#include "wpslimits.h"

#define EMU_DEFAULT_MAX_CONNECTIONS 1000               /* WebSocket clients; 503 past it */
#define EMU_DEFAULT_MAX_FRAME       (1024 * 1024)      /* bytes in one received message; close 1009 past it */
#define EMU_DEFAULT_MAX_MQTT_PACKET (1024 * 1024)     /* bytes in one MQTT packet; DISCONNECT 0x95 past it */
#define EMU_DEFAULT_MAX_SEND_QUEUE  (16 * 1024 * 1024) /* bytes queued to one client before it is dropped */
#define EMU_HTTP_EXTRA_CONNECTIONS  64                 /* plain HTTP connections beyond the WebSocket limit */
#define EMU_FILTER_DEPTH_MAX        32                 /* nesting of parentheses / not in a filter */
#define EMU_FILTER_NODES_MAX        256                /* terms in one filter */
#define EMU_ACKIDS_MAX              1024               /* ackIds remembered per connection (Duplicate) */
#define EMU_ROLES_MAX               64                 /* roles in one client token */
#define EMU_TOKEN_GROUPS_MAX        100                /* webpubsub.group entries in one client token */
#define EMU_CONN_GROUPS_MAX         1024               /* groups one connection may be in */
#define EMU_PERMS_MAX               256                /* permissions granted to one connection */
#define EMU_CLOSE_GRACE_MS          2000               /* wait for the client's close frame */
#define EMU_HANDSHAKE_TIMEOUT_S     30                 /* idle HTTP connections */
#define EMU_DISCARD_MAX             (64 * 1024 * 1024) /* body bytes read and dropped before a 413 */
#define EMU_REASON_MAX              1024               /* bytes of a close reason kept */

/* the inspector (insp.h): --inspector-entries, --inspector-watchers, --inspector-backlog-bytes */
#define INSP_DEFAULT_ENTRIES  1000          /* entries kept in memory, oldest dropped */
#define INSP_DEFAULT_WATCHERS 16            /* live pages (event streams) at once; 503 past it */
#define INSP_DEFAULT_BACKLOG  (1024 * 1024) /* bytes queued to one watcher before it is dropped */
#define INSP_ENTRIES_MAX      1000000       /* bounds of the three flags */
#define INSP_WATCHERS_MAX     1000
#define INSP_BACKLOG_MAX      (256 * 1024 * 1024)
#define INSP_BACKLOG_MIN      16384 /* room for the largest entry (INSP_LIST_MAX) */
#define INSP_PREVIEW_MAX      200   /* bytes of a message body shown */
#define INSP_FIELD_MAX        256   /* bytes of any other string kept in an entry */
#define INSP_LIST_MAX         16    /* groups, roles of a connection in an entry */
#define INSP_HEARTBEAT_MS     10000 /* a comment to every watcher this often */
#define INSP_QUERY_MAX        2048  /* bytes of an inspector API query string */

#endif
