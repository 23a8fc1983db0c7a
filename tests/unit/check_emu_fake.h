/* check_emu_fake.h: a recording transport for the emulator's unit tests (frames and closes). */
#ifndef CHECK_EMU_FAKE_H
#define CHECK_EMU_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "emulator/hub.h"

#define FAKE_FRAMES_MAX 64

struct fake {
	int nframes;
	char *frames[FAKE_FRAMES_MAX];
	size_t lens[FAKE_FRAMES_MAX];
	int binary[FAKE_FRAMES_MAX];
	int closed, code;
	char reason[256];
	int refuse; /* send returns -1 (queue full) */
};

static int fake_send(void *t, int binary, const char *data, size_t len)
{
	struct fake *f = t;
	if (f->refuse || f->nframes >= FAKE_FRAMES_MAX)
		return -1;
	f->frames[f->nframes] = malloc(len + 1);
	memcpy(f->frames[f->nframes], data, len);
	f->frames[f->nframes][len] = '\0';
	f->lens[f->nframes] = len;
	f->binary[f->nframes] = binary;
	f->nframes++;
	return 0;
}

static void fake_close(void *t, int code, const char *reason)
{
	struct fake *f = t;
	f->closed++;
	f->code = code;
	snprintf(f->reason, sizeof(f->reason), "%s", reason ? reason : "");
}

static const struct hub_transport_ops fake_ops = { fake_send, fake_close };

static void fake_reset(struct fake *f)
{
	for (int i = 0; i < f->nframes; i++)
		free(f->frames[i]);
	memset(f, 0, sizeof(*f));
}

/* Add a connection with a fake transport. */
static struct hub_conn *fake_conn(struct hub *h, struct fake *f, const char *id, const char *user,
                                  enum hub_proto proto, const char *const *roles, size_t nroles,
                                  const char *const *groups, size_t ngroups)
{
	struct hub_conn_spec spec = { .id = id, .user = user, .proto = proto, .roles = roles, .nroles = nroles,
		                      .groups = groups, .ngroups = ngroups, .transport = f };
	return hub_conn_add(h, &spec);
}

#endif
