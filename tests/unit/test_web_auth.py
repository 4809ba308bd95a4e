"""The status page's password, hash, rate limit, sessions and upload names (pure parts)."""

from __future__ import annotations

import stat
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from xnai_edge.web.auth import (
    HASH_FILE,
    PASSWORD_FILE,
    FailureLimiter,
    PasswordHash,
    Sessions,
    ensure_password,
)
from xnai_edge.web.system_info import config_rows, masked
from xnai_edge.web.uploads import MAX_NAME, safe_name


def test_first_start_writes_a_private_password_and_only_a_hash_beside_it(tmp_path: Path) -> None:
    creds = ensure_password(tmp_path)
    assert creds.created
    plain = tmp_path / "secrets" / PASSWORD_FILE
    assert creds.password_file == plain
    text = plain.read_text()
    assert text.endswith("\n") and len(text.strip()) >= 12
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    hashed = (tmp_path / "secrets" / HASH_FILE).read_text()
    assert text.strip() not in hashed and hashed.startswith("scrypt$")
    assert creds.hash.verify(text.strip()) and not creds.hash.verify("wrong")


def test_second_start_keeps_the_password_and_an_edited_file_changes_it(tmp_path: Path) -> None:
    first = ensure_password(tmp_path)
    password = first.password_file.read_text().strip()
    again = ensure_password(tmp_path)
    assert not again.created and again.hash == first.hash
    first.password_file.write_text("a new password of mine\n")
    changed = ensure_password(tmp_path)
    assert changed.hash.verify("a new password of mine") and not changed.hash.verify(password)


def test_hash_round_trips_and_garbage_is_rejected() -> None:
    h = PasswordHash.make("correct horse")
    parsed = PasswordHash.parse(h.encode())
    assert parsed == h and parsed is not None and parsed.verify("correct horse")
    for bad in ("", "scrypt$1$2", "md5$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA"):
        assert PasswordHash.parse(bad) is None


def test_rate_limit_allows_ten_failures_a_minute_per_client() -> None:
    now = [0.0]
    limiter = FailureLimiter(clock=lambda: now[0])
    for _ in range(10):
        assert limiter.retry_after("a") == 0
        limiter.failed("a")
    assert limiter.retry_after("a") == 60.0
    assert limiter.retry_after("b") == 0  # another client is not affected
    now[0] = 30.0
    assert limiter.retry_after("a") == 30.0
    now[0] = 60.5
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    limiter.succeeded("a")
    assert limiter.retry_after("a") == 0


def test_sessions_expire_and_the_oldest_goes_when_full() -> None:
    now = [0.0]
    sessions = Sessions(ttl_s=10, max_sessions=2, clock=lambda: now[0])
    a, b = sessions.create(), sessions.create()
    assert sessions.get(a.token) is a and a.csrf != b.csrf
    c = sessions.create()
    assert sessions.get(a.token) is None and sessions.get(c.token) is c
    now[0] = 11
    assert sessions.get(b.token) is None and sessions.get(None) is None


def test_file_names_are_reduced_to_a_safe_base_name() -> None:
    assert safe_name("../../x.md") == "x.md"
    assert safe_name("..\\..\\Windows\\evil.PDF") == "evil.pdf"
    assert safe_name("/etc/passwd") == "passwd"
    assert safe_name(".bashrc.md") == "bashrc.md"
    assert safe_name("..") == "upload"
    assert safe_name("notes; rm -rf.txt") == "notes_ rm -rf.txt"
    assert safe_name("a" * 500 + ".md").endswith(".md")


@given(st.text(max_size=300))
def test_any_file_name_stays_one_visible_component(name: str) -> None:
    safe = safe_name(name)
    assert safe and "/" not in safe and "\\" not in safe and "\0" not in safe
    assert not safe.startswith(".") and ".." not in safe
    assert len(safe) <= MAX_NAME + 10
    assert Path("/data/documents", safe).parent == Path("/data/documents")


def test_secrets_are_masked_in_the_config_page() -> None:
    from xnai_edge.config import Config

    assert masked("password", "hunter2") == "***"
    assert masked("password_file", "/etc/x") == "/etc/x"
    assert masked("api_key", "k") == "***" and masked("port", 8080) == 8080
    rows = config_rows(Config())
    assert rows["web.port"] == 8080 and "web.max_upload_mb" in rows
