# tests: shared test helpers live next to the tests of each layer (see tests/unit, tests/fuzz, tests/e2e)
EXTRA_DIST += tests/common/fd_count.h tests/common/loop_dev.h
