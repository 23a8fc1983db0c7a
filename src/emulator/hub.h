/* hub.h: the emulator's per-hub state: connections, users, groups, roles and granted permissions,
 * and the selection of connections that a send or a close targets. */
#ifndef EMU_HUB_H
#define EMU_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "filter.h"

enum hub_proto { HUB_PROTO_SIMPLE, HUB_PROTO_JSON, HUB_PROTO_RELIABLE, HUB_PROTO_MQTT };
enum hub_dtype { HUB_DT_TEXT, HUB_DT_JSON, HUB_DT_BINARY };
enum hub_perm_kind { HUB_PERM_SEND_TO_GROUP, HUB_PERM_JOIN_LEAVE_GROUP };

/* How the state reaches a client. The transport behind a connection is opaque to the hub. */
struct hub_transport_ops {
	/* Queue one frame. Returns 0, or -1 when the client cannot take it (queue over its cap);
	 * the transport then drops the client at its next turn, not from inside this call. */
	int (*send)(void *t, int binary, const char *data, size_t len);
	/* The service closes the connection: send a close frame (code, reason) and hang up. The hub
	 * frees its connection right after this call; the transport must forget it. */
	void (*close)(void *t, int code, const char *reason);
};

struct mqtt_props;

/* One message on its way to clients (built by proto_msg_*; see proto.h). */
struct hub_msg {
	enum hub_dtype dtype;
	const char *raw; /* the bytes a simple client gets (binary: decoded bytes) */
	size_t rawlen;
	json_t *data;          /* the "data" member for the JSON protocols (borrowed) */
	const char *group;     /* non-NULL for group messages */
	const char *from_user; /* group message sent by a client: its userId (may be NULL) */
	char *owned_raw;       /* raw when the message owns it (proto_msg_release frees it) */
	const struct mqtt_props *mqtt; /* published by an MQTT 5.0 client: its properties (borrowed) */
};

struct hub_perm {
	struct hub_perm *next;
	enum hub_perm_kind kind;
	char *target; /* a group; NULL for every group */
};

struct hub;
struct hub_mqtt; /* mqtt.h: what an MQTT connection adds (version, client id, session ids) */

struct hub_conn {
	struct hub_conn *next, *prev;
	struct hub *hub;
	char *id;
	char *user; /* NULL for an anonymous connection */
	enum hub_proto proto;
	uint64_t serial;         /* order of arrival: ListConnectionsInGroup pages by it */
	struct hub_perm *roles;  /* from the token; fixed */
	struct hub_perm *grants; /* granted over REST */
	size_t ngrants;
	char **groups;
	size_t ngroups, capgroups;
	uint64_t seq;      /* last sequenceId sent (reliable protocol) */
	uint64_t *ackring; /* recently seen ackIds (EMU_ACKIDS_MAX, oldest dropped) */
	size_t nacks, ackpos;
	void *transport;
	char *ev_state;       /* ce-connectionState the event handler set (owned), NULL: none */
	uint64_t ev_seq;      /* ce-id of the next event call (connect was 0) */
	const char *gone_why; /* why it goes, for the disconnected event (hub_conn_close) */
	/* what tools show (the inspector) */
	char **rolenames; /* the roles of the token, as given */
	size_t nrolenames;
	const char *protocol;    /* borrowed static label ("mqtt"...); NULL: from proto */
	const char *subprotocol; /* borrowed static: the negotiated subprotocol, NULL: none */
	uint64_t connected_ms;   /* wall clock, ms since the epoch */
	struct hub_mqtt *mqtt; /* HUB_PROTO_MQTT: borrowed from the MQTT session, which outlives it */
};

struct hub_user {
	struct hub_user *next;
	char *id;
	char **groups; /* groups the user was added to (AddUserToGroup) */
	size_t ngroups;
};

struct hub {
	struct hub *next;
	struct hub_state *state;
	char *name;
	struct hub_conn *conns, *tail;
	size_t nconns;
	struct hub_user *users;
};

struct hub_state {
	struct hub *hubs;
	size_t nconns;
	uint64_t serial;
	const struct hub_transport_ops *tops;
	/* Called as a connection goes (the client left, or the service closed it), before it is freed:
	 * the disconnected event. NULL: nothing. */
	void (*on_gone)(struct hub_conn *c, const char *reason, void *arg);
	void *on_gone_arg;
	struct evh *events; /* the event handlers (events.h), NULL: none */
	struct insp *insp;  /* the inspector (insp.h), NULL: off */
};

/* New empty state. tops is borrowed and must outlive it. NULL on out of memory. */
struct hub_state *hub_state_new(const struct hub_transport_ops *tops);
/* Frees every hub and connection without telling any transport. Accepts NULL. */
void hub_state_free(struct hub_state *st);

/* The hub named name (borrowed; hub names are case-insensitive, as in the service), created when
 * create is set; NULL when absent or out of memory. */
struct hub *hub_get(struct hub_state *st, const char *name, int create);

struct hub_conn_spec {
	const char *id;   /* NULL: a random one */
	const char *user; /* NULL: anonymous */
	enum hub_proto proto;
	const char *const *roles;
	size_t nroles;
	const char *const *groups; /* joined on connect */
	size_t ngroups;
	void *transport;
	const char *protocol;    /* static label for tools; NULL: from proto ("simple", "json", ...) */
	const char *subprotocol; /* static: the negotiated subprotocol, NULL: none */
	struct hub_mqtt *mqtt; /* HUB_PROTO_MQTT only (borrowed) */
};
/* A new random connection id (22 base64url characters) into out. */
void hub_make_id(char *out, size_t outlen);
/* Add a connection (joins its token groups and the groups its user was added to). Returns the
 * connection (owned by the hub) or NULL (out of memory, or the id is taken). */
struct hub_conn *hub_conn_add(struct hub *h, const struct hub_conn_spec *spec);
/* The client went away: forget the connection (nothing is sent). Accepts NULL. */
void hub_conn_remove(struct hub_conn *c);
/* The service closes the connection: the JSON protocols get the disconnected message, then the
 * transport closes with code 1000 and reason; the connection is freed. */
void hub_conn_close(struct hub_conn *c, const char *reason);
struct hub_conn *hub_conn_find(const struct hub *h, const char *id);

int hub_conn_in_group(const struct hub_conn *c, const char *group);
/* 0 (also when already a member), or -1 (out of memory or too many groups). */
int hub_conn_join(struct hub_conn *c, const char *group);
/* 1 when it was a member, 0 when not. */
int hub_conn_leave(struct hub_conn *c, const char *group);
void hub_conn_leave_all(struct hub_conn *c);

int hub_user_exists(const struct hub *h, const char *user);
int hub_group_exists(const struct hub *h, const char *group);
/* AddUserToGroup: -1 when the user has no connection (404), else every connection of the user
 * (and the user's later connections) join group. */
int hub_user_add_group(struct hub *h, const char *user, const char *group);
/* group NULL: from every group. */
void hub_user_remove_group(struct hub *h, const char *user, const char *group);

/* Permissions: target NULL means every group. grant: 0 or -1 (limit). check includes the token's
 * roles ("webpubsub.joinLeaveGroup[.g]", "webpubsub.sendToGroup[.g]"); with target NULL it asks
 * for the permission on every group. revoke with target NULL removes every grant of kind. */
int hub_perm_grant(struct hub_conn *c, enum hub_perm_kind kind, const char *target);
void hub_perm_revoke(struct hub_conn *c, enum hub_perm_kind kind, const char *target);
int hub_perm_check(const struct hub_conn *c, enum hub_perm_kind kind, const char *target);
int hub_perm_parse(const char *s, enum hub_perm_kind *out); /* "sendToGroup" | "joinLeaveGroup" */

/* Remember ackId; 1 when it was already seen on this connection (Duplicate). */
int hub_conn_ack_seen(struct hub_conn *c, uint64_t ack_id);

enum hub_target { HUB_T_ALL, HUB_T_GROUP, HUB_T_USER, HUB_T_CONN };
struct hub_sel {
	enum hub_target kind;
	const char *id;        /* group, user or connection id */
	char *const *excluded; /* connection ids left out */
	size_t nexcluded;
	const struct filter *filter; /* NULL for none */
	const struct hub_conn *skip; /* noEcho: the sender */
};
typedef void (*hub_conn_fn)(struct hub_conn *c, void *arg);
/* Call fn for every connection the selection picks; fn may remove or close that connection.
 * Returns the number of calls. */
size_t hub_foreach(struct hub *h, const struct hub_sel *sel, hub_conn_fn fn, void *arg);
/* Deliver m to the selection (to a group: as a message from that group). Returns the number of connections it was queued to. */
size_t hub_send(struct hub *h, const struct hub_sel *sel, const struct hub_msg *m);
/* Close the selection with reason. Returns how many were closed. */
size_t hub_close(struct hub *h, const struct hub_sel *sel, const char *reason);
/* Add the selection (filter and no target means every connection) to / remove it from groups. */
void hub_groups_add(struct hub *h, char *const *groups, size_t n, const struct filter *f);
void hub_groups_remove(struct hub *h, char *const *groups, size_t n, const struct filter *f);

#endif
