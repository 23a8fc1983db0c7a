/* procstat.c: resident memory, CPU time, start time and open descriptors of this process from /proc. */
#include <config.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procstat.h"

#define PROCSTAT_FILE_MAX 4096 /* /proc/self/stat is a single line well under this */

/* Read a whole small file into buf (NUL-terminated). Returns bytes read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

int procstat_parse_stat(const char *stat, long page_size, long ticks_per_s, uint64_t btime,
                        struct procstat *out)
{
	const char *p = strrchr(stat, ')');
	unsigned long long f[22];
	int i;

	if (p == NULL || p[1] != ' ' || ticks_per_s <= 0)
		return -1;
	p += 2;
	/* Fields 3.. of proc(5): state, then numbers; we keep the numbers up to field 24 (rss). */
	if (*p == '\0' || p[1] != ' ')
		return -1;
	p += 2;
	for (i = 0; i < 22 - 1; i++) {
		char *end;

		/* Some fields (ppid..) can be negative; those we use are not, so read them as signed. */
		long long v = strtoll(p, &end, 10);

		if (end == p)
			return -1;
		f[i] = (unsigned long long)v;
		p = end;
		if (*p == ' ')
			p++;
	}
	/* f[0] is field 4 (ppid): utime = field 14 -> f[10], stime f[11], starttime f[18],
	 * vsize f[19], rss f[20]. */
	out->cpu_ticks = f[10] + f[11];
	out->ticks_per_s = ticks_per_s;
	out->start_time_s = (double)btime + (double)f[18] / (double)ticks_per_s;
	out->vsize_bytes = f[19];
	out->rss_bytes = f[20] * (unsigned long long)page_size;
	return 0;
}

static uint64_t boot_time(void)
{
	static uint64_t cached;
	char *buf, *p;

	if (cached != 0)
		return cached;
	/* /proc/stat grows with the number of CPUs; btime comes after the per-CPU lines. */
	buf = malloc(1 << 16);
	if (buf == NULL)
		return 0;
	if (read_small("/proc/stat", buf, 1 << 16) > 0 && (p = strstr(buf, "\nbtime ")) != NULL)
		cached = strtoull(p + 7, NULL, 10);
	free(buf);
	return cached;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* the directory stream's own descriptor */
}

int procstat_read(struct procstat *out)
{
	char buf[PROCSTAT_FILE_MAX];
	struct rlimit rl;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->open_fds = count_fds();
	out->max_fds = -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		out->max_fds = (long)rl.rlim_cur;
	if (read_small("/proc/self/stat", buf, sizeof(buf)) <= 0 ||
	    procstat_parse_stat(buf, sysconf(_SC_PAGESIZE), sysconf(_SC_CLK_TCK), boot_time(), out) < 0)
		rc = -1;
	if (out->open_fds < 0)
		rc = -1;
	return rc;
}
