"""Root exception of the shared module."""


class GxError(Exception):
    """Root of every error GX Pipeline raises on purpose. Its message is meant for an operator."""


class WorkerError(GxError):
    """A worker cannot start (unknown name, missing setting)."""
