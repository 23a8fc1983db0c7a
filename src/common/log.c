/* log.c: leveled logfmt/JSON logging to stderr (journald priorities) or to a test sink. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "wpslimits.h"

static const char *log_progname = "wpsgate";
static int log_level_v = WLOG_INFO; /* accessed with __atomic builtins */
static int log_format_v = WLOG_FMT_LOGFMT;
static int log_journal = -1; /* -1: not checked yet */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static wlog_sink_fn log_sink;
static void *log_sink_arg;

static const char *level_name(enum wlog_level lvl)
{
	switch (lvl) {
	case WLOG_ERR: return "err";
	case WLOG_WARN: return "warn";
	case WLOG_INFO: return "info";
	case WLOG_DEBUG: return "debug";
	}
	return "info";
}

void log_init(const char *progname, enum wlog_level level, enum wlog_format fmt)
{
	const char *js = getenv("JOURNAL_STREAM");

	if (progname != NULL)
		log_progname = progname;
	__atomic_store_n(&log_journal, js != NULL && *js != '\0', __ATOMIC_RELAXED);
	log_set_level(level);
	log_set_format(fmt);
}

void log_set_level(enum wlog_level level)
{
	__atomic_store_n(&log_level_v, (int)level, __ATOMIC_RELAXED);
}

enum wlog_level log_get_level(void)
{
	return (enum wlog_level)__atomic_load_n(&log_level_v, __ATOMIC_RELAXED);
}

void log_set_format(enum wlog_format fmt)
{
	__atomic_store_n(&log_format_v, (int)fmt, __ATOMIC_RELAXED);
}

enum wlog_format log_get_format(void)
{
	return (enum wlog_format)__atomic_load_n(&log_format_v, __ATOMIC_RELAXED);
}

void log_set_sink(wlog_sink_fn sink, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_sink = sink;
	log_sink_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

int log_enabled(enum wlog_level lvl)
{
	return (int)lvl <= __atomic_load_n(&log_level_v, __ATOMIC_RELAXED);
}

int log_level_parse(const char *s, enum wlog_level *out)
{
	static const struct {
		const char *name;
		enum wlog_level lvl;
	} names[] = {
		{ "err", WLOG_ERR },      { "error", WLOG_ERR }, { "warn", WLOG_WARN },
		{ "warning", WLOG_WARN }, { "info", WLOG_INFO }, { "debug", WLOG_DEBUG },
	};
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].lvl;
			return 0;
		}
	}
	return -1;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n, k;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 1;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 2;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 3;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n + 1)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n + 1;
}

/* Append s escaped for a JSON string or a quoted logfmt value (without the quotes).
 * Invalid UTF-8 becomes \ufffd (JSON) or \xNN (logfmt). Long values are cut. */
static void append_escaped(struct buf *b, const char *str, int json)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str), i = 0, run = 0;
	int cut = 0;

	if (len > WPS_LOG_VALUE_MAX) {
		len = WPS_LOG_VALUE_MAX;
		cut = 1;
	}
	while (i < len) {
		unsigned char c = s[i];
		size_t n;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f && c < 0x80) {
			i++;
			run++;
			continue;
		}
		if (c >= 0x80 && (n = utf8_seq(s + i, len - i)) > 0) {
			i += n;
			run += n;
			continue;
		}
		if (run > 0)
			buf_append(b, s + i - run, run);
		run = 0;
		switch (c) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default:
			if (c >= 0x80)
				buf_printf(b, json ? "\\ufffd" : "\\x%02x", c);
			else
				buf_printf(b, "\\u%04x", c);
		}
		i++;
	}
	if (run > 0)
		buf_append(b, s + i - run, run);
	if (cut)
		buf_puts(b, "...");
}

static int logfmt_needs_quotes(const char *s)
{
	size_t n = 0;

	if (*s == '\0')
		return 1;
	for (; *s; s++) {
		if (++n > WPS_LOG_VALUE_MAX)
			return 1; /* append_escaped cuts it */
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f || c >= 0x80)
			return 1;
	}
	return 0;
}

static void append_key(struct buf *b, const char *key, int json)
{
	if (json) {
		buf_puts(b, ",\"");
		append_escaped(b, key, 1);
		buf_puts(b, "\":");
		return;
	}
	buf_puts(b, " ");
	for (; *key; key++) {
		unsigned char c = (unsigned char)*key;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		         c == '_' || c == '-' || c == '.';
		buf_append(b, ok ? key : "_", 1);
	}
	buf_puts(b, "=");
}

static void append_value(struct buf *b, const char *val, int json, int force_quotes)
{
	if (val == NULL)
		val = "";
	if (json || force_quotes || logfmt_needs_quotes(val)) {
		buf_puts(b, "\"");
		append_escaped(b, val, json);
		buf_puts(b, "\"");
	} else {
		buf_puts(b, val);
	}
}

static void append_head(struct buf *b, enum wlog_level lvl, const char *msg, int json)
{
	struct timespec ts;
	struct tm tm;
	char when[96];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000L));
	if (json) {
		buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when, level_name(lvl));
		append_value(b, msg, 1, 1);
	} else {
		buf_printf(b, "ts=%s level=%s msg=", when, level_name(lvl));
		append_value(b, msg, 0, 1);
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Batching (log_batch): this thread's info and debug lines for stderr, written by log_flush in one
 * write(2). Only the thread that asked batches; its warnings and errors flush what it holds first,
 * in the same write, so its lines keep their order and the urgent ones are never delayed. */
#define LOG_BATCH_FLUSH 16384 /* bytes held before a flush regardless */
static __thread int batch_on;
static __thread struct buf batch;

void log_flush(void)
{
	if (batch.len > 0)
		write_all(STDERR_FILENO, batch.data, batch.len);
	batch.len = 0;
	if (batch.data != NULL)
		batch.data[0] = '\0';
}

static void flush_at_exit(void)
{
	log_flush(); /* exit(3) on the batching thread: what it holds still goes out */
}

static void flush_at_exit_register(void)
{
	atexit(flush_at_exit);
}

void log_batch(int on)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (on)
		pthread_once(&once, flush_at_exit_register);
	if (!on) {
		log_flush();
		buf_free(&batch);
		buf_init(&batch, 0);
	}
	batch_on = on;
}

/* Hand one finished line (no newline) to the sink or to stderr, in one write (or to this thread's
 * batch). */
static void emit(enum wlog_level lvl, struct buf *line)
{
	int journal = __atomic_load_n(&log_journal, __ATOMIC_RELAXED);
	wlog_sink_fn sink;
	char pfx[8] = "";

	if (line->data == NULL)
		return;
	pthread_mutex_lock(&log_lock);
	sink = log_sink;
	if (sink != NULL) {
		sink(lvl, line->data, log_sink_arg);
		pthread_mutex_unlock(&log_lock);
		return;
	}
	pthread_mutex_unlock(&log_lock);
	if (journal < 0) {
		const char *js = getenv("JOURNAL_STREAM");

		journal = js != NULL && *js != '\0';
	}
	if (journal)
		snprintf(pfx, sizeof(pfx), "<%d>", (int)lvl);
	if (batch_on || batch.len > 0) {
		size_t mark = batch.len;

		if (buf_puts(&batch, pfx) == 0 && buf_append(&batch, line->data, line->len) == 0 &&
		    buf_append(&batch, "\n", 1) == 0) {
			if (!batch_on || lvl < WLOG_INFO || batch.len >= LOG_BATCH_FLUSH)
				log_flush();
			return;
		}
		/* out of memory: what is held goes out first, then this line on its own */
		batch.len = mark;
		log_flush();
	}
	if (journal) {
		struct buf out;

		buf_init(&out, 0);
		if (buf_puts(&out, pfx) == 0 && buf_append(&out, line->data, line->len) == 0 &&
		    buf_append(&out, "\n", 1) == 0)
			write_all(STDERR_FILENO, out.data, out.len);
		buf_free(&out);
		return;
	}
	if (buf_append(line, "\n", 1) == 0)
		write_all(STDERR_FILENO, line->data, line->len);
}

void log_vmsg(enum wlog_level lvl, const char *fmt, va_list ap)
{
	char msg[WPS_LOG_VALUE_MAX + 1];
	struct buf line;
	int json;

	if (!log_enabled(lvl))
		return;
	json = log_get_format() == WLOG_FMT_JSON;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	buf_init(&line, 0);
	append_head(&line, lvl, msg, json);
	if (json)
		buf_puts(&line, "}");
	emit(lvl, &line);
	buf_free(&line);
}

void log_msg(enum wlog_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void log_kv(enum wlog_level lvl, const char *msg, ...)
{
	struct buf line;
	va_list ap;
	const char *k, *v;
	int json;

	if (!log_enabled(lvl))
		return;
	json = log_get_format() == WLOG_FMT_JSON;
	buf_init(&line, 0);
	append_head(&line, lvl, msg, json);
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		append_key(&line, k, json);
		append_value(&line, v, json, 0);
	}
	va_end(ap);
	if (json)
		buf_puts(&line, "}");
	emit(lvl, &line);
	buf_free(&line);
}

void fatal(const char *fmt, ...)
{
	char msg[WPS_LOG_VALUE_MAX + 1];
	struct buf line;
	va_list ap;
	wlog_sink_fn sink;
	const char *js = getenv("JOURNAL_STREAM");

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_flush();
	pthread_mutex_lock(&log_lock);
	sink = log_sink;
	if (sink != NULL)
		sink(WLOG_ERR, msg, log_sink_arg);
	pthread_mutex_unlock(&log_lock);
	buf_init(&line, 0);
	buf_printf(&line, "%s%s: %s\n", (js != NULL && *js != '\0') ? "<3>" : "", log_progname, msg);
	if (line.data != NULL)
		write_all(STDERR_FILENO, line.data, line.len);
	buf_free(&line);
	exit(1);
}
