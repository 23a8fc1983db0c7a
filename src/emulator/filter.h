/* filter.h: the OData filter subset Web PubSub takes on sends and group operations. */
#ifndef EMU_FILTER_H
#define EMU_FILTER_H

#include <stddef.h>

/*
 * Grammar (keywords and field names are case-sensitive, as in OData):
 *   expr    := and ( "or" and )*
 *   and     := unary ( "and" unary )*
 *   unary   := "not" unary | primary
 *   primary := "(" expr ")"
 *            | ("startswith" | "endswith" | "contains") "(" operand "," operand ")"
 *            | operand ( "eq" | "ne" ) operand
 *            | string "in" "groups"
 *   operand := "userId" | "connectionId" | string | "null"   (any other identifier: see filter_error)
 *   string  := "'" ( any character but "'" | "''" )* "'"
 */
struct filter;

/* What a filter is evaluated against; every pointer is borrowed. user_id may be NULL (anonymous). */
struct filter_subject {
	const char *connection_id;
	const char *user_id;
	char *const *groups;
	size_t ngroups;
};

/* Where and why a filter was refused. pos is the 0-based byte offset the service would report
 * ("Syntax error at position N"): the token at which parsing could not go on. The service's parser
 * accepts any identifier where an operand may stand and any identifier after an operand as an
 * operator, and fails at the token after that (position 14 in "invalid filter", as recorded); an
 * identifier that is not a field the emulator knows is refused at its own position once the whole
 * expression has parsed. reason is a static string naming the emulator's own cause. */
struct filter_error {
	size_t pos;
	const char *reason;
};

/* Parse s[0..len). Returns 0 with *out a new filter (filter_free), or -1 with err filled. */
int filter_parse(const char *s, size_t len, struct filter **out, struct filter_error *err);
/* 1 when the subject matches, else 0. */
int filter_eval(const struct filter *f, const struct filter_subject *subj);
void filter_free(struct filter *f); /* accepts NULL */

#endif
