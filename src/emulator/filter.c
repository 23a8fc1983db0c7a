/* filter.c: parse OData filters into a small tree of nodes and evaluate them per connection. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "emulimits.h"
#include "filter.h"

enum fnode_kind {
	FN_OR,
	FN_AND,
	FN_NOT,
	FN_EQ,
	FN_NE,
	FN_IN_GROUPS,
	FN_STARTSWITH,
	FN_ENDSWITH,
	FN_CONTAINS,
	FN_FIELD_USER,
	FN_FIELD_CONN,
	FN_STRING,
	FN_NULL
};

struct fnode {
	enum fnode_kind kind;
	int a, b;  /* child node indexes (-1 when unused) */
	char *str; /* FN_STRING: the unquoted literal */
};

struct filter {
	struct fnode nodes[EMU_FILTER_NODES_MAX];
	int n;
	int root;
};

enum tok_kind { T_END, T_LPAREN, T_RPAREN, T_COMMA, T_STRING, T_IDENT, T_BAD };

struct parser {
	const char *s;
	size_t len, pos;
	enum tok_kind tok;
	size_t tstart, tlen; /* token text (identifiers) */
	char *tstr;          /* T_STRING: the unquoted literal (owned until consumed) */
	struct filter *f;
	int depth;
	struct filter_error *err;
	int failed;
	int unknown;        /* an identifier that is not a field was taken as an operand */
	size_t unknown_pos; /* the first one's position */
};

static void fail(struct parser *p, const char *what)
{
	if (p->failed)
		return;
	p->failed = 1;
	p->err->pos = p->tstart;
	p->err->reason = what;
}

static void next(struct parser *p)
{
	free(p->tstr);
	p->tstr = NULL;
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
		p->pos++;
	p->tstart = p->pos;
	if (p->pos >= p->len) {
		p->tok = T_END;
		return;
	}
	char c = p->s[p->pos];
	if (c == '(' || c == ')' || c == ',') {
		p->tok = c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : T_COMMA;
		p->pos++;
		return;
	}
	if (c == '\'') {
		size_t i = p->pos + 1, o = 0;
		char *out = malloc(p->len - p->pos + 1);
		if (!out) {
			p->tok = T_BAD;
			return;
		}
		for (;;) {
			if (i >= p->len) {
				free(out);
				p->tok = T_BAD;
				fail(p, "unterminated string literal");
				return;
			}
			if (p->s[i] == '\'') {
				if (i + 1 < p->len && p->s[i + 1] == '\'') {
					out[o++] = '\'';
					i += 2;
					continue;
				}
				i++;
				break;
			}
			out[o++] = p->s[i++];
		}
		out[o] = '\0';
		p->tstr = out;
		p->pos = i;
		p->tok = T_STRING;
		return;
	}
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') {
		size_t i = p->pos;
		while (i < p->len &&
		       ((p->s[i] >= 'A' && p->s[i] <= 'Z') || (p->s[i] >= 'a' && p->s[i] <= 'z') ||
		        (p->s[i] >= '0' && p->s[i] <= '9') || p->s[i] == '_'))
			i++;
		p->tlen = i - p->pos;
		p->pos = i;
		p->tok = T_IDENT;
		return;
	}
	p->tok = T_BAD;
	fail(p, "unexpected character");
}

static int is_ident(const struct parser *p, const char *word)
{
	size_t n = strlen(word);
	return p->tok == T_IDENT && p->tlen == n && memcmp(p->s + p->tstart, word, n) == 0;
}

static int add_node(struct parser *p, enum fnode_kind k, int a, int b, char *str)
{
	if (p->f->n >= EMU_FILTER_NODES_MAX) {
		free(str);
		fail(p, "too many terms");
		return -1;
	}
	struct fnode *n = &p->f->nodes[p->f->n];
	n->kind = k;
	n->a = a;
	n->b = b;
	n->str = str;
	return p->f->n++;
}

static int parse_or(struct parser *p);

/* operand := userId | connectionId | string | null */
static int parse_operand(struct parser *p)
{
	int r;
	if (p->failed)
		return -1;
	if (p->tok == T_STRING) {
		char *s = p->tstr;
		p->tstr = NULL;
		r = add_node(p, FN_STRING, -1, -1, s);
	} else if (is_ident(p, "userId")) {
		r = add_node(p, FN_FIELD_USER, -1, -1, NULL);
	} else if (is_ident(p, "connectionId")) {
		r = add_node(p, FN_FIELD_CONN, -1, -1, NULL);
	} else if (is_ident(p, "null")) {
		r = add_node(p, FN_NULL, -1, -1, NULL);
	} else if (p->tok == T_IDENT) {
		/* syntactically a property: refused after the parse (filter_error) */
		if (!p->unknown) {
			p->unknown = 1;
			p->unknown_pos = p->tstart;
		}
		r = add_node(p, FN_NULL, -1, -1, NULL);
	} else {
		fail(p, "expected userId, connectionId, a string or null");
		return -1;
	}
	if (r >= 0)
		next(p);
	return r;
}

static int parse_primary(struct parser *p)
{
	int a, b;
	enum fnode_kind fk;

	if (p->failed)
		return -1;
	if (p->tok == T_LPAREN) {
		if (++p->depth > EMU_FILTER_DEPTH_MAX) {
			fail(p, "nested too deeply");
			return -1;
		}
		next(p);
		a = parse_or(p);
		if (a < 0)
			return -1;
		if (p->tok != T_RPAREN) {
			fail(p, "expected ')'");
			return -1;
		}
		p->depth--;
		next(p);
		return a;
	}
	if (is_ident(p, "startswith") || is_ident(p, "endswith") || is_ident(p, "contains")) {
		fk = is_ident(p, "startswith") ? FN_STARTSWITH
		     : is_ident(p, "endswith") ? FN_ENDSWITH
		                               : FN_CONTAINS;
		next(p);
		if (p->tok != T_LPAREN) {
			fail(p, "expected '(' after function name");
			return -1;
		}
		next(p);
		a = parse_operand(p);
		if (a < 0)
			return -1;
		if (p->tok != T_COMMA) {
			fail(p, "expected ','");
			return -1;
		}
		next(p);
		b = parse_operand(p);
		if (b < 0)
			return -1;
		if (p->tok != T_RPAREN) {
			fail(p, "expected ')'");
			return -1;
		}
		next(p);
		return add_node(p, fk, a, b, NULL);
	}
	int was_string = p->tok == T_STRING;
	a = parse_operand(p);
	if (a < 0)
		return -1;
	if (is_ident(p, "in")) {
		if (!was_string) {
			fail(p, "'in groups' needs a string on its left");
			return -1;
		}
		next(p);
		if (!is_ident(p, "groups")) {
			fail(p, "expected 'groups' after 'in'");
			return -1;
		}
		next(p);
		return add_node(p, FN_IN_GROUPS, a, -1, NULL);
	}
	if (is_ident(p, "eq") || is_ident(p, "ne")) {
		fk = is_ident(p, "eq") ? FN_EQ : FN_NE;
		next(p);
		b = parse_operand(p);
		if (b < 0)
			return -1;
		return add_node(p, fk, a, b, NULL);
	}
	if (p->tok == T_IDENT) {
		/* an operator the emulator does not know: its right operand is where parsing stops */
		next(p);
		fail(p, "unknown operator");
		return -1;
	}
	fail(p, "expected eq, ne or in");
	return -1;
}

static int parse_unary(struct parser *p)
{
	if (is_ident(p, "not")) {
		if (++p->depth > EMU_FILTER_DEPTH_MAX) {
			fail(p, "nested too deeply");
			return -1;
		}
		next(p);
		int a = parse_unary(p);
		p->depth--;
		if (a < 0)
			return -1;
		return add_node(p, FN_NOT, a, -1, NULL);
	}
	return parse_primary(p);
}

static int parse_and(struct parser *p)
{
	int a = parse_unary(p);
	while (a >= 0 && is_ident(p, "and")) {
		next(p);
		int b = parse_unary(p);
		if (b < 0)
			return -1;
		a = add_node(p, FN_AND, a, b, NULL);
	}
	return a;
}

static int parse_or(struct parser *p)
{
	int a = parse_and(p);
	while (a >= 0 && is_ident(p, "or")) {
		next(p);
		int b = parse_and(p);
		if (b < 0)
			return -1;
		a = add_node(p, FN_OR, a, b, NULL);
	}
	return a;
}

int filter_parse(const char *s, size_t len, struct filter **out, struct filter_error *err)
{
	struct parser p;
	struct filter *f = NULL;
	const char *nul;

	*out = NULL;
	err->pos = 0;
	err->reason = NULL;
	if (len > WPS_FILTER_MAX) {
		err->pos = WPS_FILTER_MAX;
		err->reason = "longer than the largest filter";
		return -1;
	}
	if ((nul = memchr(s, '\0', len)) != NULL) {
		err->pos = (size_t)(nul - s);
		err->reason = "a NUL byte";
		return -1;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		err->reason = "out of memory";
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.s = s;
	p.len = len;
	p.f = f;
	p.err = err;
	next(&p);
	if (p.tok == T_END)
		fail(&p, "empty expression");
	f->root = parse_or(&p);
	if (!p.failed && p.tok != T_END)
		fail(&p, "unexpected text after the expression");
	if (!p.failed && p.unknown) {
		p.tstart = p.unknown_pos;
		fail(&p, "not a field of a connection (userId, connectionId, groups)");
	}
	free(p.tstr);
	if (p.failed || f->root < 0) {
		if (!p.failed)
			fail(&p, "syntax error");
		filter_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

/* The value of an operand node; *is_null set for null and an anonymous userId. */
static const char *operand(const struct filter *f, int i, const struct filter_subject *s)
{
	switch (f->nodes[i].kind) {
	case FN_FIELD_USER: return s->user_id;
	case FN_FIELD_CONN: return s->connection_id;
	case FN_STRING: return f->nodes[i].str;
	default: return NULL;
	}
}

static int eval(const struct filter *f, int i, const struct filter_subject *s)
{
	const struct fnode *n = &f->nodes[i];
	const char *x, *y;
	size_t lx, ly;

	switch (n->kind) {
	case FN_OR: return eval(f, n->a, s) || eval(f, n->b, s);
	case FN_AND: return eval(f, n->a, s) && eval(f, n->b, s);
	case FN_NOT: return !eval(f, n->a, s);
	case FN_EQ:
	case FN_NE: {
		x = operand(f, n->a, s);
		y = operand(f, n->b, s);
		int eq = (!x && !y) || (x && y && strcmp(x, y) == 0);
		return n->kind == FN_EQ ? eq : !eq;
	}
	case FN_IN_GROUPS:
		x = f->nodes[n->a].str;
		for (size_t k = 0; k < s->ngroups; k++)
			if (strcmp(s->groups[k], x) == 0)
				return 1;
		return 0;
	case FN_STARTSWITH:
	case FN_ENDSWITH:
	case FN_CONTAINS:
		x = operand(f, n->a, s);
		y = operand(f, n->b, s);
		if (!x || !y)
			return 0;
		lx = strlen(x);
		ly = strlen(y);
		if (ly > lx)
			return 0;
		if (n->kind == FN_STARTSWITH)
			return memcmp(x, y, ly) == 0;
		if (n->kind == FN_ENDSWITH)
			return memcmp(x + lx - ly, y, ly) == 0;
		return strstr(x, y) != NULL;
	default: return 0;
	}
}

int filter_eval(const struct filter *f, const struct filter_subject *subj)
{
	return eval(f, f->root, subj);
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n; i++)
		free(f->nodes[i].str);
	free(f);
}
