#!/bin/bash
# SPDX-License-Identifier: MIT
# Real-guest end-to-end scenarios (tests/e2e/scenarios.sh) on the
# newest Debian cloud kernel (6.12 today).
E2E_KERNEL=newest
. "$(dirname "$0")/scenarios.sh"
