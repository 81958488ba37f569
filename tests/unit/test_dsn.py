from hypothesis import given
from hypothesis import strategies as st

from gxcommon.dsn import pg_parts, pg_url
from stack.postgres import make_password

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40)


@given(user=text, password=text, dbname=text, port=st.integers(1, 65535))
def test_url_round_trips_any_credentials(user: str, password: str, dbname: str, port: int) -> None:
    parts = pg_parts(pg_url(user, password, "127.0.0.1", port, dbname))
    assert parts == {"user": user, "password": password, "host": "127.0.0.1", "port": port, "dbname": dbname}


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
