/* proto.h: the client side of the emulator: simple WebSocket clients and the JSON subprotocols
 * (json.webpubsub.azure.v1, json.reliable.webpubsub.azure.v1): what they receive and what they may send. */
#ifndef EMU_PROTO_H
#define EMU_PROTO_H

#include <stddef.h>
#include "hub.h"

#define PROTO_JSON_V1          "json.webpubsub.azure.v1"
#define PROTO_JSON_RELIABLE_V1 "json.reliable.webpubsub.azure.v1"

/* Choose from a Sec-WebSocket-Protocol header (NULL or empty: a simple client). Returns 0 with
 * *out set and *name the protocol to answer with (NULL for none), or -1 when every offered
 * protocol is unsupported. */
int proto_choose(const char *header, enum hub_proto *out, const char **name);

/* Build a message from a REST send body: dtype from the Content-Type, data parsed once.
 * body is borrowed and must outlive m. Returns 0, or -1 with a reason in err (invalid JSON or
 * UTF-8 text). Release with proto_msg_release. */
int proto_msg_from_body(struct hub_msg *m, enum hub_dtype dtype, const char *body, size_t len, char *err,
                        size_t errlen);
void proto_msg_release(struct hub_msg *m);
/* dtype from a Content-Type (parameters ignored); -1 for anything else. */
int proto_dtype_from_content_type(const char *ct, enum hub_dtype *out);

/* Outgoing: the connected system message (JSON protocols), a message, the disconnected message. */
void proto_connected(struct hub_conn *c);
void proto_deliver(struct hub_conn *c, const struct hub_msg *m);
void proto_disconnected(struct hub_conn *c, const char *reason);

/* An ack for a client's ackId: success when error is NULL, else {"name": error, "message"}. */
void proto_ack(struct hub_conn *c, long long ack_id, const char *error, const char *message);

/* Incoming: one complete WebSocket message from the client (binary when it was a binary frame). */
void proto_on_message(struct hub_conn *c, int binary, const char *data, size_t len);

#endif
