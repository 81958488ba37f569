"""The root of GX Pipeline's errors: every exception class its packages define is a :class:`GxError`.

Each package keeps a root of its own under it, and leaves that carry where a failure happened::

    GxError                gxerrors            this module
    ├── SettingsError      gxcommon.settings   a GX_* setting missing or invalid (``variables``)
    ├── WorkerError        gxcommon.faust_app  a worker cannot start
    ├── ProbeError         gxcommon.health     a service did not answer as required (``service``)
    ├── TopicError         gxcommon.topics     (``topic``)
    ├── DlqError           gxcommon.dlq        (``topic``, ``partition``, ``offset``)
    ├── SchemaError        schemas.errors      payloads (PayloadError: ``errors``, field and message), migrations
    ├── ConnectorError     connectors.errors   rendering, Kafka Connect's REST API (``connector``, ``status``)
    ├── GatewayError       fabric_gateway.errors  (``tx_id``, ``code``: the gRPC status; CommitError:
    │                                             ``validation_code``, ``block``)
    ├── StreamsError       streams.errors      the submit window, the block publisher
    ├── ProjectionError    projections.errors  (``topic``, ``partition``, offsets)
    ├── StackError         stack.errors        the local stack (``component``, ``hint``)
    ├── ReportError        monitoring.report   Prometheus' answers
    └── CommandError       gxctl.errors        a command's argument names nothing there

A GxError's message is written for an operator: `gxctl` prints it as the failure's one line
(gxctl.errors), and ``except GxError`` catches every failure the project raises on purpose.

Why a module of its own, outside every package: ``fabric_gateway`` (our Fabric Gateway client) and
``schemas`` (the contracts) are libraries, usable by other programs, that import nothing else of the
project. They may import this module, which imports nothing at all, so GatewayError and SchemaError
are GxErrors themselves: one ``except GxError`` and one isinstance in the CLI cover them, and the
code that decides on their leaves (the submitter's retries read EndorseError, CommitError, ...) uses
them as they are. The alternative, translating a GatewayError into a GxError wherever one leaves the
client (the submitter, the block publisher, the projections' wait and verify, the CLI), needs a
wrapper at each of those edges, and shows an error outside the tree wherever one is forgotten. Had
the root stayed in ``gxcommon``, the libraries would depend on gxcommon, which depends on them
(gxcommon.fabric_settings, gxcommon.readiness): a loop between packages. `make check`
(tests/unit/test_imports.py) keeps this module free of imports and the libraries free of the rest.
"""


class GxError(Exception):
    """Root of every error GX Pipeline raises on purpose; the message is meant for an operator."""
