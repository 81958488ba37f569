"""Tests of the secure stack (`gxctl stack up --secure`): collected only in scripts/test.sh's secure
pass (GX_TEST_SECURE=1), which CI runs; the plain pass has no secure stack to test."""

import os

collect_ignore_glob = [] if os.environ.get("GX_TEST_SECURE") == "1" else ["test_*.py"]
