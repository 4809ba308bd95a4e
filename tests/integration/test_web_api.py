"""The status page's HTTP side against a real ``xnai-edge run`` (real KB, real tiny models).

One daemon for the module (``[web] port = 0``, ``max_upload_mb = 1``, no audio); each test
uses its own client.  Rate-limit tests send from other loopback addresses (127.0.0.2, ...), so
they do not lock out the other tests' client.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import build_template
from prometheus_client.parser import text_string_to_metric_families
from web_harness import (
    Client,
    WebDaemon,
    basic,
    files_under,
    multipart,
    start_daemon,
)

pytestmark = pytest.mark.slow

STATUS_KEYS = {"state", "tier", "tier_reason", "models", "breakers", "memory",
               "last_interaction"}
HARBOUR = b"# Harbour notes\n\nThe blue heron boat is moored at pier seven, next to the " \
          b"old lighthouse.\n"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="xnw-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(workdir: Path, models_dir: Path) -> Iterator[WebDaemon]:
    template = build_template(models_dir, workdir / "template")
    (workdir / "run").mkdir()
    d = start_daemon(workdir / "run", models_dir, template,
                     web='bind = "127.0.0.1"\nport = 0\nmax_upload_mb = 1\n'
                         'request_timeout_s = 3.0')
    try:
        yield d
    finally:
        # SIGTERM with a live page open (an event stream) still stops promptly and cleanly.
        conn = Client(d.url).connection(timeout=30)
        conn.request("GET", "/api/events", headers=basic("admin", d.password))
        assert conn.getresponse().status == 200
        start = time.monotonic()
        code = d.stop()
        took = time.monotonic() - start
        conn.close()
        print(f"SIGTERM with an event stream open: exit {code} after {took:.1f} s")
        assert code == 0 and took < 10, d.output()


@pytest.fixture
def client(daemon: WebDaemon) -> Client:
    return Client(daemon.url)


@pytest.fixture
def auth(daemon: WebDaemon) -> dict[str, str]:
    return basic("admin", daemon.password)


def login(client: Client, password: str) -> str:
    """Log in through the form; returns the CSRF token of the session."""
    reply = client.request("POST", "/login", form={"username": "admin", "password": password})
    assert reply.status == 303 and reply.headers["location"] == "/", reply
    page = client.request("GET", "/")
    assert page.status == 200
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match, page.text[:500]
    return match.group(1)


# ----------------------------------------------------------------------------- open routes
def test_healthz_is_open_and_says_only_status_and_tier(client: Client) -> None:
    reply = client.request("GET", "/healthz")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"status", "tier"} and body["status"] == "ok"
    assert isinstance(body["tier"], int) and not isinstance(body["tier"], bool)


def test_the_password_file_is_private_and_nowhere_else_in_plain_text(
        daemon: WebDaemon) -> None:
    path = daemon.data / "secrets" / "web-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.endswith("\n") and len(text.strip()) >= 12
    holders = [p for p in daemon.data.rglob("*") if p.is_file() and p != path
               and daemon.password.encode() in p.read_bytes()]
    assert holders == []
    log = daemon.output()
    assert str(path) in log and daemon.password not in log, log


def test_the_status_part_names_the_real_port(daemon: WebDaemon) -> None:
    web = daemon.status()["web"]
    port = int(web["url"].rsplit(":", 1)[1].strip("/"))
    assert web["url"] == f"http://127.0.0.1:{port}/" and port != 0 and web["error"] is None
    assert f"127.0.0.1:{port}" in daemon.output()


# ----------------------------------------------------------------------------- auth
PROTECTED = [("GET", "/"), ("GET", "/interactions"), ("GET", "/knowledge"), ("GET", "/system"),
             ("GET", "/api/status"), ("GET", "/api/documents"), ("GET", "/api/interactions"),
             ("GET", "/api/history"), ("GET", "/api/events"), ("GET", "/metrics"),
             ("GET", "/static/app.js"), ("POST", "/api/ask"), ("POST", "/api/documents"),
             ("DELETE", "/api/documents/1"), ("POST", "/api/reindex"), ("POST", "/logout")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_without_credentials_nothing_but_healthz_answers(client: Client, method: str,
                                                         path: str) -> None:
    reply = client.request(method, path, body=b"{}" if method != "GET" else None)
    assert reply.status in (401, 403, 303), (method, path, reply.status)
    if reply.status == 303:
        assert reply.headers["location"] == "/login"
    if path.startswith("/api/") or path == "/metrics":
        assert reply.status == 401 and "basic" in reply.headers["www-authenticate"].lower()
        assert "error" in reply.json()
    assert b'id="tier"' not in reply.body


def test_a_wrong_password_or_user_is_refused(daemon: WebDaemon) -> None:
    c = Client(daemon.url, source="127.0.0.5")
    for headers in (basic("admin", "not-the-password"), basic("root", daemon.password),
                    {"Authorization": "Basic !!!not-base64"}, {"Authorization": "Bearer x"}):
        assert c.request("GET", "/api/status", headers=headers).status == 401, headers
    wrong = c.request("POST", "/login", form={"username": "admin", "password": "nope"})
    assert wrong.status == 401 and "Wrong user or password" in wrong.text
    assert "xnai_session" not in c.cookies


def test_login_form_sets_a_strict_http_only_cookie_and_shows_the_overview(
        client: Client, daemon: WebDaemon) -> None:
    form = client.request("GET", "/login")
    assert form.status == 200
    for needle in ('name="username"', 'name="password"', 'type="submit"',
                   'method="post" action="/login"'):
        assert needle in form.text, needle
    assert daemon.password not in form.text
    reply = client.request("POST", "/login",
                           form={"username": "admin", "password": daemon.password})
    assert reply.status == 303 and reply.headers["location"] == "/"
    (cookie,) = [c for c in reply.set_cookies if c.startswith("xnai_session=")]
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags and "samesite=strict" in flags and "secure" not in flags
    page = client.request("GET", "/")
    assert page.status == 200
    tier = re.search(r'id="tier"[^>]*>([^<]*)<', page.text)
    assert tier and tier.group(1).isdigit(), page.text[:2000]
    assert re.search(r'id="voice-state"[^>]*>[a-z-]+<', page.text)
    for path in ("/interactions", "/knowledge", "/system"):
        assert client.request("GET", path).status == 200, path
    # Logging out ends the session.
    csrf = re.search(r'name=csrf value="([^"]+)"', page.text)
    assert csrf
    assert client.request("POST", "/logout", form={"csrf": "wrong"}).status == 403
    out = client.request("POST", "/logout", form={"csrf": csrf.group(1)})
    assert out.status == 303 and out.headers["location"] == "/login"
    assert client.request("GET", "/").status == 303


def test_a_login_from_another_site_is_refused(client: Client, daemon: WebDaemon) -> None:
    reply = client.request("POST", "/login", headers={"Origin": "http://evil.example"},
                           form={"username": "admin", "password": daemon.password})
    assert reply.status == 403 and "xnai_session" not in client.cookies


def test_rate_limit_allows_five_failures_then_answers_429(daemon: WebDaemon) -> None:
    c = Client(daemon.url, source="127.0.0.2")
    codes = [c.request("POST", "/login", form={"username": "admin", "password": f"x{i}"}).status
             for i in range(12)]
    print(f"failed logins from one client: {codes}")
    assert codes[:5] == [401] * 5  # at least five wrong tries a minute are allowed
    assert 429 in codes and codes[-1] == 429
    first = codes.index(429)
    assert all(code == 429 for code in codes[first:])
    # Locked out: even the right password waits, and says how long.
    right = c.request("POST", "/login", form={"username": "admin", "password": daemon.password})
    assert right.status == 429 and int(right.headers["retry-after"]) > 0
    # Basic auth counts too, per client: 127.0.0.3 is locked after its failures.
    b = Client(daemon.url, source="127.0.0.3")
    basic_codes = [b.request("GET", "/api/status", headers=basic("admin", "bad")).status
                   for _ in range(12)]
    assert basic_codes[:5] == [401] * 5 and basic_codes[-1] == 429
    # Another client is not affected.
    assert Client(daemon.url).request("GET", "/api/status",
                                      headers=basic("admin", daemon.password)).status == 200


def test_page_requests_that_change_state_need_the_csrf_token(client: Client,
                                                              daemon: WebDaemon) -> None:
    csrf = login(client, daemon.password)
    body = {"question": "What is the wake word?"}
    assert client.request("POST", "/api/ask", json_body=body).status == 403
    assert client.request("POST", "/api/ask", json_body=body,
                          headers={"X-CSRF-Token": "forged"}).status == 403
    assert client.request("POST", "/api/reindex").status == 403
    assert client.request("DELETE", "/api/documents/1").status == 403
    ok = client.request("POST", "/api/ask", json_body=body, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200 and ok.json()["question"] == body["question"], ok.text
    # Reading needs no token.
    assert client.request("GET", "/api/status").status == 200


# ----------------------------------------------------------------------------- API
def test_status_is_the_status_json(client: Client, auth: dict[str, str],
                                   daemon: WebDaemon) -> None:
    reply = client.request("GET", "/api/status", headers=auth)
    assert reply.status == 200
    body = reply.json()
    assert set(body) >= STATUS_KEYS, set(body)
    assert set(body["breakers"]) >= {"stt", "embed", "llm", "tts"}
    own = daemon.status()
    assert body["pid"] == own["pid"] and body["device_id"] == own["device_id"]


def test_ask_with_basic_auth_needs_no_csrf_and_returns_the_ask_json(
        client: Client, auth: dict[str, str]) -> None:
    reply = client.request("POST", "/api/ask", headers=auth,
                           json_body={"question": "How do I add documents?"})
    assert reply.status == 200, reply.text
    body = reply.json()
    assert {"question", "answer", "sources", "tier", "timings_ms"} <= set(body)
    assert body["question"] == "How do I add documents?" and body["answer"]
    assert body["sources"] and body["sources"][0]["title"] == "xnai-edge user manual"
    assert isinstance(body["tier"], int) and body["timings_ms"]["total"] > 0
    assert body["spoken"] is False


@pytest.mark.parametrize(("body", "why"), [
    (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b'"text"', "JSON object"),
    (b"{}", "question"), (b'{"question": 42}', "question"), (b'{"question": "   "}', ""),
    (b'{"question": "' + b"why " * 2000 + b'"}', ""), (b"\xff\xfe", "not valid JSON"),
    (b'{"question": "hi", "speak": "yes"}', "speak"),
])
def test_bad_ask_bodies_are_400_with_a_json_error(client: Client, auth: dict[str, str],
                                                  body: bytes, why: str) -> None:
    reply = client.request("POST", "/api/ask", body=body,
                           headers={**auth, "Content-Type": "application/json"})
    assert reply.status == 400, (body[:40], reply.status, reply.text)
    error = reply.json()["error"]
    assert isinstance(error, str) and why in error


def test_a_body_over_64_kb_is_413_before_it_is_read(client: Client,
                                                    auth: dict[str, str]) -> None:
    big = json.dumps({"question": "x" * 70_000}).encode()
    reply = client.request("POST", "/api/ask", body=big,
                           headers={**auth, "Content-Type": "application/json"})
    assert reply.status == 413 and "error" in reply.json()


def test_interactions_history_and_the_other_api_reads(client: Client,
                                                      auth: dict[str, str]) -> None:
    client.request("POST", "/api/ask", headers=auth, json_body={"question": "How do I reset you?"})
    rows = client.request("GET", "/api/interactions?limit=5", headers=auth).json()
    assert rows and rows[0]["question"] == "How do I reset you?" and rows[0]["timings_ms"]
    assert client.request("GET", "/api/interactions?limit=x", headers=auth).status == 400
    history = client.request("GET", "/api/history", headers=auth).json()
    assert history and history[-1]["mem_available_mb"] == pytest.approx(7812.5)


# ----------------------------------------------------------------------------- documents
def upload(client: Client, auth: dict[str, str], name: str, content: bytes) -> object:
    body, ctype = multipart(name, content)
    return client.request("POST", "/api/documents", body=body,
                          headers={**auth, "Content-Type": ctype})


def test_upload_list_ask_and_remove_a_document(client: Client, auth: dict[str, str],
                                               daemon: WebDaemon) -> None:
    reply = upload(client, auth, "harbour.md", HARBOUR)
    assert reply.status in (200, 201), reply.text
    doc = reply.json()
    assert {"id", "path", "title", "chunks"} <= set(doc) and doc["title"] == "Harbour notes"
    stored = Path(doc["path"])
    assert stored.is_relative_to(daemon.data.resolve()) and stored.read_bytes() == HARBOUR
    listed = client.request("GET", "/api/documents", headers=auth).json()
    assert any(d["id"] == doc["id"] and d["chunks"] >= 1 for d in listed)
    answer = client.request("POST", "/api/ask", headers=auth,
                            json_body={"question": "Where is the blue heron boat moored?"})
    body = answer.json()
    assert "pier" in body["answer"].lower(), body
    assert body["sources"][0]["title"] == "Harbour notes"
    gone = client.request("DELETE", f"/api/documents/{doc['id']}", headers=auth)
    assert gone.status == 200 and not stored.exists()
    listed = client.request("GET", "/api/documents", headers=auth).json()
    assert all(d["id"] != doc["id"] for d in listed)
    assert client.request("DELETE", f"/api/documents/{doc['id']}", headers=auth).status == 404


def test_a_file_name_with_a_path_lands_inside_the_data_dir(client: Client, auth: dict[str, str],
                                                           daemon: WebDaemon,
                                                           workdir: Path) -> None:
    before = files_under(workdir)
    reply = upload(client, auth, "../../../evil.md", b"# Evil\n\nThe evil plan is harmless.\n")
    assert reply.status in (200, 201), reply.text
    stored = Path(reply.json()["path"])
    assert stored.is_relative_to(daemon.data.resolve()) and stored.name == "evil.md"
    new = files_under(workdir) - before
    assert new == {str(stored.relative_to(workdir.resolve()))}, new
    for outside in (workdir / "evil.md", workdir.parent / "evil.md", Path("/tmp/evil.md")):
        assert not outside.exists()
    client.request("DELETE", f"/api/documents/{reply.json()['id']}", headers=auth)


def test_an_unsupported_type_is_415_and_nothing_is_kept(client: Client, auth: dict[str, str],
                                                        daemon: WebDaemon) -> None:
    before = files_under(daemon.data)
    for name in ("tool.exe", "archive.tar.gz", "noextension", "image.png"):
        reply = upload(client, auth, name, b"MZ\x90\x00 not a document")
        assert reply.status == 415, (name, reply.status, reply.text)
        assert "error" in reply.json()
    assert files_under(daemon.data) == before


def test_an_oversized_upload_is_413_and_leaves_nothing_behind(
        client: Client, auth: dict[str, str], daemon: WebDaemon) -> None:
    before = files_under(daemon.data)
    docs_before = client.request("GET", "/api/documents", headers=auth).json()
    big = b"# Big\n\n" + b"all work and no play makes a big file. " * 60_000  # ~2.3 MB > 1 MB
    # With a Content-Length over the limit: refused before a byte of the body is read.
    reply = upload(client, auth, "big.md", big)
    assert reply.status == 413, reply.status
    # Streamed (chunked, no length): stopped by the running count at the limit.
    body, ctype = multipart("big.md", big)
    streamed = client.stream("POST", "/api/documents",
                             (body[i:i + 65536] for i in range(0, len(body), 65536)),
                             {**auth, "Content-Type": ctype})
    assert streamed.status == 413 and "max_upload_mb" in streamed.json()["error"]
    assert files_under(daemon.data) == before
    assert client.request("GET", "/api/documents", headers=auth).json() == docs_before


def test_bad_multipart_bodies_are_400(client: Client, auth: dict[str, str],
                                      daemon: WebDaemon) -> None:
    before = files_under(daemon.data)
    not_multipart = client.request("POST", "/api/documents", body=b"hello",
                                   headers={**auth, "Content-Type": "text/plain"})
    assert not_multipart.status == 400
    body, ctype = multipart("notes.md", b"# Notes\n\ntext\n", field_name="other")
    assert client.request("POST", "/api/documents", body=body,
                          headers={**auth, "Content-Type": ctype}).status == 400
    truncated, ctype = multipart("notes.md", b"# Notes\n\ntext\n")
    assert client.request("POST", "/api/documents", body=truncated[:-30],
                          headers={**auth, "Content-Type": ctype}).status == 400
    empty = upload(client, auth, "empty.md", b"")
    assert empty.status == 422 and "error" in empty.json()
    assert files_under(daemon.data) == before


def test_reindex_rebuilds_the_vectors(client: Client, auth: dict[str, str]) -> None:
    reply = client.request("POST", "/api/reindex", headers=auth)
    assert reply.status == 200 and reply.json()["vectors"] > 0


# ----------------------------------------------------------------------------- live + metrics
def test_events_stream_a_snapshot_then_the_answer(client: Client, auth: dict[str, str],
                                                  daemon: WebDaemon) -> None:
    conn = client.connection(timeout=30)
    conn.request("GET", "/api/events", headers=auth)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/event-stream")
    seen: list[str] = []
    deadline = time.monotonic() + 60
    asked = False
    while time.monotonic() < deadline:
        line = resp.fp.readline().decode()
        if line.startswith("event: "):
            seen.append(line[7:].strip())
            if seen == ["status"] and not asked:
                Client(daemon.url).request("POST", "/api/ask", headers=auth,
                                           json_body={"question": "What is the wake word?"})
                asked = True
            if "answer-end" in seen and seen.count("status") >= 2:
                break
    conn.close()
    # The second snapshot comes 5 s after the first: the stream outlives request_timeout_s.
    assert seen[0] == "status" and "answer-end" in seen and seen.count("status") >= 2, seen


def test_metrics_parse_and_count_the_interactions(client: Client, auth: dict[str, str]) -> None:
    client.request("POST", "/api/ask", headers=auth,
                   json_body={"question": "What is the wake word?"})
    reply = client.request("GET", "/metrics", headers=auth)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    assert families and all(name.startswith("xnai_edge_") for name in families), families.keys()
    (tier,) = families["xnai_edge_tier"].samples
    assert tier.labels == {} and tier.value in (0, 1, 2, 3, 4)
    assert families["xnai_edge_tier"].type == "gauge"

    def values(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples
                if s.name == name or s.name == name + "_total" or s.name == name + "_count"}

    interactions = families["xnai_edge_interactions"]
    assert sum(s.value for s in interactions.samples if s.name.endswith("_total")) >= 1
    assert any(s.labels.get("method") and s.labels.get("tier") for s in interactions.samples)
    latency = families["xnai_edge_stage_latency_seconds"]
    assert latency.type == "histogram"
    counts = {s.labels["stage"]: s.value for s in latency.samples if s.name.endswith("_count")}
    assert counts.get("total", 0) >= 1, counts
    breakers = values("xnai_edge_breaker_state")
    assert len(breakers) >= 4 and set(breakers.values()) <= {0.0, 1.0, 2.0}
    assert "xnai_edge_wake_detections" in families
    assert values("xnai_edge_memory_psi_some_avg10") == {(): 0.0}
    assert next(iter(values("xnai_edge_rss_bytes").values())) > 50e6
    assert next(iter(values("xnai_edge_kb_size_bytes").values())) > 0
    assert next(iter(values("xnai_edge_kb_documents").values())) >= 1
    assert "xnai_edge_model_load_seconds" in families and "xnai_edge_model_loaded" in families


def test_a_port_in_use_is_one_error_and_the_daemon_runs_on(daemon: WebDaemon, models_dir: Path,
                                                           workdir: Path) -> None:
    port = int(daemon.url.rsplit(":", 1)[1].strip("/"))
    (workdir / "second").mkdir()
    other = start_daemon(workdir / "second", models_dir, workdir / "template", wait_web=False,
                         web=f'bind = "127.0.0.1"\nport = {port}')
    try:
        status = other.wait_status(lambda s: s["state"] in ("ready", "no-audio"), 180,
                                   "the second daemon ready")
        assert "web-port" in (status["web"]["error"] or ""), status["web"]
        assert status["web"]["url"] is None
        lines = [line for line in other.output().splitlines() if "web-port" in line]
        assert len(lines) == 1 and lines[0].startswith("error[web-port]: "), other.output()
        assert str(port) in lines[0]
    finally:
        assert other.stop() == 0, other.output()
    # The first daemon's page is untouched.
    assert Client(daemon.url).request("GET", "/healthz").status == 200


def raw_upload_start(daemon: WebDaemon, password: str) -> socket.socket:
    """An upload whose body stops after the first bytes of the file (a slow client)."""
    body, ctype = multipart("slow.md", b"# Slow\n\n" + b"x" * 100_000)
    sock = socket.create_connection(("127.0.0.1", int(daemon.url.rsplit(":", 1)[1].strip("/"))))
    head = (f"POST /api/documents HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Authorization: {basic('admin', password)['Authorization']}\r\n\r\n").encode()
    sock.sendall(head + body[:400])
    return sock


def test_a_stalled_body_gets_408_and_a_third_upload_waits_its_turn(
        client: Client, auth: dict[str, str], daemon: WebDaemon) -> None:
    folder = daemon.data / "documents"
    before = files_under(daemon.data)
    slow = [raw_upload_start(daemon, daemon.password) for _ in range(2)]
    try:
        deadline = time.monotonic() + 10
        while len(list(folder.glob(".upload-*.part"))) < 2:
            assert time.monotonic() < deadline, "the two uploads never started"
            time.sleep(0.02)  # polling interval
        third = upload(client, auth, "third.md", b"# Third\n\nA third document.\n")
        assert third.status == 429 and "in progress" in third.json()["error"]
        # Both stalled clients are cut off after request_timeout_s (3 s) with 408.
        for sock in slow:
            sock.settimeout(30)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408 "), "no 408 for a stalled body"
    finally:
        for sock in slow:
            sock.close()
    assert files_under(daemon.data) == before  # their temp files are gone
    after = upload(client, auth, "third.md", b"# Third\n\nA third document.\n")
    assert after.status == 201, after.text
    client.request("DELETE", f"/api/documents/{after.json()['id']}", headers=auth)


def test_a_flooding_address_gets_429_and_others_do_not(daemon: WebDaemon) -> None:
    codes: list[int] = []

    def flood() -> None:
        conn = Client(daemon.url, source="127.0.0.7").connection()
        for _ in range(150):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            codes.append(resp.status)
            if resp.status == 429:
                assert resp.headers["retry-after"] == "1"
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - start
    print(f"flood of {len(codes)} requests in {elapsed:.1f} s: {codes.count(200)} x 200, "
          f"{codes.count(429)} x 429")
    assert len(codes) == 1200 and set(codes) <= {200, 429}
    # The bucket: a burst of 200, then 100 a second; never more.
    assert 200 <= codes.count(200) <= 200 + 100 * elapsed + 1
    if elapsed < 9.0:  # faster than 100/s on average: some were refused
        assert codes.count(429) > 0
    assert Client(daemon.url).request("GET", "/healthz").status == 200
