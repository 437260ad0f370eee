/* SPDX-License-Identifier: MIT */
/*
 * xfer_tool.h - command line shared by the guest and host test programs
 */
#ifndef VK_TESTS_XFER_TOOL_H
#define VK_TESTS_XFER_TOOL_H

#include <stddef.h>

struct xfer_tool_ops {
	const char *name;
	const char *serve_where;   /* usage text */
	const char *client_where;
	const char *extra_usage;
	/* Connected socket or -1 with @err filled. */
	int (*do_connect)(const char *where, unsigned int port, int type, char *err, size_t errsize);
	/* Listening socket or -1 (errno set). */
	int (*do_listen)(const char *where, int type);
	/* Other subcommands: exit code, or -1 if not one of them. */
	int (*extra)(int argc, char **argv);
};

int xfer_tool_main(int argc, char **argv, const struct xfer_tool_ops *ops);

#endif
