// SPDX-License-Identifier: MIT
/*
 * fuzz_main.c - standalone driver for libFuzzer-style targets
 *
 * Linked into every fuzz target when the build is not a libFuzzer build
 * (no --enable-fuzzing), so `make check` replays them (under ASan/UBSan
 * with --enable-sanitizers).
 *
 *   fuzz_foo FILE|DIR...   run the target on each file (or each file in DIR)
 *   fuzz_foo               replay $top_srcdir/tests/fuzz/corpus/foo/ (each file), then
 *                          VK_FUZZ_RUNS (default 20000) inputs: mutated
 *                          corpus files and random bytes from a fixed seed.
 *                          Prints TAP (1..1 / ok 1 - fuzz_foo N inputs).
 *
 * A crash is the failure: the sanitizer report names the input; with
 * VK_FUZZ_SAVE=path each input is written there before it runs, so the
 * last one can be replayed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT   (64 * 1024)
#define MAX_CORPUS  256

struct input {
	uint8_t *data;
	size_t size;
};

static struct input corpus[MAX_CORPUS];
static unsigned int ncorpus;
static const char *save_path;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void run(const uint8_t *data, size_t size)
{
	if (save_path) {
		FILE *f = fopen(save_path, "wb");

		if (f) {
			fwrite(data, 1, size, f);
			fclose(f);
		}
	}
	LLVMFuzzerTestOneInput(data, size);
}

static int load_file(const char *path, struct input *in)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -errno;
	in->data = malloc(FUZZ_MAX_INPUT);
	if (!in->data) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(in->data, 1, FUZZ_MAX_INPUT, f);
	fclose(f);
	in->size = n;
	return 0;
}

/* Load @path (file or directory of files) into the corpus. */
static void load_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (stat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		if (ncorpus < MAX_CORPUS && load_file(path, &corpus[ncorpus]) == 0)
			ncorpus++;
		return;
	}
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL && ncorpus < MAX_CORPUS) {
		char p[4096];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && load_file(p, &corpus[ncorpus]) == 0)
			ncorpus++;
	}
	closedir(d);
}

static size_t mutate(uint8_t *buf, size_t size)
{
	static const uint8_t interesting[] = { 0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 16, 64 };
	unsigned int n = 1 + (unsigned int)(rnd() % 8), i;

	for (i = 0; i < n; i++) {
		size_t pos = size ? rnd() % size : 0;

		switch (rnd() % 6) {
		case 0:
			if (size)
				buf[pos] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1:
			if (size)
				buf[pos] = (uint8_t)rnd();
			break;
		case 2:
			if (size)
				buf[pos] = interesting[rnd() % sizeof(interesting)];
			break;
		case 3:	/* truncate */
			if (size)
				size = pos;
			break;
		case 4:	/* append random bytes */
			while (size < FUZZ_MAX_INPUT && rnd() % 16)
				buf[size++] = (uint8_t)rnd();
			break;
		case 5:	/* copy a block within */
			if (size > 1) {
				size_t from = rnd() % size;
				size_t len = rnd() % (size - (from > pos ? from : pos));

				memmove(buf + pos, buf + from, len);
			}
			break;
		}
	}
	return size;
}

static const char *target_name(const char *argv0)
{
	const char *s = strrchr(argv0, '/');

	s = s ? s + 1 : argv0;
	if (!strncmp(s, "lt-", 3))
		s += 3;
	if (!strncmp(s, "fuzz_", 5))
		s += 5;
	return s;
}

int main(int argc, char **argv)
{
	const char *name = target_name(argv[0]);
	const char *srcdir = getenv("top_srcdir");
	const char *runs_env = getenv("VK_FUZZ_RUNS");
	unsigned long runs = runs_env ? strtoul(runs_env, NULL, 0) : 20000;
	unsigned int i, replayed;
	uint8_t *buf;
	char dir[4096];

	save_path = getenv("VK_FUZZ_SAVE");
	if (argc > 1) {
		for (i = 1; i < (unsigned int)argc; i++)
			load_path(argv[i]);
		for (i = 0; i < ncorpus; i++)
			run(corpus[i].data, corpus[i].size);
		printf("fuzz_%s: %u inputs ran\n", name, ncorpus);
		return 0;
	}

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir ? srcdir : ".", name);
	load_path(dir);
	for (i = 0; i < ncorpus; i++)
		run(corpus[i].data, corpus[i].size);
	replayed = ncorpus;

	buf = malloc(FUZZ_MAX_INPUT);
	if (!buf)
		return 1;
	for (i = 0; i < runs; i++) {
		size_t size;

		if (ncorpus && rnd() % 4) {
			const struct input *in = &corpus[rnd() % ncorpus];

			memcpy(buf, in->data, in->size);
			size = mutate(buf, in->size);
		} else {
			size_t k;

			size = rnd() % 2048;
			for (k = 0; k < size; k++)
				buf[k] = (uint8_t)rnd();
		}
		run(buf, size);
	}
	free(buf);
	for (i = 0; i < ncorpus; i++)
		free(corpus[i].data);
	printf("1..1\nok 1 - fuzz_%s %lu inputs (%u corpus files replayed from %s)\n",
	       name, runs, replayed, dir);
	return 0;
}
