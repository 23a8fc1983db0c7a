/* main.c: wpsgated's command line; everything else is in libwpsgated.a. */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "cfgtab.h"
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
	fprintf(f, "usage: wpsgated [-c FILE] [-t] [-v] [-h] [-V] [--config-schema] [--config-template]\n"
	           "  -c, --config FILE   configuration file (default " SYSCONFDIR "/wpsgate/wpsgate.conf)\n"
	           "  -t, --test          check the configuration and the credentials, then exit\n"
	           "  -v, --verbose       debug logging (HTTP exchanges, Authorization redacted)\n"
	           "  -h, --help          this help\n"
	           "  -V, --version       print the version\n"
	           "  --config-schema     print every configuration key (type, default, range) as JSON\n"
	           "  --config-template   print an annotated configuration file with every key\n"
	           "Runs in the foreground and logs to stderr.\n");
}

enum { OPT_SCHEMA = 256, OPT_TEMPLATE };

static const struct option long_options[] = { { "config", required_argument, NULL, 'c' },
	                                      { "test", no_argument, NULL, 't' },
	                                      { "verbose", no_argument, NULL, 'v' },
	                                      { "help", no_argument, NULL, 'h' },
	                                      { "version", no_argument, NULL, 'V' },
	                                      { "config-schema", no_argument, NULL, OPT_SCHEMA },
	                                      { "config-template", no_argument, NULL, OPT_TEMPLATE },
	                                      { NULL, 0, NULL, 0 } };

static int print_schema(void)
{
	char *json = cfgtab_schema_json(&cfg_root_section);

	if (json == NULL) {
		fprintf(stderr, "wpsgated: out of memory\n");
		return 1;
	}
	puts(json);
	free(json);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config = SYSCONFDIR "/wpsgate/wpsgate.conf";
	int check = 0, verbose = 0, ch;

	while ((ch = getopt_long(argc, argv, "c:tvhV", long_options, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 't': check = 1; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("wpsgated %s\n", WPSGATE_VERSION); return 0;
		case OPT_SCHEMA: return print_schema();
		case OPT_TEMPLATE:
			return cfgtab_template(&cfg_root_section, cfg_root_section.doc, stdout) < 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
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
