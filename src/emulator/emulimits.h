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

#endif
