/* cli_http.c: the wpsgate client's transport: one libcurl easy request at a time to wpsgated. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"

struct cli_http {
	const char *socket; /* borrowed; NULL when base is a URL given with --url */
	char *base;         /* "http://localhost" or the --url value without a trailing '/' */
	char *where;        /* for messages */
	long timeout_ms;
	int verbose;
};

struct cli_http *cli_http_new(const struct cli_opts *o)
{
	struct cli_http *h = NULL;
	struct buf b;

	buf_init(&b, 4096);
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto bad;
	h->timeout_ms = o->timeout_s * 1000;
	h->verbose = o->verbose;
	if (o->url != NULL) {
		size_t n = strlen(o->url);

		if (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0) {
			cli_usage_error("--url must start with http:// or https:// (got a %zu-byte value)",
			                n);
			goto bad;
		}
		while (n > 0 && o->url[n - 1] == '/')
			n--;
		if (buf_append(&b, o->url, n) < 0)
			goto nomem;
		h->base = buf_steal(&b);
		h->where = strdup(h->base);
	} else {
		const char *env = getenv("WPSGATE_SOCKET");

		h->socket = o->socket != NULL               ? o->socket
		            : (env != NULL && *env != '\0') ? env
		                                            : CLI_DEFAULT_SOCKET;
		h->base = strdup("http://localhost");
		if (buf_printf(&b, "unix:%s", h->socket) < 0)
			goto nomem;
		h->where = buf_steal(&b);
	}
	if (h->base == NULL || h->where == NULL)
		goto nomem;
	buf_free(&b);
	return h;
nomem:
	cli_warn("out of memory");
bad:
	buf_free(&b);
	cli_http_free(h);
	return NULL;
}

void cli_http_free(struct cli_http *h)
{
	if (h == NULL)
		return;
	free(h->base);
	free(h->where);
	free(h);
}

const char *cli_http_where(const struct cli_http *h)
{
	return h->where;
}

void resp_init(struct cli_resp *r)
{
	r->status = 0;
	buf_init(&r->body, CLI_RESPONSE_MAX);
	r->ctype[0] = '\0';
	r->errcode[0] = '\0';
}

void resp_free(struct cli_resp *r)
{
	if (r == NULL)
		return;
	buf_free(&r->body);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct cli_resp *r = arg;

	if (buf_append(&r->body, p, size * n) < 0)
		return 0; /* too large: curl stops with CURLE_WRITE_ERROR */
	return size * n;
}

/* Copy a header's value (trimmed) into out when the line is "name: value". */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), i, j;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
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
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct cli_resp *r = arg;
	size_t len = size * n;

	/* a new status line (after 100 Continue) starts a new header block */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->ctype[0] = '\0';
		r->errcode[0] = '\0';
	}
	header_value(p, len, "Content-Type", r->ctype, sizeof(r->ctype));
	header_value(p, len, "x-ms-error-code", r->errcode, sizeof(r->errcode));
	return len;
}

/* Why a unix socket refuses a connection, in the words of connect(2) ("No such file or directory",
 * "Permission denied", "Connection refused"): curl only says it could not connect to "localhost". */
static const char *unix_connect_error(const char *path)
{
	struct sockaddr_un sa;
	const char *why = NULL;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return "the socket path is too long";
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		why = strerror(errno);
	close(fd);
	return why;
}

int cli_http_do(struct cli_http *h, const char *method, const char *pathq, const char *ctype,
                const void *body, size_t len, struct cli_resp *r)
{
	CURL *c = NULL;
	struct curl_slist *hdrs = NULL, *t;
	char errbuf[CURL_ERROR_SIZE] = "";
	char hbuf[160];
	struct buf url;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int ret = CLI_ERR_CONNECT;

	buf_init(&url, CLI_PATH_MAX + 4096);
	if (buf_puts(&url, h->base) < 0 || buf_puts(&url, pathq) < 0)
		goto done;
	c = curl_easy_init();
	if (c == NULL)
		goto done;
	/* no Expect: 100-continue; a Content-Type only when there is a body */
	if ((t = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto done;
	hdrs = t;
	snprintf(hbuf, sizeof(hbuf), "Content-Type:%s%s", ctype ? " " : "", ctype ? ctype : "");
	if ((t = curl_slist_append(hdrs, hbuf)) == NULL)
		goto done;
	hdrs = t;

	curl_easy_setopt(c, CURLOPT_URL, url.data);
	if (h->socket != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->socket);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (body != NULL || strcmp(method, "DELETE") != 0) {
			/* POST and PUT always carry a Content-Length, 0 without a body */
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		}
	}
	if (h->verbose)
		fprintf(stderr, "wpsgate: > %s %s (%s)\n", method, pathq, h->where);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		if (h->verbose)
			fprintf(stderr, "wpsgate: < %ld (%zu bytes)\n", r->status, r->body.len);
		ret = 0;
	} else if (rc == CURLE_WRITE_ERROR) {
		cli_warn("the answer from %s is larger than %ld bytes", h->where, (long)CLI_RESPONSE_MAX);
		ret = CLI_ERR_ANSWER;
	}
done:
	if (ret == CLI_ERR_CONNECT) {
		const char *why = rc == CURLE_COULDNT_CONNECT && h->socket != NULL
		                          ? unix_connect_error(h->socket)
		                          : NULL;

		cli_warn("cannot reach the gateway at %s: %s", h->where,
		         why != NULL ? why
		         : errbuf[0] ? errbuf
		                     : curl_easy_strerror(rc));
	}
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	buf_free(&url);
	return ret;
}

/* Print at most 200 bytes of a non-JSON error body, control characters replaced. */
static void print_snippet(const struct buf *b)
{
	size_t i, n = b->len < 200 ? b->len : 200;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)b->data[i];

		fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, stderr);
	}
	if (b->len > n)
		fputs("...", stderr);
}

int resp_error(const struct cli_resp *r, const char *what)
{
	json_t *j = NULL, *code, *msg;

	if (r->body.len > 0)
		j = json_loadb(r->body.data, r->body.len, 0, NULL);
	code = json_is_object(j) ? json_object_get(j, "code") : NULL;
	msg = json_is_object(j) ? json_object_get(j, "message") : NULL;
	fprintf(stderr, "wpsgate: %s: %ld", what, r->status);
	if (json_is_string(code))
		fprintf(stderr, " %s", json_string_value(code));
	else if (r->errcode[0] != '\0')
		fprintf(stderr, " %s", r->errcode);
	if (json_is_string(msg)) {
		fprintf(stderr, ": %s", json_string_value(msg));
	} else if (j == NULL && r->body.len > 0) {
		fputs(": ", stderr);
		print_snippet(&r->body);
	}
	fputc('\n', stderr);
	json_decref(j);
	return CLI_ERR_ANSWER;
}
