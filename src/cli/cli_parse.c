/* cli_parse.c: reads one HTTP/1.1 answer of wpsgated for the client (cli_http.c): the status line, the
 * headers the client uses, and a body delimited by Content-Length, chunked coding or the end of the
 * connection; interim 1xx answers are skipped. Called again with all bytes so far until it decides. */
#include <config.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define CLI_HEADER_MAX 65536 /* bytes of one answer's status line and headers */

void cli_parse_init(struct cli_parse *ps, int head)
{
	memset(ps, 0, sizeof(*ps));
	ps->head = head;
	ps->clen = -1;
}

static int fail(struct cli_parse *ps, const char *why)
{
	ps->error = why;
	return -1;
}

static int too_large(struct cli_parse *ps)
{
	ps->too_large = 1;
	return fail(ps, "an answer larger than the client keeps");
}

/* Copy a header's value (trimmed) into out when the line is "name: value". Returns 1 if it was name. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), i, j;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	i = nl + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j = len;
	while (j > i && isspace((unsigned char)line[j - 1]))
		j--;
	if (j - i >= outsz)
		j = i + outsz - 1;
	memcpy(out, line + i, j - i);
	out[j - i] = '\0';
	return 1;
}

static const char *find_crlfcrlf(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return p + i;
	return NULL;
}

/* The status line and headers of the block at ps->base, ending at end (the CRLFCRLF). */
static int parse_head(struct cli_parse *ps, const char *data, const char *end, struct cli_resp *r)
{
	const char *p = data + ps->base, *eol;
	char v[64];
	int i;

	if (end - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return fail(ps, "not an HTTP/1.x answer");
	for (i = 9; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return fail(ps, "a malformed status line");
	if (end - p > 12 && p[12] != ' ' && p[12] != '\r')
		return fail(ps, "a malformed status line");
	ps->status = strtol(p + 9, NULL, 10);
	if (ps->status < 100 || ps->status > 599)
		return fail(ps, "a malformed status line");
	r->ctype[0] = '\0';
	r->errcode[0] = '\0';
	ps->clen = -1;
	ps->chunked = 0;
	eol = memchr(p, '\n', (size_t)(end - p) + 2);
	while (eol != NULL && eol + 1 < end + 2) {
		const char *line = eol + 1, *next = memchr(line, '\n', (size_t)(end + 2 - line));
		size_t len;

		if (next == NULL || next - line < 1)
			break;
		len = (size_t)(next - line) - 1; /* without the CR */
		if (len == 0)
			break;
		header_value(line, len, "Content-Type", r->ctype, sizeof(r->ctype));
		header_value(line, len, "x-ms-error-code", r->errcode, sizeof(r->errcode));
		if (header_value(line, len, "Content-Length", v, sizeof(v))) {
			char *e;
			long long n;

			if (!isdigit((unsigned char)v[0]) || (n = strtoll(v, &e, 10)) < 0 || *e != '\0' ||
			    (ps->clen >= 0 && ps->clen != n))
				return fail(ps, "a malformed Content-Length");
			ps->clen = n;
		}
		if (header_value(line, len, "Transfer-Encoding", v, sizeof(v))) {
			if (strcasecmp(v, "chunked") != 0)
				return fail(ps, "a Transfer-Encoding other than chunked");
			ps->chunked = 1;
		}
		eol = next;
	}
	return 0;
}

/* Walk the chunks from off: 1 complete (the body appended to r when copy), 0 incomplete, -1 malformed. */
static int walk_chunks(struct cli_parse *ps, const char *data, size_t len, size_t off, int copy,
                       struct cli_resp *r)
{
	for (;;) {
		const char *p = data + off, *eol = memchr(p, '\n', len - off);
		unsigned long long n = 0;
		size_t i, digits = 0;

		if (eol == NULL)
			return len - off > 1024 ? fail(ps, "a malformed chunk") : 0;
		for (i = 0; p + i < eol && isxdigit((unsigned char)p[i]); i++, digits++) {
			if (n > (1ULL << 40))
				return fail(ps, "a malformed chunk");
			n = n * 16 + (unsigned)(isdigit((unsigned char)p[i]) ? p[i] - '0'
			                                                     : (tolower(p[i]) - 'a' + 10));
		}
		if (digits == 0 || eol == p || eol[-1] != '\r')
			return fail(ps, "a malformed chunk");
		off = (size_t)(eol - data) + 1;
		if (n == 0) { /* trailers, then an empty line */
			for (;;) {
				const char *t = data + off, *te = memchr(t, '\n', len - off);

				if (te == NULL)
					return 0;
				off = (size_t)(te - data) + 1;
				if (te == t + 1 && t[0] == '\r')
					return 1;
			}
		}
		if (len - off < n + 2)
			return 0;
		if (data[off + n] != '\r' || data[off + n + 1] != '\n')
			return fail(ps, "a malformed chunk");
		if (copy && buf_append(&r->body, data + off, (size_t)n) < 0)
			return too_large(ps);
		off += (size_t)n + 2;
	}
}

int cli_parse(struct cli_parse *ps, const char *data, size_t len, int eof, struct cli_resp *r)
{
	size_t avail;
	int rc;

	while (ps->hdr_end == 0) {
		const char *end = find_crlfcrlf(data + ps->base, len - ps->base);

		if (end == NULL) {
			if (len - ps->base > CLI_HEADER_MAX)
				return fail(ps, "an answer whose headers are too large");
			return eof ? fail(ps, "the connection closed before the answer") : 0;
		}
		if (parse_head(ps, data, end, r) < 0)
			return -1;
		if (ps->status >= 100 && ps->status < 200) { /* interim: the answer follows */
			ps->base = (size_t)(end - data) + 4;
			continue;
		}
		ps->hdr_end = (size_t)(end - data) + 4;
		r->status = ps->status;
	}
	avail = len - ps->hdr_end;
	if (ps->head || r->status == 204 || r->status == 304) {
		buf_reset(&r->body);
		return 1;
	}
	if (ps->chunked) {
		if ((rc = walk_chunks(ps, data, len, ps->hdr_end, 0, r)) == 0 && eof)
			return fail(ps, "the answer was cut short");
		if (rc <= 0)
			return rc;
		buf_reset(&r->body);
		return walk_chunks(ps, data, len, ps->hdr_end, 1, r);
	}
	if (ps->clen >= 0) {
		if (avail < (unsigned long long)ps->clen)
			return eof ? fail(ps, "the answer was cut short") : 0;
		buf_reset(&r->body);
		if (buf_append(&r->body, data + ps->hdr_end, (size_t)ps->clen) < 0)
			return too_large(ps);
		return 1;
	}
	if (!eof)
		return 0;
	buf_reset(&r->body);
	if (buf_append(&r->body, data + ps->hdr_end, avail) < 0)
		return too_large(ps);
	return 1;
}
