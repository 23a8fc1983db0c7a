/* cli_main.c: the wpsgate command line: option parsing, help, and dispatch to the commands. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char *const opt_names[O__COUNT] = {
	[O_SOCKET] = "--socket",
	[O_URL] = "--url",
	[O_TIMEOUT] = "--timeout",
	[O_VERBOSE] = "--verbose",
	[O_HELP] = "--help",
	[O_HUB] = "--hub",
	[O_GROUP] = "--group",
	[O_USER] = "--user",
	[O_CONNECTION] = "--connection",
	[O_PERMISSION] = "--permission",
	[O_TARGET] = "--target",
	[O_JSON] = "--json",
	[O_TEXT] = "--text",
	[O_BINARY] = "--binary",
	[O_EXCLUDE] = "--exclude",
	[O_FILTER] = "--filter",
	[O_TTL] = "--ttl",
	[O_ROLE] = "--role",
	[O_MINUTES] = "--minutes",
	[O_MQTT] = "--mqtt",
	[O_CLIENT_TYPE] = "--client-type",
	[O_REASON] = "--reason",
	[O_TOP] = "--top",
	[O_MAXPAGESIZE] = "--max-page-size",
};

static const struct option long_opts[] = { { "socket", required_argument, NULL, 'S' },
	                                   { "url", required_argument, NULL, 'U' },
	                                   { "timeout", required_argument, NULL, 'T' },
	                                   { "verbose", no_argument, NULL, 'v' },
	                                   { "help", no_argument, NULL, 'h' },
	                                   { "version", no_argument, NULL, 'V' },
	                                   { "hub", required_argument, NULL, 'H' },
	                                   { "group", required_argument, NULL, 'g' },
	                                   { "user", required_argument, NULL, 'u' },
	                                   { "connection", required_argument, NULL, 'c' },
	                                   { "permission", required_argument, NULL, 'p' },
	                                   { "target", required_argument, NULL, 't' },
	                                   { "json", no_argument, NULL, 'j' },
	                                   { "text", no_argument, NULL, 'x' },
	                                   { "binary", no_argument, NULL, 'b' },
	                                   { "exclude", required_argument, NULL, 'e' },
	                                   { "filter", required_argument, NULL, 'f' },
	                                   { "ttl", required_argument, NULL, 'l' },
	                                   { "role", required_argument, NULL, 'r' },
	                                   { "minutes", required_argument, NULL, 'm' },
	                                   { "mqtt", no_argument, NULL, 'Q' },
	                                   { "client-type", required_argument, NULL, 'C' },
	                                   { "reason", required_argument, NULL, 'R' },
	                                   { "top", required_argument, NULL, 'n' },
	                                   { "max-page-size", required_argument, NULL, 'P' },
	                                   { NULL, 0, NULL, 0 } };

static const char main_usage[] =
        "Usage: wpsgate [--socket PATH | --url URL] [--timeout S] [-v] COMMAND [OPTIONS] [ARGS]\n"
        "\n"
        "A client for wpsgated, the local Azure Web PubSub gateway.\n"
        "\n"
        "Commands:\n"
        "  send              send a message to a hub, a group, a user or a connection\n"
        "  token             get a client access URL for a WebSocket client\n"
        "  group add|remove|exists|list|close\n"
        "  user exists|close|remove-from-groups\n"
        "  connection exists|close|close-all|remove-from-groups\n"
        "  permission grant|revoke|check\n"
        "  status            health, readiness and key figures of the gateway\n"
        "\n"
        "Options for every command:\n"
        "  --socket PATH     the gateway's unix socket (default: $WPSGATE_SOCKET, else " CLI_DEFAULT_SOCKET
        ")\n"
        "  --url URL         talk to the gateway over TCP instead, e.g. http://127.0.0.1:7080\n"
        "  --timeout S       give up after S seconds (default 120)\n"
        "  -v, --verbose     print each request and the status of its answer on stderr\n"
        "  -h, --help        help; `wpsgate COMMAND --help` for one command\n"
        "  -V, --version     print the version\n"
        "\n"
        "Exit status: 0 success (for exists/check: it exists); 1 the gateway or the service answered an\n"
        "error (for exists/check: it does not exist); 2 usage error; 3 the gateway could not be reached.\n"
        "See wpsgate(1).\n";

/* "wpsgate: <message>\n" on stderr: what cli_warn and cli_usage_error print. */
__attribute__((format(printf, 1, 0))) static void vwarn(const char *fmt, va_list ap)
{
	fputs("wpsgate: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	return CLI_ERR_USAGE;
}

void cli_strv_free(struct cli_strv *s)
{
	if (s == NULL)
		return;
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int strv_push(struct cli_strv *s, const char *v)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		const char **nv = realloc(s->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = v;
	return 0;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		if (hi == LONG_MAX)
			return cli_usage_error("%s needs an integer >= %ld", opt, lo);
		return cli_usage_error("%s needs an integer from %ld to %ld", opt, lo, hi);
	}
	*out = v;
	return 0;
}

/* A single-valued string option: refuse it twice. */
static int set_once(enum cli_opt o, const char **slot, const char *v, unsigned seen)
{
	if (seen & OB(o))
		return cli_usage_error("%s given more than once", opt_names[o]);
	*slot = v;
	return 0;
}

/* Parse every option of the command line (GNU getopt permutes them to the front). Returns 0,
 * CLI_ERR_USAGE, or -1 for --version (printed). */
static int parse_opts(int argc, char **argv, struct cli_opts *o)
{
	int ch, rc = 0;

	opterr = 1;
	while ((ch = getopt_long(argc, argv, "hvV", long_opts, NULL)) != -1) {
		enum cli_opt which;

		switch (ch) {
		case 'S':
			which = O_SOCKET;
			rc = set_once(which, &o->socket, optarg, o->seen);
			break;
		case 'U':
			which = O_URL;
			rc = set_once(which, &o->url, optarg, o->seen);
			break;
		case 'T':
			which = O_TIMEOUT;
			rc = parse_long("--timeout", optarg, 1, 86400, &o->timeout_s);
			break;
		case 'v':
			which = O_VERBOSE;
			o->verbose = 1;
			break;
		case 'h': which = O_HELP; break;
		case 'V': printf("wpsgate %s\n", PACKAGE_VERSION); return -1;
		case 'H':
			which = O_HUB;
			rc = set_once(which, &o->hub, optarg, o->seen);
			break;
		case 'u':
			which = O_USER;
			rc = set_once(which, &o->user, optarg, o->seen);
			break;
		case 'c':
			which = O_CONNECTION;
			rc = set_once(which, &o->connection, optarg, o->seen);
			break;
		case 'p':
			which = O_PERMISSION;
			rc = set_once(which, &o->permission, optarg, o->seen);
			break;
		case 't':
			which = O_TARGET;
			rc = set_once(which, &o->target, optarg, o->seen);
			break;
		case 'f':
			which = O_FILTER;
			rc = set_once(which, &o->filter, optarg, o->seen);
			break;
		case 'R':
			which = O_REASON;
			rc = set_once(which, &o->reason, optarg, o->seen);
			break;
		case 'g':
			which = O_GROUP;
			rc = strv_push(&o->groups, optarg);
			break;
		case 'e':
			which = O_EXCLUDE;
			rc = strv_push(&o->excludes, optarg);
			break;
		case 'r':
			which = O_ROLE;
			rc = strv_push(&o->roles, optarg);
			break;
		case 'j': which = O_JSON; break;
		case 'x': which = O_TEXT; break;
		case 'b': which = O_BINARY; break;
		case 'Q':
			which = O_MQTT;
			if (o->seen & OB(O_CLIENT_TYPE))
				return cli_usage_error("--mqtt and --client-type: give one of them");
			o->mqtt = 1;
			break;
		case 'C': /* the service's name for it: Default or MQTT, in any case */
			which = O_CLIENT_TYPE;
			if (o->seen & (OB(O_MQTT) | OB(O_CLIENT_TYPE)))
				return cli_usage_error("--mqtt and --client-type: give one of them, once");
			if (strcasecmp(optarg, "mqtt") == 0)
				o->mqtt = 1;
			else if (strcasecmp(optarg, "default") != 0)
				return cli_usage_error("--client-type must be default or mqtt");
			break;
		case 'l':
			which = O_TTL;
			rc = parse_long("--ttl", optarg, 0, 300, &o->ttl);
			break;
		case 'm':
			which = O_MINUTES;
			rc = parse_long("--minutes", optarg, 1, LONG_MAX / 60, &o->minutes);
			break;
		case 'n':
			which = O_TOP;
			rc = parse_long("--top", optarg, 1, LONG_MAX, &o->top);
			break;
		case 'P':
			which = O_MAXPAGESIZE;
			rc = parse_long("--max-page-size", optarg, 1, 200, &o->maxpagesize);
			break;
		default: return CLI_ERR_USAGE; /* getopt printed the message */
		}
		if (rc == -1)
			return cli_usage_error("out of memory");
		if (rc != 0)
			return rc;
		o->seen |= OB(which);
	}
	return 0;
}

static int print_help(const struct cli_cmd *c, FILE *f)
{
	fprintf(f, "Usage: %s\n\n%s", c->synopsis, c->help);
	fputs("\nOptions for every command: --socket PATH, --url URL, --timeout S, -v, --help (see wpsgate "
	      "--help).\n",
	      f);
	return CLI_OK;
}

/* `wpsgate group --help`: the subcommands of one group. */
static int print_group_help(const char *group, FILE *f)
{
	const struct cli_cmd *c;

	fprintf(f, "Usage: wpsgate %s SUBCOMMAND [OPTIONS]\n\nSubcommands:\n", group);
	for (c = cli_commands; c->name != NULL; c++)
		if (c->group != NULL && strcmp(c->group, group) == 0)
			fprintf(f, "  %s\n", c->synopsis);
	fprintf(f, "\n`wpsgate %s SUBCOMMAND --help` for details.\n", group);
	return CLI_OK;
}

static int is_group_word(const char *w)
{
	const struct cli_cmd *c;

	for (c = cli_commands; c->name != NULL; c++)
		if (c->group != NULL && strcmp(c->group, w) == 0)
			return 1;
	return 0;
}

/* Find the command named by words[0] (and words[1] for a group); *used = words consumed. */
static const struct cli_cmd *find_cmd(char **words, int n, int *used)
{
	const struct cli_cmd *c;

	for (c = cli_commands; c->name != NULL; c++) {
		if (c->group == NULL && n >= 1 && strcmp(c->name, words[0]) == 0) {
			*used = 1;
			return c;
		}
		if (c->group != NULL && n >= 2 && strcmp(c->group, words[0]) == 0 &&
		    strcmp(c->name, words[1]) == 0) {
			*used = 2;
			return c;
		}
	}
	return NULL;
}

static int check_allowed(const struct cli_cmd *c, const struct cli_opts *o)
{
	unsigned extra = o->seen & ~(c->allowed | CLI_GLOBAL_OPTS);
	int i;

	for (i = 0; i < O__COUNT; i++)
		if (extra & OB(i))
			return cli_usage_error("%s does not apply to `wpsgate %s%s%s` (see --help)",
			                       opt_names[i], c->group ? c->group : "", c->group ? " " : "",
			                       c->name);
	if ((o->seen & OB(O_SOCKET)) && (o->seen & OB(O_URL)))
		return cli_usage_error("give --socket or --url, not both");
	if (o->nargs > c->maxargs)
		return cli_usage_error("unexpected argument `%.64s` (see --help)", o->args[c->maxargs]);
	return 0;
}

int cli_main(int argc, char **argv)
{
	struct cli_opts o;
	const struct cli_cmd *c = NULL;
	struct cli_http *h = NULL;
	char **words;
	int nwords, used = 0, rc;

	memset(&o, 0, sizeof(o));
	o.timeout_s = CLI_DEFAULT_TIMEOUT_S;
	o.ttl = o.minutes = o.top = o.maxpagesize = -1;
	rc = parse_opts(argc, argv, &o);
	if (rc != 0) {
		rc = rc < 0 ? CLI_OK : rc;
		goto done;
	}
	words = argv + optind;
	nwords = argc - optind;
	/* `wpsgate help [COMMAND [SUB]]` is `wpsgate [COMMAND [SUB]] --help` */
	if (nwords >= 1 && strcmp(words[0], "help") == 0) {
		o.seen |= OB(O_HELP);
		words++;
		nwords--;
	}
	if (nwords == 0) {
		if (o.seen & OB(O_HELP)) {
			fputs(main_usage, stdout);
			rc = CLI_OK;
		} else {
			fputs(main_usage, stderr);
			rc = CLI_ERR_USAGE;
		}
		goto done;
	}
	c = find_cmd(words, nwords, &used);
	if (c == NULL) {
		if (is_group_word(words[0])) {
			if ((o.seen & OB(O_HELP)) && nwords == 1) {
				rc = print_group_help(words[0], stdout);
			} else {
				print_group_help(words[0], stderr);
				rc = nwords == 1 ? cli_usage_error("`%s` needs a subcommand", words[0])
				                 : cli_usage_error("unknown subcommand `%s %.64s`", words[0],
				                                   words[1]);
			}
		} else {
			rc = cli_usage_error("unknown command `%.64s` (see wpsgate --help)", words[0]);
		}
		goto done;
	}
	if (o.seen & OB(O_HELP)) {
		rc = print_help(c, stdout);
		goto done;
	}
	o.args = words + used;
	o.nargs = nwords - used;
	rc = check_allowed(c, &o);
	if (rc != 0)
		goto done;
	h = cli_http_new(&o);
	rc = h == NULL ? CLI_ERR_USAGE : c->run(c, &o, h);
	cli_http_free(h);
done:
	if (fflush(stdout) != 0 && rc == CLI_OK) {
		cli_warn("cannot write the output");
		rc = CLI_ERR_ANSWER;
	}
	cli_strv_free(&o.groups);
	cli_strv_free(&o.excludes);
	cli_strv_free(&o.roles);
	return rc;
}
