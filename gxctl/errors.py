"""Every failure a user can meet, as one line: what is wrong and what to do.

``run_cli`` runs the click group without its own exception handling, then:
- usage errors (bad option, unknown command, bad value): click's message, exit 2;
- bad input (a payload or a command type: schemas.errors.PayloadError): its message, exit 2;
- the project's own errors (gxerrors.GxError, each written for an operator): their message, exit 1;
- a service that cannot be reached or refuses (Postgres, Kafka, Connect, the Fabric peer): which
  one, where, why in one line, and the fix, exit 1;
- anything else: its type and first line, exit 1.
With ``GX_DEBUG=1`` (or ``gxctl --debug``) the traceback is printed too.

A library's error (psycopg, confluent_kafka, grpc, pydantic; fabric_gateway's, for the peer's gRPC
status) is recognised by isinstance on that library's classes, imported only when the process has
loaded the library already: only a loaded library can have raised, and importing psycopg or grpc
just to rule them out would slow every failing command by a tenth of a second each.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any

import click

from gxerrors import GxError
from schemas.errors import PayloadError

if TYPE_CHECKING:
    from pydantic import ValidationError

UP_HINT = "is the stack up? (gxctl up; gxctl status)"


class CommandError(GxError):
    """A command's argument or option names something that is not there (a projection group, a
    folder): gxctl's own leaf of the tree. Exit status 1, as for any GxError."""


# The peer's gRPC statuses that mean it did not answer (rather than refused).
SILENT_PEER = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _loaded(module: str) -> bool:
    """Whether this process has imported ``module`` (see the module's docstring)."""
    return module in sys.modules


def _where(var: str) -> str:
    # Settings are read only once something failed: pydantic-settings alone takes 0.3 s to import.
    from gxcommon.dsn import pg_parts
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.settings import ConnectionSettings

    s, f = ConnectionSettings(), FabricSettings()
    value = {
        "GX_PG_DSN": s.pg_dsn.get_secret_value() if s.pg_dsn else None,
        "GX_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "GX_CONNECT_URL": s.connect_url,
        "GX_FABRIC_GATEWAY": f.gateway,
    }.get(var)
    if not value:
        return f"({var} not set)"
    if var == "GX_PG_DSN":
        try:
            p = pg_parts(value)
            return f"at {p['host']}:{p['port']}/{p['dbname']}"
        except ValueError:
            return "(GX_PG_DSN is not a postgresql:// URL)"
    return f"at {value}"


def describe(e: BaseException) -> str:
    """The one line a user sees for ``e``."""
    if _loaded("fabric_gateway.errors"):
        from fabric_gateway.errors import GatewayError

        if isinstance(e, GatewayError) and e.code is not None and e.code.name in SILENT_PEER:
            return f"Fabric peer {_where('GX_FABRIC_GATEWAY')} did not answer ({e.code.name.lower()}); {UP_HINT}"
    if isinstance(e, GxError):
        return str(e)
    return _library_error(e) or _builtin_error(e)


def _library_error(e: BaseException) -> str | None:
    """The line for an error of a service's client library, or None if ``e`` is none of theirs."""
    if _loaded("psycopg"):
        import psycopg

        if isinstance(e, psycopg.OperationalError):  # psycopg_pool's timeouts too
            return f"cannot use Postgres {_where('GX_PG_DSN')}: {_first_line(e)}; {UP_HINT}"
        if isinstance(e, psycopg.Error):
            if e.sqlstate == "42P01":  # undefined table
                return f"Postgres {_where('GX_PG_DSN')}: {_first_line(e)}; run `gxctl db migrate`"
            return f"Postgres refused: {_first_line(e)}"
    if _loaded("confluent_kafka"):
        from confluent_kafka import KafkaError, KafkaException

        if isinstance(e, KafkaException):
            err = e.args[0] if e.args else None
            text = err.str() if isinstance(err, KafkaError) else _first_line(e)
            login = _kafka_login_problem()
            if login:
                return f"Kafka {_where('GX_KAFKA_BOOTSTRAP')} refused the login: {login}"
            return f"Kafka {_where('GX_KAFKA_BOOTSTRAP')}: {text}; {UP_HINT}"
    if _loaded("grpc"):
        import grpc

        if isinstance(e, grpc.RpcError):
            details = getattr(e, "details", None)  # a call's error has details(); RpcError itself not
            text = details() if callable(details) else _first_line(e)
            return f"Fabric peer {_where('GX_FABRIC_GATEWAY')}: {text}; {UP_HINT}"
        if isinstance(e, (grpc.FutureTimeoutError, grpc.aio.BaseError)):
            return f"Fabric peer {_where('GX_FABRIC_GATEWAY')}: {_first_line(e)}; {UP_HINT}"
    if _loaded("pydantic"):
        from pydantic import ValidationError

        if isinstance(e, ValidationError):
            return settings_problem(e)
    return None


def _builtin_error(e: BaseException) -> str:
    """The line for any other error: the standard library's, or one nobody expected."""
    unreachable: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    if _loaded("urllib.error"):
        import urllib.error

        unreachable += (urllib.error.URLError,)
    if _loaded("http.client"):
        import http.client

        unreachable += (http.client.HTTPException,)
    if isinstance(e, unreachable):
        return f"cannot reach a service: {_first_line(e)}; {UP_HINT}"
    if isinstance(e, FileNotFoundError):
        return f"file not found: {e.filename}"
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename}"
    return f"unexpected {type(e).__name__}: {_first_line(e)} (GX_DEBUG=1 shows the traceback)"


def settings_problem(e: ValidationError) -> str:
    """A settings model that refused a GX_* value, as one line naming the variable:
    ``GX_CONNECT_POLL_MS=0: Input should be greater than 0``."""
    prefix = {"TopicSettings": "GX_TOPIC_", "FabricSettings": "GX_FABRIC_"}.get(e.title, "GX_")
    parts = []
    for err in e.errors():
        field = ".".join(str(x) for x in err.get("loc", ())) or "?"
        value = err.get("input")
        shown = f"={value}" if isinstance(value, (str, int, float)) and "password" not in field else ""
        parts.append(f"{prefix}{field.upper()}{shown}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or f"invalid settings: {_first_line(e)}"


def _kafka_login_problem() -> str | None:
    """With SASL on, why the brokers refuse this process's login (named with the settings to
    check), so a refused login does not read as "transport failure; is the stack up?"."""
    from gxcommon import health
    from gxcommon.settings import ConnectionSettings

    s = ConnectionSettings()
    if s.kafka_security_protocol.upper() == "PLAINTEXT" or not s.kafka_bootstrap:
        return None
    try:
        problem = health.kafka_login_problem(s.kafka_bootstrap)
    except Exception:  # the probe itself failed (e.g. a settings error): keep the original message
        return None
    if problem is None:
        return None
    return f"{problem} (user {s.kafka_username}; check GX_KAFKA_USERNAME, GX_KAFKA_PASSWORD_FILE and GX_KAFKA_CA_FILE)"


def quiet_kafka() -> None:
    """librdkafka's own log lines go through Python logging (gxcommon.kafka), shown from WARNING
    with --verbose and from ERROR otherwise... never as raw `%4|...` lines on a user's terminal."""
    logger = logging.getLogger("librdkafka")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("kafka: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    logger.setLevel(logging.WARNING if verbose else logging.CRITICAL)


def _debug() -> bool:
    # Read only when something failed: `gxctl --help` and `--version` need no settings (pydantic-
    # settings alone takes about 0.3 s to import).
    if "--debug" in sys.argv:
        return True
    from gxcommon.settings import CliSettings

    try:
        return CliSettings().debug
    except Exception:
        return False


def run_cli(cli: click.Group, args: list[str] | None = None) -> None:
    """Run ``cli``; exit with its return value, or as the module's docstring says on a failure."""
    try:
        rv: Any = cli.main(args=args, prog_name="gxctl", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:  # usage errors: exit 2 (click's code)
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as e:  # every other failure: one line (the traceback on request)
        if _debug():
            traceback.print_exc()
        click.echo(f"error: {describe(e)}", err=True)
        sys.exit(2 if isinstance(e, PayloadError) else 1)
    sys.exit(rv if isinstance(rv, int) else 0)
