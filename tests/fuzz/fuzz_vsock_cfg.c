// SPDX-License-Identifier: MIT
/*
 * fuzz_vsock_cfg.c - the text parsers of vhost-device-vsock: the hybrid
 * vsock "CONNECT <port>" line (from any host program), the --vm
 * key=value list and the --config YAML file.
 *
 * Input: first byte selects the parser (0: handshake, 1: --vm, 2: YAML),
 * the rest is the text.  Invariants: no crash or leak; a parsed handshake
 * port round-trips; every accepted VM passes its own invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsock/vsock_config.h"
#include "vsock/vsock_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_vm(const struct vsock_vm_cfg *vm)
{
	if (!vm->socket || (!vm->uds_path == !vm->forward) || !vm->ngroups || !vm->queue_size ||
	    (vm->queue_size & (vm->queue_size - 1)) || !vm->tx_buffer_size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[VSOCK_ERR_LEN];
	char *s;
	unsigned int i;

	if (!size)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0: {
		uint32_t port;

		if (vsock_hs_parse(s, size - 1, &port) == 0) {
			char again[32];
			int n = snprintf(again, sizeof(again), "CONNECT %u", port);
			uint32_t p2;

			if (vsock_hs_parse(again, (size_t)n, &p2) || p2 != port)
				abort();
		}
		break;
	}
	case 1: {
		struct vsock_vm_cfg vm;

		if (vsock_vm_parse_kv(s, &vm, err, sizeof(err)) == 0) {
			check_vm(&vm);
			vsock_vm_cfg_free(&vm);
		}
		break;
	}
	default: {
		struct vsock_opts o;

		memset(&o, 0, sizeof(o));
		if (vsock_yaml_load_string(s, strlen(s), "fuzz.yaml", &o, err, sizeof(err)) == 0) {
			for (i = 0; i < o.nvms; i++)
				check_vm(&o.vms[i]);
			vsock_opts_validate(&o, err, sizeof(err));
		}
		vsock_opts_free(&o);
		break;
	}
	}
	free(s);
	return 0;
}
