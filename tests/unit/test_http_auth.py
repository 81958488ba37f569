"""gxcommon.http_auth: basic auth carried in a URL's user info, never in what is printed."""

from __future__ import annotations

import base64

from gxcommon.http_auth import public, request, with_credentials


def test_credentials_become_a_basic_header_and_leave_the_printed_url() -> None:
    url = with_credentials("http://127.0.0.1:8083", "gx-admin", "p@ss:w/rd")
    assert public(url) == "http://127.0.0.1:8083"
    req = request(url + "/connectors", method="PUT", data=b"{}")
    assert req.full_url == "http://127.0.0.1:8083/connectors"
    assert req.get_header("Authorization") == "Basic " + base64.b64encode(b"gx-admin:p@ss:w/rd").decode()
    assert request("http://127.0.0.1:8083/connectors").get_header("Authorization") is None
    # Replacing credentials keeps one user info.
    assert with_credentials(url, "u", "p") == "http://u:p@127.0.0.1:8083"


def test_connect_endpoint_reads_the_password_file(tmp_path) -> None:
    import pytest

    from gxcommon.settings import ConnectionSettings
    from gxerrors import GxError

    pw = tmp_path / "rest.password"
    pw.write_text("s3cr=t\n")
    s = ConnectionSettings(connect_url="http://127.0.0.1:1", connect_username="gx-admin", connect_password_file=pw)
    assert s.connect_endpoint() == "http://gx-admin:s3cr%3Dt@127.0.0.1:1"
    assert ConnectionSettings(connect_url="http://127.0.0.1:1").connect_endpoint() == "http://127.0.0.1:1"
    with pytest.raises(GxError, match=r"GX_CONNECT_PASSWORD_FILE .*nope"):
        ConnectionSettings(
            connect_url="http://x:1", connect_username="u", connect_password_file=tmp_path / "nope"
        ).connect_endpoint()
