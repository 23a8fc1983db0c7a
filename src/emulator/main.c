/* main.c: wpsgate-emulator's command line: read the key, bind the listener, print the endpoint
 * and connection string, run the server until SIGTERM/SIGINT. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "emu.h"
#include "emulimits.h"
#include "events.h"
#include "insp.h"
#include "keyfile.h"
#include "auth.h"
#include "log.h"
#include "server.h"
#include "ws.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: wpsgate-emulator --listen 127.0.0.1:PORT (--access-key-file FILE | "
	        "--connection-string-file FILE)\n"
	        "                        [--max-connections N] [--max-frame-bytes N] [--max-send-queue-bytes "
	        "N]\n"
	        "                        [--max-mqtt-packet-bytes N] [-v] [-h] [-V]\n"
	        "                        [--entra-issuer-key-file FILE [--disable-local-auth]]\n"
	        "                        [--event-handler 'HUB=URL[;user=PATTERN][;system=EVENTS]' ...]\n"
	        "                        [--event-timeout-ms N] [--event-max-inflight N]\n"
	        "                        [--no-inspector] [--inspector-entries N] [--inspector-watchers N]\n"
	        "                        [--inspector-backlog-bytes N]\n"
	        "A local Azure Web PubSub service (its REST API, every published api-version, and WebSocket "
	        "clients) on loopback.\n"
	        "PORT 0 picks a free port. See wpsgate-emulator(1).\n"
	        "Test mode: --entra-issuer-key-file also accepts REST bearer tokens of a fake Entra ID "
	        "issuer\n"
	        "(HS256 with that key, aud https://webpubsub.azure.com, exp); --disable-local-auth then "
	        "refuses\n"
	        "access-key tokens, as the service does with local auth disabled.\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || v == 0 || v > (1ull << 40))
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Bind a loopback address "127.0.0.1:PORT" or "[::1]:PORT". Returns the listening socket or -1. */
/* "s-" and a random (version 4) UUID: the kid of the client tokens, as the service's look. */
static int make_kid(char *out, size_t len)
{
	unsigned char u[16];

	if (RAND_bytes(u, sizeof(u)) != 1)
		return -1;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	snprintf(out, len, "s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
	         u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
	         u[15]);
	return 0;
}

static int bind_listen(const char *spec, char *hostport, size_t hplen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[64];
	const char *colon = strrchr(spec, ':');
	int fd = -1, one = 1;
	size_t port;

	memset(&ss, 0, sizeof(ss));
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "wpsgate-emulator: --listen wants HOST:PORT\n");
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (strcmp(colon + 1, "0") == 0)
		port = 0;
	else if (parse_size(colon + 1, &port) < 0 || port > 65535) {
		fprintf(stderr, "wpsgate-emulator: invalid port in --listen\n");
		return -1;
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) {
			fprintf(stderr, "wpsgate-emulator: --listen takes a loopback address only\n");
			return -1;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1 || (ntohl(a->sin_addr.s_addr) >> 24) != 127) {
			fprintf(stderr, "wpsgate-emulator: --listen takes a loopback address only\n");
			return -1;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		sl = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "wpsgate-emulator: cannot listen on %s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		snprintf(hostport, hplen, "[%s]:%u", a, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
		snprintf(hostport, hplen, "%s:%u", a, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	return fd;
}

static void raise_nofile(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
		rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The command line, into e and a. Returns -1 to go on, else the exit status (0 after --help or
 * --version, 2 for a usage error). */
struct args {
	const char *listen_spec, *keyfile, *csfile, *entrafile;
	int verbose, no_local_auth, no_inspector;
};

static int parse_args(int argc, char **argv, struct emu *e, struct args *a)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "access-key-file", required_argument, NULL, 'k' },
		{ "connection-string-file", required_argument, NULL, 'c' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "max-frame-bytes", required_argument, NULL, 'f' },
		{ "max-send-queue-bytes", required_argument, NULL, 'q' },
		{ "max-mqtt-packet-bytes", required_argument, NULL, 'P' },
		{ "entra-issuer-key-file", required_argument, NULL, 'E' },
		{ "disable-local-auth", no_argument, NULL, 'L' },
		{ "event-handler", required_argument, NULL, 'H' },
		{ "event-timeout-ms", required_argument, NULL, 'T' },
		{ "event-max-inflight", required_argument, NULL, 'I' },
		{ "no-inspector", no_argument, NULL, 'N' },
		{ "inspector-entries", required_argument, NULL, 'R' },
		{ "inspector-watchers", required_argument, NULL, 'W' },
		{ "inspector-backlog-bytes", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int opt;

	while ((opt = getopt_long(argc, argv, "l:k:c:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': a->listen_spec = optarg; break;
		case 'k': a->keyfile = optarg; break;
		case 'c': a->csfile = optarg; break;
		case 'E': a->entrafile = optarg; break;
		case 'L': a->no_local_auth = 1; break;
		case 'v': a->verbose = 1; break;
		case 'm':
			if (parse_size(optarg, &e->max_connections) < 0 || e->max_connections > 100000) {
				fprintf(stderr, "wpsgate-emulator: invalid --max-connections\n");
				return 2;
			}
			break;
		case 'f':
			if (parse_size(optarg, &e->max_frame) < 0) {
				fprintf(stderr, "wpsgate-emulator: invalid --max-frame-bytes\n");
				return 2;
			}
			break;
		case 'P':
			if (parse_size(optarg, &e->max_mqtt_packet) < 0 || e->max_mqtt_packet < 64 ||
			    e->max_mqtt_packet > 268435460) {
				fprintf(stderr, "wpsgate-emulator: invalid --max-mqtt-packet-bytes (64 to 268435460)\n");
				return 2;
			}
			break;
		case 'q':
			if (parse_size(optarg, &e->max_send_queue) < 0) {
				fprintf(stderr, "wpsgate-emulator: invalid --max-send-queue-bytes\n");
				return 2;
			}
			break;
		case 'H': {
			struct evh_handler h;
			if (evh_parse_spec(optarg, &h, err, sizeof err) < 0) {
				fprintf(stderr, "wpsgate-emulator: %s\n", err);
				return 2;
			}
			evh_handler_clear(&h);
			if (e->nevent_specs == sizeof e->event_specs / sizeof e->event_specs[0]) {
				fprintf(stderr, "wpsgate-emulator: too many --event-handler\n");
				return 2;
			}
			e->event_specs[e->nevent_specs++] = optarg;
			break;
		}
		case 'T': {
			size_t v;
			if (parse_size(optarg, &v) < 0 || v < 100 || v > 600000) {
				fprintf(stderr, "wpsgate-emulator: --event-timeout-ms takes 100..600000\n");
				return 2;
			}
			e->event_timeout_ms = (long)v;
			break;
		}
		case 'I': {
			size_t v;
			if (parse_size(optarg, &v) < 0 || v > 100000) {
				fprintf(stderr, "wpsgate-emulator: --event-max-inflight takes 1..100000\n");
				return 2;
			}
			e->event_max_inflight = (unsigned)v;
			break;
		}
		case 'N': a->no_inspector = 1; break;
		case 'R':
			if (parse_size(optarg, &e->insp_limits.entries) < 0 ||
			    e->insp_limits.entries > INSP_ENTRIES_MAX) {
				fprintf(stderr, "wpsgate-emulator: --inspector-entries takes 1..%d\n",
				        INSP_ENTRIES_MAX);
				return 2;
			}
			break;
		case 'W':
			if (parse_size(optarg, &e->insp_limits.watchers) < 0 ||
			    e->insp_limits.watchers > INSP_WATCHERS_MAX) {
				fprintf(stderr, "wpsgate-emulator: --inspector-watchers takes 1..%d\n",
				        INSP_WATCHERS_MAX);
				return 2;
			}
			break;
		case 'B':
			if (parse_size(optarg, &e->insp_limits.backlog) < 0 ||
			    e->insp_limits.backlog < INSP_BACKLOG_MIN ||
			    e->insp_limits.backlog > INSP_BACKLOG_MAX) {
				fprintf(stderr, "wpsgate-emulator: --inspector-backlog-bytes takes %d..%d\n",
				        INSP_BACKLOG_MIN, INSP_BACKLOG_MAX);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("wpsgate-emulator %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !a->listen_spec || (!a->keyfile == !a->csfile) ||
	    (a->no_local_auth && !a->entrafile)) {
		usage(stderr);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct emu e;
	struct args a;
	const char *listen_spec, *keyfile, *csfile, *entrafile;
	char err[256];
	int verbose, rc = 1, lfd, no_local_auth;
	struct srv *s = NULL;
	sigset_t set;

	memset(&e, 0, sizeof(e));
	memset(&a, 0, sizeof(a));
	e.max_connections = EMU_DEFAULT_MAX_CONNECTIONS;
	e.max_frame = EMU_DEFAULT_MAX_FRAME;
	e.max_send_queue = EMU_DEFAULT_MAX_SEND_QUEUE;
	e.max_mqtt_packet = EMU_DEFAULT_MAX_MQTT_PACKET;
	e.event_timeout_ms = EVH_DEFAULT_TIMEOUT_MS;
	e.event_max_inflight = EVH_DEFAULT_INFLIGHT;
	if ((rc = parse_args(argc, argv, &e, &a)) >= 0)
		return rc;
	rc = 1;
	listen_spec = a.listen_spec;
	keyfile = a.keyfile;
	csfile = a.csfile;
	entrafile = a.entrafile;
	verbose = a.verbose;
	no_local_auth = a.no_local_auth;
	e.max_body = e.max_frame;
	log_init("wpsgate-emulator", verbose ? WLOG_DEBUG : WLOG_INFO, WLOG_FMT_LOGFMT);
	if (keyfile_load(keyfile ? keyfile : csfile, csfile != NULL, &e.key, &e.keylen, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "wpsgate-emulator: %s\n", err);
		return 1;
	}
	if (entrafile) {
		char *ek = NULL;
		size_t ekl = 0;
		if (keyfile_load(entrafile, 0, &ek, &ekl, err, sizeof(err)) < 0) {
			fprintf(stderr, "wpsgate-emulator: --entra-issuer-key-file: %s\n", err);
			goto out;
		}
		rc = auth_set_entra_issuer(ek, ekl);
		OPENSSL_cleanse(ek, ekl);
		free(ek);
		if (rc < 0) {
			rc = 1;
			goto out;
		}
		rc = 1;
		auth_set_local_auth(!no_local_auth);
		log_info("Entra ID test mode: REST calls may carry HS256 tokens of the fake issuer (aud "
		         "https://webpubsub.azure.com)%s",
		         no_local_auth ? "; access-key tokens are refused" : "");
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise_nofile(e.max_connections + EMU_HTTP_EXTRA_CONNECTIONS);

	lfd = bind_listen(listen_spec, e.hostport, sizeof(e.hostport));
	if (lfd < 0)
		goto out;
	if (make_kid(e.kid, sizeof(e.kid)) < 0) {
		log_err("could not draw random bytes for the token key id");
		close(lfd);
		goto out;
	}
	snprintf(e.endpoint, sizeof(e.endpoint), "http://%s", e.hostport);
	/* The inspector shows message bodies and user ids to whoever can reach it: on by default for a
	 * loopback listener only (the only kind --listen takes today). */
	e.inspector = !a.no_inspector &&
	              (strncmp(e.hostport, "127.", 4) == 0 || strncmp(e.hostport, "[::1]", 5) == 0);
	e.state = hub_state_new(&ws_transport);
	if (!e.state)
		goto out;
	if (e.nevent_specs > 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	s = srv_new(&e, lfd);
	if (!s)
		goto out;
	/* The connection string carries the key: it is the emulator's own development key, printed
	 * on purpose so that the user can hand it to an SDK. It is printed nowhere else. */
	const char *colon = strrchr(e.hostport, ':');
	printf("endpoint=%s\n", e.endpoint);
	if (e.inspector)
		printf("inspector=%s/inspector/\n", e.endpoint);
	printf("connection_string=Endpoint=http://%.*s;Port=%s;AccessKey=%s;Version=1.0;\n",
	       (int)(colon - e.hostport), e.hostport, colon + 1, e.key);
	fflush(stdout);
	log_info("listening on %s (max %zu clients, %zu-byte frames)", e.endpoint, e.max_connections,
	         e.max_frame);
	rc = srv_run(s) == 0 ? 0 : 1;
out:
	srv_free(s);
	hub_state_free(e.state);
	auth_set_entra_issuer(NULL, 0);
	if (e.nevent_specs > 0)
		curl_global_cleanup();
	if (e.key) {
		OPENSSL_cleanse(e.key, e.keylen);
		free(e.key);
	}
	return rc;
}
