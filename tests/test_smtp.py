"""SMTP delivery over STARTTLS and implicit TLS with a login, against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.model import SmtpSettings
from delivery.send import send_email
from shopwatch.errors import DeliveryError
from storage.engine import open_store
from tests.conftest import run_cli
from tests.servers import SmtpSink, self_signed_cert

LOGIN = ("digest-bot", "s3cret-Pa55")
MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["starttls", "ssl"])
def secure_sink(request: pytest.FixtureRequest, cert: tuple[Path, Path]) -> Iterator[SmtpSink]:
    with SmtpSink(security=request.param, cert=cert[0], key=cert[1], login=LOGIN) as sink:
        sink.security = request.param  # type: ignore[attr-defined]
        yield sink


def _settings(sink: SmtpSink, cert: Path | None, user: str | None = LOGIN[0]) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=sink.port,
        security=sink.security,  # type: ignore[attr-defined]
        username=user,
        ca_file=str(cert) if cert else None,
        timeout=5,
    )


def test_tls_with_login_delivers(secure_sink: SmtpSink, cert: tuple[Path, Path]) -> None:
    note = send_email(
        _settings(secure_sink, cert[0]), LOGIN[1], MESSAGE, "a@example.com", ["b@example.com"]
    )
    assert note is None
    assert [m.recipients for m in secure_sink.messages] == [["b@example.com"]]
    assert secure_sink.messages[0].raw.endswith(b"hello\r\n")


def test_an_untrusted_certificate_is_refused(secure_sink: SmtpSink) -> None:
    with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        send_email(_settings(secure_sink, None), LOGIN[1], MESSAGE, "a@x.org", ["b@x.org"])
    assert secure_sink.messages == []


def test_a_wrong_password_or_none_is_an_error(
    secure_sink: SmtpSink, cert: tuple[Path, Path]
) -> None:
    with pytest.raises(DeliveryError, match="535"):
        send_email(_settings(secure_sink, cert[0]), "wrong", MESSAGE, "a@x.org", ["b@x.org"])
    with pytest.raises(DeliveryError, match="holds no password") as missing:
        send_email(_settings(secure_sink, cert[0]), None, MESSAGE, "a@x.org", ["b@x.org"])
    assert missing.value.permanent
    assert secure_sink.messages == []


def test_the_cli_takes_the_password_from_the_named_variable(
    cert: tuple[Path, Path], tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    open_store(f"sqlite:///{db}").close()
    with SmtpSink(security="starttls", cert=cert[0], key=cert[1], login=LOGIN) as sink:
        config = tmp_path / "shopwatch.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{db}"\n\n'
            '[digest]\nrecipients = ["analyst@example.com"]\nsender = "bot@example.com"\n\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {sink.port}\nsecurity = "starttls"\n'
            f'username = "{LOGIN[0]}"\npassword_env = "MAIL_PASSWORD"\nca_file = "{cert[0]}"\n',
            encoding="utf-8",
        )
        result = run_cli("digest", "--send", config=config, env={"MAIL_PASSWORD": LOGIN[1]})
        assert result.code == 0, result.err
        assert len(sink.messages) == 1
        assert "Nothing was published" in sink.messages[0].raw.decode("ascii", "replace")
        assert LOGIN[1] not in config.read_text(encoding="utf-8")
