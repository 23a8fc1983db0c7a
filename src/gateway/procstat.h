/* procstat.h: this process's resource figures from /proc/self, for the process_* metrics. */
#ifndef WPS_GW_PROCSTAT_H
#define WPS_GW_PROCSTAT_H

#include <stdint.h>

struct procstat {
	uint64_t rss_bytes;   /* resident set size */
	uint64_t vsize_bytes; /* virtual memory size */
	uint64_t cpu_ticks;   /* user + system time, in clock ticks */
	long ticks_per_s;     /* sysconf(_SC_CLK_TCK) */
	double start_time_s;  /* start of the process, seconds since the epoch */
	long open_fds;        /* entries of /proc/self/fd (the directory's own fd excluded) */
	long max_fds;         /* RLIMIT_NOFILE soft limit, -1 when unlimited */
};

/* Read the figures. Returns 0, or -1 when /proc could not be read (fields then 0, open_fds -1). */
int procstat_read(struct procstat *out);

/* Parse the text of /proc/self/stat and the btime of /proc/stat into out (for tests).
 * Returns 0 or -1 when malformed. */
int procstat_parse_stat(const char *stat, long page_size, long ticks_per_s, uint64_t btime,
                        struct procstat *out);

#endif
