/* fuzz.h: the libFuzzer entry point every target in tests/fuzz defines, and small helpers they share. */
#ifndef WPS_FUZZ_H
#define WPS_FUZZ_H

#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once per input by libFuzzer (--enable-fuzzing) or by driver.c (replay of the corpus).
 * Must not keep state between calls that changes the outcome. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: print it and abort, so that both libFuzzer and the replay driver report it. */
#define FUZZ_ASSERT(cond)                                                                                    \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);         \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

#endif
