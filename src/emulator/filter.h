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
 *   operand := "userId" | "connectionId" | string | "null"
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

/* Parse s[0..len). Returns 0 with *out a new filter (filter_free), or -1 with a reason in err
 * (which quotes at most a few bytes of the input). */
int filter_parse(const char *s, size_t len, struct filter **out, char *err, size_t errlen);
/* 1 when the subject matches, else 0. */
int filter_eval(const struct filter *f, const struct filter_subject *subj);
void filter_free(struct filter *f); /* accepts NULL */

#endif
