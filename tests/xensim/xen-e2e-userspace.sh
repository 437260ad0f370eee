#!/bin/bash
# SPDX-License-Identifier: MIT
#
# xen-e2e-userspace.sh - the xen-e2e.sh scenario with a dom0 kernel that has
# no privcmd irqfd/ioeventfd: queue notifies and interrupts are forwarded by
# xen-vhost-master in userspace.  Prints TAP.
XEN_E2E_NOTIFY=user exec bash "$(dirname "$0")/xen-e2e.sh"
