"""Constants shared by the pure prepare step and the store (no I/O here)."""

UNKNOWN = -2  # the checkpoint a batch assumes for a partition its writer has not seen yet
