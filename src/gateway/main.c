/* main.c: wpsgated's command line: -c FILE, -t, -v, -h, -V; everything else is in libwpsgated.a. */
#include <config.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef WPSGATE_VERSION
#define WPSGATE_VERSION "0"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: wpsgated [-c FILE] [-t] [-v] [-h] [-V]\n"
	           "  -c FILE  configuration file (default " SYSCONFDIR "/wpsgate/wpsgate.conf)\n"
	           "  -t       check the configuration and the credentials, then exit\n"
	           "  -v       debug logging (HTTP exchanges, Authorization redacted)\n"
	           "  -h       this help\n"
	           "  -V       print the version\n"
	           "Runs in the foreground and logs to stderr.\n");
}

int main(int argc, char **argv)
{
	const char *config = SYSCONFDIR "/wpsgate/wpsgate.conf";
	int check = 0, verbose = 0, ch;

	while ((ch = getopt(argc, argv, "c:tvhV")) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 't': check = 1; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("wpsgated %s\n", WPSGATE_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	log_init("wpsgated", verbose ? WLOG_DEBUG : WLOG_INFO, WLOG_FMT_LOGFMT);
	if (check) {
		char err[512];
		if (daemon_check(config, err, sizeof err) < 0) {
			fprintf(stderr, "wpsgated: %s\n", err);
			return 1;
		}
		printf("configuration OK\n");
		return 0;
	}
	return daemon_run(config, verbose);
}
