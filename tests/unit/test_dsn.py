from hypothesis import given
from hypothesis import strategies as st

from gxcommon.dsn import pg_parts, pg_url
from stack.postgres import make_password

text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=40)


@given(user=text, password=text, dbname=text, port=st.integers(1, 65535))
def test_url_round_trips_any_credentials(user: str, password: str, dbname: str, port: int) -> None:
    parts = pg_parts(pg_url(user, password, "127.0.0.1", port, dbname))
    assert parts == {
        "user": user,
        "password": password,
        "host": "127.0.0.1",
        "port": port,
        "dbname": dbname,
        "query": {},
    }


def test_the_old_systems_breaking_password_is_encoded() -> None:
    url = pg_url("gx", "a/b=c@d%e:f", "h", 5, "gx")
    assert url == "postgresql://gx:a%2Fb%3Dc%40d%25e%3Af@h:5/gx"


def test_generated_passwords_always_carry_the_hostile_characters() -> None:
    for _ in range(50):
        pw = make_password()
        assert all(ch in pw for ch in "/=@%")
        assert len(pw) >= 30


def test_not_a_postgres_url_is_refused_with_the_reason() -> None:
    import pytest

    with pytest.raises(ValueError, match="scheme 'mysql'"):
        pg_parts("mysql://u:p@h/db")


def test_query_parameters_survive_a_password_from_a_file(tmp_path) -> None:
    """The defect: pg_parts dropped ?sslmode=..., and the password file was ignored by workers."""
    from pydantic import SecretStr

    from gxcommon.dsn import with_password
    from gxcommon.worker_settings import WorkerSettings

    url = "postgresql://gx:old@db.example:5433/gx?sslmode=verify-full&application_name=w"
    assert pg_parts(url)["query"] == {"sslmode": "verify-full", "application_name": "w"}
    swapped = with_password(url, "n/e=w@%")
    assert pg_parts(swapped) == {**pg_parts(url), "password": "n/e=w@%"}
    secret = tmp_path / "pw"
    secret.write_text("from-file/=\n")
    s = WorkerSettings(pg_dsn=SecretStr(url), pg_password_file=secret)
    assert pg_parts(s.dsn())["password"] == "from-file/="
    assert pg_parts(s.dsn())["query"]["sslmode"] == "verify-full"


def test_a_dsn_can_name_a_password_file_instead_of_holding_the_password(tmp_path) -> None:
    import psycopg

    from gxcommon.dsn import password, pg_url, pgpass_line, secret_parts

    hard = "a:b\\c/=@%x"
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(
        pgpass_line("127.0.0.1", 5432, "*", "other", "nope")
        + "\n"
        + pgpass_line("127.0.0.1", 5432, "*", "gx_cdc", hard)
        + "\n"
    )
    url = pg_url("gx_cdc", "", "127.0.0.1", 5432, "gx", {"passfile": str(pgpass)})
    assert (
        "@" not in url.split("//", 1)[1].split("/", 1)[0].split("@")[0] and ":" not in url.split("//")[1].split("@")[0]
    )
    assert password(url) == hard
    assert secret_parts(url)["password"] == hard and secret_parts(url)["user"] == "gx_cdc"
    # libpq itself reads the same line from the same file (the conninfo keeps the passfile).
    assert psycopg.conninfo.conninfo_to_dict(url)["passfile"] == str(pgpass)
    # A URL that holds its password wins; no file and no password: empty.
    assert password(pg_url("gx_cdc", "inline", "127.0.0.1", 5432, "gx", {"passfile": str(pgpass)})) == "inline"
    assert password(pg_url("nobody", "", "127.0.0.1", 5432, "gx", {"passfile": str(pgpass)})) == ""
