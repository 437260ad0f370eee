// SPDX-License-Identifier: MIT
/*
 * test_vq_threads.c - driver and device in two threads, eventfd kicks
 * and calls, both sides suppressing notifications as real ones do.
 *
 * A lost wake-up (barrier or suppression logic wrong) shows as a side
 * waiting for a notification that never comes: each wait times out after
 * 5 s and fails the test.  Payloads are checked end to end.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "vq_test_util.h"

#define NUM       64
#define SLOTS     (NUM / 2)
#define REQUESTS  200000u
#define WAIT_MS   5000

struct run {
	struct vqt_env e;
	int kick_fd, call_fd;
	uint8_t *bufs;                  /* SLOTS x (8 out + 8 in) */
	const char *err;                /* first failure, set by either thread */
	unsigned long kicks, calls;
};

static bool wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	return read(fd, &v, sizeof(v)) == sizeof(v);
}

static void *device_thread(void *arg)
{
	struct run *r = arg;
	struct vq *vq = &r->e.vq;
	struct vq_elem *el = malloc(sizeof(*el));
	unsigned long done = 0;
	int ret;

	if (!el) {
		r->err = "device: no memory";
		return NULL;
	}
	while (done < REQUESTS && !r->err) {
		if (!wait_fd(r->kick_fd)) {
			r->err = "device: kick never came";
			break;
		}
		do {
			vq_disable_notify(vq);
			while ((ret = vq_pop(vq, r->e.tab, el)) > 0) {
				uint64_t id;

				if (vq_iov_to_buf(el->iov, el->out_num, 0, &id, 8) != 8 || id != done) {
					r->err = "device: bad request payload / order";
					break;
				}
				id = id * 3 + 1;
				vq_buf_to_iov(el->iov + el->out_num, el->in_num, 0, &id, 8);
				vq_push(vq, el, 8);
				done++;
			}
			vq_flush(vq);
			if (vq_notify(vq))
				r->calls++;
			if (ret < 0)
				r->err = "device: queue broken";
		} while (!r->err && vq_enable_notify(vq));
	}
	free(el);
	return NULL;
}

static void *driver_thread(void *arg)
{
	struct run *r = arg;
	struct vqdrv *d = &r->e.drv;
	unsigned long sent = 0, done = 0;

	vqdrv_disable_cb(d);
	while (done < REQUESTS && !r->err) {
		unsigned int added = 0;
		uint32_t len;
		void *tok;
		bool got = false;

		while (sent < REQUESTS && vqdrv_num_free(d) >= 2 && added < 8) {
			uint8_t *b = r->bufs + 16 * (sent % SLOTS);
			struct iovec out = { b, 8 }, in = { b + 8, 8 };
			uint64_t id = sent;

			memcpy(b, &id, 8);
			memset(b + 8, 0, 8);
			if (vqdrv_add(d, &out, 1, &in, 1, (void *)(uintptr_t)(sent + 1)) < 0) {
				r->err = "driver: add failed";
				return NULL;
			}
			sent++;
			added++;
		}
		if (added && vqdrv_kick_prepare(d)) {
			uint64_t one = 1;

			r->kicks++;
			if (write(r->kick_fd, &one, 8) != 8)
				r->err = "driver: kick write";
		}
		while ((tok = vqdrv_get_used(d, &len)) != NULL) {
			uint64_t v;

			memcpy(&v, r->bufs + 16 * (done % SLOTS) + 8, 8);
			if ((uintptr_t)tok != done + 1 || len != 8 || v != done * 3 + 1) {
				r->err = "driver: bad completion";
				return NULL;
			}
			done++;
			got = true;
		}
		if (got || (sent < REQUESTS && vqdrv_num_free(d) >= 2))
			continue;
		/* Nothing to do: wait for an interrupt, unless one is pending. */
		if (!vqdrv_enable_cb(d) && !wait_fd(r->call_fd))
			r->err = "driver: interrupt never came";
		vqdrv_disable_cb(d);
	}
	return NULL;
}

static void run(uint64_t features)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t dev, drv;

	assert_non_null(r);
	assert_int_equal(vqt_setup(&r->e, 1, 1 << 20, NUM, features), 0);
	r->kick_fd = eventfd(0, EFD_NONBLOCK);
	r->call_fd = eventfd(0, EFD_NONBLOCK);
	assert_true(r->kick_fd >= 0 && r->call_fd >= 0);
	r->e.vq.call_fd = r->call_fd;
	r->bufs = vqt_alloc(&r->e, 16 * SLOTS, 64);

	assert_int_equal(pthread_create(&dev, NULL, device_thread, r), 0);
	assert_int_equal(pthread_create(&drv, NULL, driver_thread, r), 0);
	pthread_join(drv, NULL);
	if (r->err) {
		/* unblock the device */
		uint64_t one = 1;

		if (write(r->kick_fd, &one, 8) != 8)
			r->err = "cleanup";
	}
	pthread_join(dev, NULL);
	if (r->err)
		fail_msg("%s", r->err);
	assert_int_equal(r->e.drv.last_used_idx, (uint16_t)REQUESTS);
	/* Suppression works: far fewer notifications than requests. */
	assert_true(r->kicks < REQUESTS / 2);
	assert_true(r->calls < REQUESTS / 2);
	close(r->kick_fd);
	close(r->call_fd);
	vqt_teardown(&r->e);
	free(r);
}

static void test_threads_event_idx(void **state)
{
	(void)state;
	run(1ull << VIRTIO_RING_F_EVENT_IDX);
}

static void test_threads_flags(void **state)
{
	(void)state;
	run(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_event_idx),
		cmocka_unit_test(test_threads_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
