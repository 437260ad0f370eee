#!/bin/bash
# SPDX-License-Identifier: MIT
# Real-guest end-to-end scenarios (tests/e2e/scenarios.sh) on the
# Debian 12 6.1 cloud kernel.
E2E_KERNEL=6.1
. "$(dirname "$0")/scenarios.sh"
