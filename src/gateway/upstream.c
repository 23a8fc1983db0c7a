/* upstream.c: the CURLM socket-API driver on the event loop, easy-handle recycling, and one job attempt. */
#include <config.h>
#include "upstream.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cfg.h"
#include "cred.h"
#include "entra.h"
#include "entra_curl.h"
#include "hdrline.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "secret.h"

#ifndef WPSGATE_VERSION
#define WPSGATE_VERSION "0"
#endif

struct up {
	struct loop *loop;
	CURLM *multi;
	CURLSH *share;
	struct loop_timer *timer;
	const struct cfg_upstream *cfg; /* borrowed */
	const struct cred *cred; /* borrowed */
	CURL *free_easy[UP_FREE_EASY_MAX];
	size_t nfree;
	unsigned inflight;            /* easy handles in the multi handle (jobs' attempts) */
	unsigned easy_gen;            /* incremented by up_configure: older free handles are dropped */
	unsigned running_max;         /* attempts handed to libcurl at once; 0: no bound */
	struct up_job *qhead, *qtail; /* attempts waiting for one of those slots, FIFO */
	unsigned nqueued;
	struct loop_timer *pump; /* dispatches queued jobs outside the caller's stack */
	struct entra_curl *ec;   /* Entra ID token requests on this multi handle */
	struct entra *entra;     /* NULL: access key */
	up_foreign_fn foreign;   /* other transfers on this multi handle (the events listener's) */
	void *foreign_arg;
};

static void check_done(struct up *up);
static void pump_queue(struct up *up);
static int attempt_start(struct up *up, struct up_job *job);

/* ---- multi handle <-> loop ---- */

static void on_socket(int fd, unsigned events, void *arg)
{
	struct up *up = arg;
	int flags = 0, running;

	if (events & LOOP_READ)
		flags |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & LOOP_ERROR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(up->multi, fd, flags, &running);
	check_done(up);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct up *up = userp;
	struct loop_io *io = socketp;
	unsigned ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		loop_io_free(io);
		curl_multi_assign(up->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= LOOP_READ;
	if (what & CURL_POLL_OUT)
		ev |= LOOP_WRITE;
	if (io == NULL) {
		io = loop_io_add(up->loop, s, ev, on_socket, up);
		if (io == NULL)
			return -1;
		curl_multi_assign(up->multi, s, io);
	} else if (loop_io_modify(io, ev) < 0) {
		return -1;
	}
	return 0;
}

static void on_timer(void *arg)
{
	struct up *up = arg;
	int running;

	curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(up);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct up *up = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_stop(up->timer);
	else
		loop_timer_start(up->timer, (uint64_t)timeout_ms);
	return 0;
}

/* ---- per-request callbacks ---- */

static size_t write_cb(char *ptr, size_t size, size_t n, void *userdata)
{
	struct up_job *job = userdata;

	if (buf_append(&job->resp, ptr, size * n) < 0) {
		job->too_large_ = 1;
		return 0;
	}
	return size * n;
}

static void set_str(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = strndup(v, n);
}

/* The response headers kept from the last header block (a new block, or a new attempt, starts afresh). */
static void forget_headers(struct up_job *job)
{
	free(job->resp_content_type);
	free(job->resp_error_code);
	free(job->resp_retry_after);
	free(job->resp_retry_after_ms);
	free(job->resp_x_ms_retry_after_ms);
	free(job->resp_api_versions);
	job->resp_content_type = job->resp_error_code = job->resp_retry_after = NULL;
	job->resp_retry_after_ms = job->resp_x_ms_retry_after_ms = job->resp_api_versions = NULL;
}

void up_job_header(struct up_job *job, const char *ptr, size_t len)
{
	size_t nl, vl;
	const char *name, *v;
	enum hdrline_kind k = hdrline_split(ptr, len, &name, &nl, &v, &vl);

	if (k == HDRLINE_STATUS) {
		/* a new header block (1xx, or the final one): forget the previous */
		forget_headers(job);
		if (log_enabled(WLOG_DEBUG)) {
			vl = len;
			while (vl > 0 && (ptr[vl - 1] == '\r' || ptr[vl - 1] == '\n'))
				vl--;
			log_msg(WLOG_DEBUG, "upstream response id=%s: %.*s", job->request_id, (int)vl, ptr);
		}
		return;
	}
	if (k != HDRLINE_FIELD)
		return;
	if (log_enabled(WLOG_DEBUG))
		log_msg(WLOG_DEBUG, "upstream response id=%s: %.*s: %.*s", job->request_id, (int)nl, ptr,
		        (int)(vl > 200 ? 200 : vl), v);
	if (vl > UP_HEADER_VALUE_MAX)
		return; /* none of the headers we keep is that long */
	if (nl == 12 && strncasecmp(ptr, "content-type", nl) == 0)
		set_str(&job->resp_content_type, v, vl);
	else if (nl == 15 && strncasecmp(ptr, "x-ms-error-code", nl) == 0)
		set_str(&job->resp_error_code, v, vl);
	else if (nl == 11 && strncasecmp(ptr, "retry-after", nl) == 0)
		set_str(&job->resp_retry_after, v, vl);
	else if (nl == 14 && strncasecmp(ptr, "retry-after-ms", nl) == 0)
		set_str(&job->resp_retry_after_ms, v, vl);
	else if (nl == 19 && strncasecmp(ptr, "x-ms-retry-after-ms", nl) == 0)
		set_str(&job->resp_x_ms_retry_after_ms, v, vl);
	else if (nl == 22 && strncasecmp(ptr, "api-supported-versions", nl) == 0)
		set_str(&job->resp_api_versions, v, vl);
}

static size_t header_cb(char *ptr, size_t size, size_t n, void *userdata)
{
	up_job_header(userdata, ptr, size * n);
	return size * n;
}

/* ---- easy handles ---- */

/* Kept for the next attempt as it is: attempt_start sets every option that differs between
 * requests (a curl_easy_reset and the constant options again cost ~6,000 instructions each time).
 * The per-request pointers it holds (headers, body, error buffer, job) are replaced before the
 * handle runs again and never used meanwhile. A handle made before a reload (gen) is not kept:
 * its constant options (the CA file) may be stale. */
static void recycle(struct up *up, CURL *easy, unsigned gen)
{
	if (up->nfree < UP_FREE_EASY_MAX && gen == up->easy_gen) {
		up->free_easy[up->nfree++] = easy;
	} else {
		curl_easy_cleanup(easy);
	}
}

/* A new easy handle with the options that are the same for every attempt. */
static CURL *easy_new(struct up *up)
{
	CURL *easy = curl_easy_init();

	if (easy == NULL)
		return NULL;
	curl_easy_setopt(easy, CURLOPT_SHARE, up->share);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (up->cfg->up_http_version == CFG_HTTP_1_1) {
		curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	} else {
		curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
	}
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "wpsgate/" WPSGATE_VERSION);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	if (up->cfg->ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, up->cfg->ca_file);
	return easy;
}

static void job_detach(struct up_job *job)
{
	struct up *up = job->up_;

	if (job->easy_ == NULL)
		return;
	curl_multi_remove_handle(up->multi, job->easy_);
	recycle(up, job->easy_, job->easy_gen_);
	job->easy_ = NULL;
	curl_slist_free_all(job->headers_);
	job->headers_ = NULL;
	up->inflight--;
	if (up->qhead != NULL && up->pump != NULL)
		loop_timer_start(up->pump, 0); /* a slot is free: the next queued job goes next turn */
}

/* The metrics of one finished attempt. */
static void account(const struct up_job *job, CURL *easy, CURLcode rc)
{
	curl_off_t total = 0, down = 0, up_bytes = 0;
	long conns = 0;
	enum metrics_attempt how = MA_RESPONSE;
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &up_bytes);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
	if (rc == CURLE_OK || job->too_large_)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		how = MA_TIMEOUT;
	else
		how = MA_CONNECT;
	metrics_upstream_attempt(job->metrics_op, how, (int)status, total > 0 ? (uint64_t)total : 0);
	if (rc == CURLE_OK || conns > 0)
		metrics_upstream_connections(conns > 0 ? (uint64_t)conns : 0, conns > 0 ? 0 : 1);
	metrics_bytes(MS_UPSTREAM, down > 0 ? (uint64_t)down : 0, up_bytes > 0 ? (uint64_t)up_bytes : 0);
}

static void check_done(struct up *up)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(up->multi, &left)) != NULL) {
		struct up_job *job = NULL;
		CURLcode rc;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		if (entra_curl_done(up->ec, m->easy_handle, rc))
			continue; /* a token request: entra has its answer */
		if (up->foreign != NULL && up->foreign(up->foreign_arg, m->easy_handle, (int)rc))
			continue; /* someone else's transfer, finished and removed by its owner */
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&job);
		if (job == NULL)
			continue;
		job->curlcode = (int)rc;
		account(job, m->easy_handle, rc);
		if (rc == CURLE_OK) {
			job->result = UP_OK;
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &job->status);
		} else if (job->too_large_) {
			job->result = UP_TOO_LARGE;
			snprintf(job->errmsg, sizeof job->errmsg,
			         "response larger than upstream.max_response_bytes");
		} else if (rc == CURLE_OPERATION_TIMEDOUT) {
			job->result = UP_TIMEOUT;
			job->attempt_timed_out = loop_now_ms() + 5 < job->deadline_ms;
			snprintf(job->errmsg, sizeof job->errmsg, "%s",
			         job->attempt_timed_out ? "no answer within upstream.attempt_timeout_ms"
			                                : "no answer within upstream.timeout_ms");
		} else {
			job->result = UP_NO_ANSWER;
			if (job->errmsg[0] == '\0')
				snprintf(job->errmsg, sizeof job->errmsg, "%s", curl_easy_strerror(rc));
		}
		job_detach(job);
		/* Entra ID: a 401 drops that token (once per token) and retries this job once with a new one */
		if (job->result == UP_OK && job->status == 401 && up->entra != NULL && !job->entra_retried_) {
			job->entra_retried_ = 1;
			entra_invalidate(up->entra, job->entra_gen_);
			if (up_submit(up, job) == 0)
				continue;
		}
		job->done(job, job->arg);
	}
	pump_queue(up);
}

/* ---- the queue of attempts waiting for a connection slot ---- */

static void queue_unlink(struct up *up, struct up_job *job)
{
	if (job->qprev_ != NULL)
		job->qprev_->qnext_ = job->qnext_;
	else
		up->qhead = job->qnext_;
	if (job->qnext_ != NULL)
		job->qnext_->qprev_ = job->qprev_;
	else
		up->qtail = job->qprev_;
	job->qprev_ = job->qnext_ = NULL;
	job->queued_ = 0;
	up->nqueued--;
	loop_timer_free(job->qtimer_);
	job->qtimer_ = NULL;
}

/* A queued job's deadline passed before a slot came free. */
static void on_queue_deadline(void *arg)
{
	struct up_job *job = arg;

	queue_unlink(job->up_, job);
	job->result = UP_TIMEOUT;
	job->attempt_timed_out = 0;
	snprintf(job->errmsg, sizeof job->errmsg,
	         "no answer within upstream.timeout_ms (waited for one of "
	         "upstream.max_connections)");
	job->done(job, job->arg);
}

static int queue_add(struct up *up, struct up_job *job)
{
	uint64_t now = loop_now_ms();

	if ((job->qtimer_ = loop_timer_new(up->loop, on_queue_deadline, job)) == NULL) {
		snprintf(job->errmsg, sizeof job->errmsg, "out of memory");
		return -1;
	}
	loop_timer_start(job->qtimer_, job->deadline_ms > now ? job->deadline_ms - now : 0);
	job->queued_ = 1;
	job->qnext_ = NULL;
	job->qprev_ = up->qtail;
	if (up->qtail != NULL)
		up->qtail->qnext_ = job;
	else
		up->qhead = job;
	up->qtail = job;
	up->nqueued++;
	return 0;
}

static int slot_free(const struct up *up)
{
	return up->running_max == 0 || up->inflight < up->running_max;
}

/* Hand queued jobs to libcurl while slots are free (oldest first). One that cannot start is done. */
static void pump_queue(struct up *up)
{
	while (up->qhead != NULL && slot_free(up)) {
		struct up_job *job = up->qhead;

		queue_unlink(up, job);
		if (attempt_start(up, job) < 0)
			job->done(job, job->arg);
	}
}

static void on_pump(void *arg)
{
	pump_queue(arg);
}

/* ---- public ---- */

struct up *up_new(struct loop *l, const struct cfg_upstream *cfg, const struct cred *cred)
{
	struct up *up = calloc(1, sizeof *up);

	if (up == NULL)
		return NULL;
	up->loop = l;
	if ((up->timer = loop_timer_new(l, on_timer, up)) == NULL ||
	    (up->pump = loop_timer_new(l, on_pump, up)) == NULL || (up->multi = curl_multi_init()) == NULL ||
	    (up->share = curl_share_init()) == NULL)
		goto bad;
	curl_share_setopt(up->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(up->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	up_configure(up, cfg, cred);
	if (cfg->entra.kind != ENTRA_NONE && up->entra == NULL)
		goto bad;
	return up;
bad:
	up_free(up);
	return NULL;
}

void up_configure(struct up *up, const struct cfg_upstream *cfg, const struct cred *cred)
{
	up->cfg = cfg;
	up->cred = cred;
	up->easy_gen++;
	while (up->nfree > 0)
		curl_easy_cleanup(up->free_easy[--up->nfree]);
	curl_multi_setopt(up->multi, CURLMOPT_MAX_HOST_CONNECTIONS, cfg->up_max_connections);
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, cfg->up_max_connections);
	curl_multi_setopt(up->multi, CURLMOPT_PIPELINING,
	                  cfg->up_http_version == CFG_HTTP_2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
	/* Each easy handle in the multi handle costs ~20 KiB (its receive buffer and state) even while
	 * libcurl only holds it waiting for a connection: hand it no more than it can run. */
	up->running_max = cfg->up_max_connections > 0 ? (unsigned)cfg->up_max_connections : 0;
	if (up->running_max > 0 && cred != NULL && cred->endpoint != NULL &&
	    cfg->up_http_version == CFG_HTTP_2 && strncasecmp(cred->endpoint, "https:", 6) == 0)
		up->running_max *= UP_H2_STREAMS;
	if (up->qhead != NULL && up->pump != NULL)
		loop_timer_start(up->pump, 0);
	if (cfg->entra.kind != ENTRA_NONE) {
		char err[400];
		if (up->entra != NULL) {
			if (entra_configure(up->entra, &cfg->entra, err, sizeof err) < 0)
				log_kv(WLOG_ERR, "upstream.entra: keeping the previous credential", "error",
				       err, NULL);
			return;
		}
		struct entra_ops ops;
		if (up->ec == NULL && (up->ec = entra_curl_new(up->multi, up->loop)) == NULL) {
			log_err("upstream.entra: out of memory");
			return;
		}
		entra_curl_ops(up->ec, &ops);
		if ((up->entra = entra_new(&cfg->entra, &ops, err, sizeof err)) == NULL) {
			log_kv(WLOG_ERR, "upstream.entra", "error", err, NULL);
			return;
		}
		entra_curl_set_cache(up->ec, up->entra);
		entra_start(up->entra);
	} else if (up->entra != NULL) {
		/* back to an access key: jobs still waiting for a token are answered at their deadline */
		entra_curl_set_cache(up->ec, NULL);
		entra_free(up->entra);
		up->entra = NULL;
	}
}

int up_entra_status(const struct up *up, struct entra_status *st)
{
	if (up->entra == NULL)
		return 0;
	entra_get_status(up->entra, st);
	return 1;
}

void up_free(struct up *up)
{
	size_t i;

	if (up == NULL)
		return;
	if (up->inflight + up->nqueued > 0)
		log_warn("upstream: %u attempts still in flight at shutdown", up->inflight + up->nqueued);
	while (up->qhead != NULL)
		queue_unlink(up, up->qhead); /* their owners free them later: no callbacks */
	loop_timer_free(up->pump);
	entra_free(up->entra);
	entra_curl_free(up->ec);
	for (i = 0; i < up->nfree; i++)
		curl_easy_cleanup(up->free_easy[i]);
	if (up->multi != NULL)
		curl_multi_cleanup(up->multi);
	if (up->share != NULL)
		curl_share_cleanup(up->share);
	loop_timer_free(up->timer);
	free(up);
}

unsigned up_inflight(const struct up *up)
{
	return up->inflight + up->nqueued;
}

void *up_multi(struct up *up)
{
	return up->multi;
}

void up_set_foreign(struct up *up, up_foreign_fn fn, void *arg)
{
	up->foreign = fn;
	up->foreign_arg = arg;
}

const char *up_endpoint(const struct up *up)
{
	return up->cred->endpoint;
}

struct up_job *up_job_new(void)
{
	struct up_job *job = calloc(1, sizeof *job);

	if (job != NULL)
		buf_init(&job->resp, 0);
	return job;
}

struct up_job *up_job_make(const struct up_job_spec *sp)
{
	struct up_job *job = up_job_new();

	if (job == NULL || sp->path == NULL || sp->query == NULL)
		goto bad;
	job->method = sp->method;
	job->path = sp->path;
	job->query = sp->query;
	job->body = sp->body;
	job->body_len = sp->body != NULL ? sp->body_len : 0;
	if (sp->content_type != NULL && (job->content_type = strdup(sp->content_type)) == NULL)
		goto fail;
	snprintf(job->request_id, sizeof job->request_id, "%s", sp->request_id != NULL ? sp->request_id : "");
	if (sp->traceparent != NULL && strlen(sp->traceparent) < sizeof job->traceparent) {
		memcpy(job->traceparent, sp->traceparent, strlen(sp->traceparent) + 1);
		if (sp->tracestate != NULL && (job->tracestate = strdup(sp->tracestate)) == NULL)
			goto fail;
	}
	job->metrics_op = sp->metrics_op;
	job->deadline_ms = sp->deadline_ms;
	job->done = sp->done;
	job->arg = sp->arg;
	return job;
bad:
	free(sp->path);
	free(sp->query);
	free(sp->body);
	if (job != NULL)
		up_job_free(job);
	return NULL;
fail:
	up_job_free(job); /* holds path, query and body by now */
	return NULL;
}

static void clear_result(struct up_job *job)
{
	forget_headers(job);
	buf_reset(&job->resp);
	job->status = 0;
	job->curlcode = 0;
	job->attempt_timed_out = 0;
	job->result = UP_FAILED;
	job->errmsg[0] = '\0';
	job->too_large_ = 0;
}

void up_job_free(struct up_job *job)
{
	if (job == NULL)
		return;
	if (job->cleanup != NULL)
		job->cleanup(job);
	up_cancel(job);
	clear_result(job);
	free(job->tracestate);
	buf_free(&job->resp);
	free(job->path);
	free(job->query);
	free(job->body);
	free(job->content_type);
	free(job);
}

void up_cancel(struct up_job *job)
{
	if (job != NULL && job->entra_wait_ != NULL) {
		entra_wait_cancel(job->up_->entra, job->entra_wait_);
		job->entra_wait_ = NULL;
	}
	if (job != NULL && job->queued_)
		queue_unlink(job->up_, job);
	if (job != NULL && job->easy_ != NULL)
		job_detach(job);
}

int up_job_inflight(const struct up_job *job)
{
	return job->easy_ != NULL || job->entra_wait_ != NULL || job->queued_;
}

/* Append "name: value" (any length: an Authorization carries the whole URL in its aud). */
static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value, int *ok)
{
	size_t nl = strlen(name), vl = strlen(value), n = nl + vl + 3;
	struct curl_slist *r;
	char *line;

	if (!*ok)
		return l;
	if ((line = malloc(n)) == NULL) {
		*ok = 0;
		return l;
	}
	memcpy(line, name, nl);
	memcpy(line + nl, ": ", 2);
	memcpy(line + nl + 2, value, vl + 1);
	r = curl_slist_append(l, line);
	OPENSSL_cleanse(line, n); /* it may hold the bearer token */
	free(line);
	if (r == NULL)
		*ok = 0;
	return r ? r : l;
}

static struct curl_slist *raw_header(struct curl_slist *l, const char *line, int *ok)
{
	struct curl_slist *n;

	if (!*ok)
		return l;
	n = curl_slist_append(l, line);
	if (n == NULL)
		*ok = 0;
	return n ? n : l;
}

static int attempt_start(struct up *up, struct up_job *job)
{
	const struct cfg_upstream *cfg = up->cfg;
	struct buf url, target;
	char *auth = NULL;
	CURL *easy = NULL;
	struct curl_slist *h = NULL;
	uint64_t now = loop_now_ms();
	long left;
	int ok = 1;

	buf_init(&url, 0);
	buf_init(&target, 0);
	if (now >= job->deadline_ms) {
		job->result = UP_TIMEOUT;
		goto bad;
	}
	left = (long)(job->deadline_ms - now);
	if (cfg->attempt_timeout_ms > 0 && left > cfg->attempt_timeout_ms)
		left = cfg->attempt_timeout_ms;
	/* The token's aud is the service's URL; through a reverse proxy only the request goes elsewhere. */
	if (buf_puts(&url, up->cred->endpoint) < 0 || buf_puts(&url, job->path) < 0 ||
	    buf_puts(&url, "?") < 0 || buf_puts(&url, job->query) < 0 ||
	    (cfg->reverse_proxy != NULL &&
	     (buf_puts(&target, cfg->reverse_proxy) < 0 || buf_puts(&target, job->path) < 0 ||
	      buf_puts(&target, "?") < 0 || buf_puts(&target, job->query) < 0))) {
		snprintf(job->errmsg, sizeof job->errmsg, "out of memory");
		goto bad;
	}
	if (up->entra != NULL) {
		if ((auth = entra_bearer(up->entra, &job->entra_gen_)) == NULL) {
			job->result = UP_NO_CREDENTIAL;
			snprintf(job->errmsg, sizeof job->errmsg,
			         "Entra ID token unavailable: none is cached");
			goto bad;
		}
	} else if ((auth = cred_authorization(up->cred, url.data, time(NULL))) == NULL) {
		snprintf(job->errmsg, sizeof job->errmsg, "cannot sign the request");
		goto bad;
	}
	h = add_header(h, "Authorization", auth, &ok);
	secret_free(auth);
	auth = NULL;
	h = add_header(h, "x-ms-client-request-id", job->request_id, &ok);
	if (job->traceparent[0] != '\0') {
		h = add_header(h, "traceparent", job->traceparent, &ok);
		if (job->tracestate != NULL)
			h = add_header(h, "tracestate", job->tracestate, &ok);
	}
	h = raw_header(h, "Expect:", &ok); /* no 100-continue round trip */
	if (job->content_type != NULL)
		h = add_header(h, "Content-Type", job->content_type, &ok);
	else
		h = raw_header(h, "Content-Type:", &ok); /* no form-urlencoded default on POST */
	if (!ok) {
		snprintf(job->errmsg, sizeof job->errmsg, "out of memory");
		goto bad;
	}
	if (up->nfree > 0)
		easy = up->free_easy[--up->nfree];
	else if ((easy = easy_new(up)) == NULL) {
		snprintf(job->errmsg, sizeof job->errmsg, "out of memory");
		goto bad;
	}
	/* everything that may differ from the handle's previous attempt (see recycle) */
	curl_easy_setopt(easy, CURLOPT_URL, cfg->reverse_proxy != NULL ? target.data : url.data);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, job);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, job);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, job);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job->errmsg);
	if (strcmp(job->method, "POST") == 0 || strcmp(job->method, "PUT") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->body_len);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS,
		                 job->body != NULL ? job->body : ""); /* method POST */
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, strcmp(job->method, "PUT") == 0 ? "PUT" : NULL);
	} else {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L); /* method GET, no body, NOBODY off */
		if (strcmp(job->method, "HEAD") == 0)
			curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
		                 strcmp(job->method, "GET") == 0 || strcmp(job->method, "HEAD") == 0
		                         ? NULL
		                         : job->method);
	}
	if (log_enabled(WLOG_DEBUG)) {
		log_kv(WLOG_DEBUG, "upstream request", "id", job->request_id, "method", job->method, "url",
		       cfg->reverse_proxy != NULL ? target.data : url.data, "authorization", "[redacted]",
		       "content_type", job->content_type ? job->content_type : "-", NULL);
	}
	job->errmsg[0] = '\0';
	if (curl_multi_add_handle(up->multi, easy) != CURLM_OK) {
		snprintf(job->errmsg, sizeof job->errmsg, "cannot add the request to the multi handle");
		recycle(up, easy, up->easy_gen);
		goto bad;
	}
	job->easy_ = easy;
	job->easy_gen_ = up->easy_gen;
	job->headers_ = h;
	up->inflight++;
	buf_free(&url);
	buf_free(&target);
	return 0;
bad:
	if (job->result != UP_TIMEOUT && job->result != UP_NO_CREDENTIAL)
		job->result = UP_FAILED;
	curl_slist_free_all(h);
	buf_free(&url);
	buf_free(&target);
	return -1;
}

/* Start the attempt now, or queue it behind the others while every slot is taken. */
static int attempt_or_queue(struct up *up, struct up_job *job)
{
	if (slot_free(up) && up->qhead == NULL) /* FIFO: nobody overtakes the queue */
		return attempt_start(up, job);
	if (queue_add(up, job) < 0) {
		job->result = UP_FAILED;
		return -1;
	}
	return 0;
}

/* The Entra ID token a queued job waited for has come (or not). */
static void on_token(void *arg, int ok, const char *err)
{
	struct up_job *job = arg;

	job->entra_wait_ = NULL;
	if (!ok) {
		job->result = UP_NO_CREDENTIAL;
		snprintf(job->errmsg, sizeof job->errmsg, "%s", err ? err : "Entra ID token unavailable");
	} else if (attempt_or_queue(job->up_, job) == 0) {
		return;
	}
	job->done(job, job->arg);
}

int up_submit(struct up *up, struct up_job *job)
{
	struct entra_wait *w = NULL;
	char why[UP_ERRMSG_MAX];

	clear_result(job);
	job->up_ = up;
	job->attempts++;
	buf_free(&job->resp);
	buf_init(&job->resp, (size_t)up->cfg->max_response_bytes);
	if (loop_now_ms() >= job->deadline_ms) {
		job->result = UP_TIMEOUT;
		return -1;
	}
	if (up->entra != NULL) {
		switch (entra_acquire(up->entra, on_token, job, &w, why, sizeof why)) {
		case ENTRA_WAIT: job->entra_wait_ = w; return 0;
		case ENTRA_ERR:
			job->result = UP_NO_CREDENTIAL;
			snprintf(job->errmsg, sizeof job->errmsg, "%s", why);
			return -1;
		case ENTRA_OK: break;
		}
	}
	return attempt_or_queue(up, job);
}
