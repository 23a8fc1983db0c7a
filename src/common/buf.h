/* buf.h: a growable byte buffer with a hard upper bound. */
#ifndef WPS_BUF_H
#define WPS_BUF_H

#include <stddef.h>
#include <jansson.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL (the NUL is not counted in len) */
	size_t len;
	size_t cap;
	size_t max; /* append fails past this many bytes; 0 means no bound */
};

void buf_init(struct buf *b, size_t max);
/* Append n bytes. Returns 0, or -1 (buffer unchanged) when it would exceed max or memory runs out. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append j as compact JSON with its keys in insertion order. Steals j (NULL: -1). Returns 0 or -1. */
int buf_put_json(struct buf *b, json_t *j);
void buf_reset(struct buf *b); /* len = 0, keeps the memory */
/* Hand the data to the caller (a new string, never NULL: "" for an empty buffer) and re-initialise b. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b); /* frees the data; b may be reused after buf_init */

#endif
