/* driver.c: replay a fuzz target's corpus without libFuzzer (gcc, the normal build): every file of
 * the given files and directories, or, with no arguments, of $WPSGATE_SRCDIR/tests/fuzz/corpus/<target>
 * (the source tree compiled in when the variable is unset), goes once through LLVMFuzzerTestOneInput.
 * Each input is copied to a buffer of exactly its size, so the sanitizers see any read past its end.
 * Exit status: 0 when every input ran, 1 when no input was found or a file could not be read (a crash
 * or a broken invariant aborts). */
#include <config.h>
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET (the corpus folder name) must be defined"
#endif
#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

#define DRIVER_INPUT_MAX (16L * 1024 * 1024) /* larger files are refused */

static unsigned long ran;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long n;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > DRIVER_INPUT_MAX ||
	    fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "%s: cannot size the file (or larger than %ld bytes)\n", path,
		        DRIVER_INPUT_MAX);
		fclose(f);
		return -1;
	}
	/* malloc(0) may return NULL: keep one byte, but hand over exactly n */
	if ((data = malloc(n > 0 ? (size_t)n : 1)) == NULL ||
	    (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n)) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "replay %s (%ld bytes)\n", path, n);
	LLVMFuzzerTestOneInput(data, (size_t)n);
	free(data);
	ran++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every regular file of a directory (not recursive), in name order. */
static int run_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL, full[PATH_MAX];
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
			if (nn == NULL)
				abort();
			names = nn;
		}
		if ((names[n++] = strdup(de->d_name)) == NULL)
			abort();
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	for (i = 0; i < n; i++) {
		snprintf(full, sizeof full, "%s/%s", path, names[i]);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && run_file(full) < 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	char dflt[PATH_MAX];
	const char *src = getenv("WPSGATE_SRCDIR");
	int i, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (run_path(argv[i]) < 0)
				rc = 1;
	} else {
		snprintf(dflt, sizeof dflt, "%s/tests/fuzz/corpus/%s", src && *src ? src : FUZZ_SRCDIR,
		         FUZZ_TARGET);
		if (run_path(dflt) < 0)
			rc = 1;
	}
	if (ran == 0) {
		fprintf(stderr, "%s: no input replayed\n", FUZZ_TARGET);
		return 1;
	}
	printf("%s: %lu inputs replayed\n", FUZZ_TARGET, ran);
	return rc;
}
