/* log.h: leveled logging to stderr (journald priority prefixes) or to a sink that tests capture. */
#ifndef WPS_LOG_H
#define WPS_LOG_H

#include <stdarg.h>

enum wlog_level { WLOG_ERR = 3, WLOG_WARN = 4, WLOG_INFO = 6, WLOG_DEBUG = 7 };
enum wlog_format { WLOG_FMT_LOGFMT, WLOG_FMT_JSON };

typedef void (*wlog_sink_fn)(enum wlog_level lvl, const char *line, void *arg);

/* progname is borrowed and must outlive logging. Messages above `level` are dropped. */
void log_init(const char *progname, enum wlog_level level, enum wlog_format fmt);
void log_set_level(enum wlog_level level);
enum wlog_level log_get_level(void);
void log_set_format(enum wlog_format fmt);
enum wlog_format log_get_format(void);
/* Replace stderr with sink (NULL restores stderr). For tests. */
void log_set_sink(wlog_sink_fn sink, void *arg);
int log_enabled(enum wlog_level lvl);
/* Parse "err", "warn", "info", "debug"; returns 0 or -1. */
int log_level_parse(const char *s, enum wlog_level *out);

/* A free-text message. In logfmt: `level=info msg="..."`; in JSON: {"level":"info","msg":"..."}. */
void log_msg(enum wlog_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum wlog_level lvl, const char *fmt, va_list ap);

/* A structured line: msg, then key/value string pairs ending with NULL.
 * log_kv(WLOG_INFO, "request", "method", "POST", "op", "SendToAll", NULL);
 * Values are quoted/escaped as the format needs. Never pass a secret. */
void log_kv(enum wlog_level lvl, const char *msg, ...) __attribute__((sentinel));

#define log_err(...)  log_msg(WLOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(WLOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(WLOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                                       \
	do {                                                                                                 \
		if (log_enabled(WLOG_DEBUG))                                                                 \
			log_msg(WLOG_DEBUG, __VA_ARGS__);                                                    \
	} while (0)

/* Batching for a busy thread (the event loop): while on, the calling thread's info and debug lines
 * for stderr are held and written together by log_flush (at the latest every 16 KiB); its warnings
 * and errors write what is held and themselves at once. Other threads are not affected. Turning it
 * off flushes. A sink (tests) always gets each line at once. */
void log_batch(int on);
void log_flush(void); /* this thread's held lines, in one write(2); a no-op when none */

/* Print to stderr and exit(1). Start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
