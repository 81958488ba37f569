"""Every failure a user can meet, as one line: what is wrong and what to do.

``run_cli`` runs the click group without its own exception handling, then:
- usage errors (bad option, unknown command, bad value): click's message, exit 2;
- our own errors (each package's root error, written for operators): their message, exit 1;
- a service that cannot be reached or refuses (Postgres, Kafka, Connect, the Fabric peer): which
  one, where, why in one line, and the fix, exit 1;
- anything else: its type and first line, exit 1.
With ``GX_DEBUG=1`` (or ``gxctl --debug``) the traceback is printed too.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import click

UP_HINT = "is the stack up? (gxctl up; gxctl status)"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _where(var: str) -> str:
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
            from gxcommon.dsn import pg_parts

            p = pg_parts(value)
            return f"at {p['host']}:{p['port']}/{p['dbname']}"
        except ValueError:
            return "(GX_PG_DSN is not a postgresql:// URL)"
    return f"at {value}"


def describe(e: BaseException) -> str:
    """The one line a user sees for ``e``."""
    from fabric_gateway.errors import GatewayError
    from gxctl.output import operator_errors

    code = getattr(e, "code", None)
    if isinstance(e, GatewayError) and getattr(code, "name", "") in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return f"Fabric peer {_where('GX_FABRIC_GATEWAY')} did not answer ({code.name.lower()}); {UP_HINT}"  # type: ignore[union-attr]
    if isinstance(e, operator_errors()):
        return str(e)
    mod = type(e).__module__ or ""
    if mod.startswith("psycopg"):
        import psycopg

        if isinstance(e, psycopg.OperationalError):
            return f"cannot use Postgres {_where('GX_PG_DSN')}: {_first_line(e)}; {UP_HINT}"
        state = getattr(e, "sqlstate", None) or ""
        if state == "42P01":
            return f"Postgres {_where('GX_PG_DSN')}: {_first_line(e)}; run `gxctl db migrate`"
        return f"Postgres refused: {_first_line(e)}"
    if mod.startswith(("cimpl", "confluent_kafka")):
        err = e.args[0] if e.args else None
        text = err.str() if err is not None and hasattr(err, "str") else _first_line(e)
        login = _kafka_login_problem()
        if login:
            return f"Kafka {_where('GX_KAFKA_BOOTSTRAP')} refused the login: {login}"
        return f"Kafka {_where('GX_KAFKA_BOOTSTRAP')}: {text}; {UP_HINT}"
    if mod.startswith("grpc"):
        details = getattr(e, "details", None)
        text = details() if callable(details) else _first_line(e)
        return f"Fabric peer {_where('GX_FABRIC_GATEWAY')}: {text}; {UP_HINT}"
    if isinstance(e, (ConnectionError, TimeoutError)) or mod.startswith(("urllib", "http")):
        return f"cannot reach a service: {_first_line(e)}; {UP_HINT}"
    if mod.startswith("pydantic") and hasattr(e, "errors"):
        return settings_problem(e)
    if isinstance(e, ValueError) and "postgresql://" in str(e):
        return f"GX_PG_DSN: {_first_line(e)}"
    if isinstance(e, FileNotFoundError):
        return f"file not found: {e.filename}"
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename}"
    return f"unexpected {type(e).__name__}: {_first_line(e)} (GX_DEBUG=1 shows the traceback)"


def settings_problem(e: Any) -> str:
    """A settings model that refused a GX_* value (pydantic's ValidationError), as one line naming
    the variable: ``GX_CONNECT_POLL_MS=0: Input should be greater than 0``."""
    prefix = {"TopicSettings": "GX_TOPIC_", "FabricSettings": "GX_FABRIC_"}.get(getattr(e, "title", ""), "GX_")
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
    from gxcommon.settings import ConnectionSettings

    s = ConnectionSettings()
    if s.kafka_security_protocol.upper() == "PLAINTEXT" or not s.kafka_bootstrap:
        return None
    from gxcommon import health

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
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
