/* access.h: who may use the gateway (peer credentials, access rules by operation class and hub) and
 * the audit line of every request that changes something. */
#ifndef WPS_GW_ACCESS_H
#define WPS_GW_ACCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cfgtab.h"

#include "buf.h"
#include "ops.h"

#define ACCESS_RULES_MAX       64  /* entries in access.rules */
#define ACCESS_RULE_IDS_MAX    64  /* users, groups or hubs in one rule */
#define ACCESS_PEER_GROUPS_MAX 64  /* supplementary groups of a peer that the rules look at */
#define ACCESS_EXE_MAX         256 /* bytes of a peer's executable path in the audit line */

/* One rule of `access.rules`: it allows a peer that is one of `users` or in one of `groups`
 * to use the operation classes `ops` on the hubs `hubs`. */
struct access_rule {
	uid_t uids[ACCESS_RULE_IDS_MAX];
	size_t nuids;
	int any_user; /* users = [ "*" ] */
	gid_t gids[ACCESS_RULE_IDS_MAX];
	size_t ngids;
	char *hubs[ACCESS_RULE_IDS_MAX]; /* owned; exact hub names */
	size_t nhubs;
	int any_hub;      /* "*" in hubs, or hubs not given */
	unsigned classes; /* bit (1u << enum ops_class); all when ops not given */
	int line;         /* in the config file, for log lines */
};

/*
 * access = {
 *   tcp = "allow";            # or "deny": TCP peers carry no credentials (default "allow": TCP is
 *                             # loopback-only and guarded by guard.c)
 *   rules = ( { users = ( "www-data", 1001 ); groups = [ "app" ];   # a list ( ) when names and ids mix
 *               hubs = [ "chat" ];             # or "*"; default every hub
 *               ops = [ "send", "group" ]; }   # read send group close permission token, or "*"
 *           );
 * };
 * Without `rules`, root and the members of the socket's group may do everything and nobody else
 * anything. With rules, root and the peers a rule allows. Names are resolved at parse time.
 */
struct access_cfg {
	struct access_rule rules[ACCESS_RULES_MAX];
	size_t nrules;
	int have_rules; /* `rules` was given (even empty: nobody but root) */
	int tcp_allow;
};

/* The `access` section (cfgtab.h). */
extern const struct cfgtab_section access_cfg_section;

/* The peer of one connection. */
struct access_peer {
	int is_unix; /* 0: TCP, no credentials */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[ACCESS_PEER_GROUPS_MAX]; /* supplementary groups (may include gid) */
	size_t ngroups;
};

/* Fill p for a TCP peer. */
void access_peer_tcp(struct access_peer *p);
/* Fill p from a connected Unix socket: uid, gid and pid from SO_PEERCRED (pid 0 for a peer in a PID
 * namespace this process does not see, e.g. another container of a pod), the supplementary groups
 * from SO_PEERGROUPS (what the peer process had at connect()), falling back to
 * access_peer_groups_from_uid. Returns 0 or -1 (errno set; not a Unix socket peer). */
int access_peer_from_fd(int fd, struct access_peer *p);
/* Set p->groups from the user database (getpwuid + getgrouplist; may block on NSS). Returns 0, or
 * -1 when the uid has no passwd entry (then groups = { gid }). */
int access_peer_groups_from_uid(struct access_peer *p);

/* May peer p use an operation of class cls on hub? socket_gid: the group of the Unix socket file
 * (listen.unix.group, else the daemon's group); used only when there are no rules.
 * Returns 1 (allow) or 0 (deny: answer 403 AccessDenied and log the peer). hub may be NULL for
 * operations without a hub (GetServiceStatus): such a request needs a rule with any hub. */
int access_allow(const struct access_cfg *c, const struct access_peer *p, enum ops_class cls, const char *hub,
                 gid_t socket_gid);

/* The fields of an audit line, each a NUL-terminated string. */
struct access_audit {
	char uid[24];             /* "-" for TCP */
	char pid[24];             /* "-" for TCP */
	char exe[ACCESS_EXE_MAX]; /* readlink /proc/PID/exe, "?" when it cannot be read, "-" for TCP */
	char body_bytes[24];
	char body_sha256[65]; /* lower-case hex */
};

/* Fill a from the peer and the body (borrowed; only hashed and measured, never copied).
 * Returns 0 or -1 (hashing failed; body_sha256 is then "?"). */
int access_audit_fill(struct access_audit *a, const struct access_peer *p, const void *body, size_t len);
/* Log the audit line at info: `msg=audit request_id= status= peer= uid= pid= exe= op= hub= target=
 * body_bytes= body_sha256=`. op_label from the operation table; hub, target (group, user or connection
 * id) and request_id are escaped by the log module; NULL gives "-". status 0: "-" (not answered). */
void access_audit_log(const struct access_peer *p, const char *request_id, int status, const char *op_label,
                      const char *hub, const char *target, const void *body, size_t len);

#endif
