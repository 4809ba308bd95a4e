"""A real ``xnai-edge run`` with the status page on a free port, and a small HTTP client.

The client is ``http.client`` (no extra dependency), keeps cookies, can send from another
loopback address (``127.0.0.2``: a second "client" for the rate limit) and can stream a body.
Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from conftest import CLI
from daemon_helpers import psi_text

from xnai_edge.errors import XnaiError
from xnai_edge.health.status_socket import SOCKET_NAME, query

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

START_S = 180.0
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"






@dataclass
class WebDaemon:
    proc: subprocess.Popen[bytes]
    data: Path
    log: Path
    psi: Path
    url: str = ""
    password: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def status(self) -> dict[str, Any]:
        return query(self.data / SOCKET_NAME, "status", timeout_s=10)

    def wait_status(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float,
                    what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the daemon exited waiting for {what}:\n" \
                f"{self.output()}"
            with contextlib.suppress(XnaiError, OSError):
                last = self.status()
                if condition(last):
                    return last
            time.sleep(0.05)  # polling interval, not synchronisation
        raise AssertionError(f"no {what} within {timeout_s:g} s; last: "
                             f"{json.dumps(last)[:1500]}\n{self.output()}")

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)


def start_daemon(workdir: Path, models_dir: Path, template: Path | None, *,
                 audio_input: str = "none", web: str = 'bind = "127.0.0.1"\nport = 0',
                 extra: str = "", wait_web: bool = True) -> WebDaemon:
    import shutil

    data = workdir / "data"
    if template is not None:
        shutil.copytree(template, data)
    psi, meminfo = workdir / "psi", workdir / "meminfo"
    psi.write_text(psi_text(0))
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n")
    config = workdir / "config.toml"
    config.write_text(f"""
[audio]
input = "{audio_input}"
output = "none"
[memory]
psi_path = "{psi}"
meminfo_path = "{meminfo}"
cgroup_dir = ""
interval_s = 0.1
[web]
{web}
{extra}""")
    env = {**os.environ, "XNAI_EDGE_MODELS_DIR": str(models_dir)}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "XNAI_EDGE_CONFIG"):
        env.pop(name, None)
    log = workdir / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "-q", "--data-dir", str(data), "--config", str(config),
                                 "run"], stdout=out, stderr=subprocess.STDOUT, env=env)
    daemon = WebDaemon(proc, data, log, psi)
    if wait_web:
        status = daemon.wait_status(lambda s: bool((s.get("web") or {}).get("url")), START_S,
                                    "the status page's URL")
        daemon.url = status["web"]["url"]
        daemon.password = (data / "secrets" / "web-password").read_text().strip()
    return daemon


# ----------------------------------------------------------------------------- HTTP
@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Client:
    def __init__(self, base: str, *, source: str | None = None) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.source = (source, 0) if source else None
        self.cookies: dict[str, str] = {}

    def connection(self, timeout: float = 120.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=self.source)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, json_body: Any = None,
                form: dict[str, str] | None = None) -> Reply:
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode(form).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            return self._read(conn.getresponse())
        finally:
            conn.close()

    def _read(self, resp: http.client.HTTPResponse) -> Reply:
        data = resp.read()
        set_cookies = resp.headers.get_all("set-cookie") or []
        for raw in set_cookies:
            cookie = SimpleCookie()
            cookie.load(raw)
            for name, morsel in cookie.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                     set_cookies)

    def stream(self, method: str, path: str, chunks: Iterable[bytes],
               headers: dict[str, str]) -> Reply:
        """Send ``chunks`` with chunked encoding; the server may answer (and close) early."""
        conn = self.connection()
        try:
            conn.putrequest(method, path)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for chunk in chunks:
                    conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                conn.send(b"0\r\n\r\n")
            return self._read(conn.getresponse())
        finally:
            conn.close()


def multipart(filename: str, content: bytes, *, field_name: str = "file",
              content_type: str = "application/octet-stream") -> tuple[bytes, str]:
    boundary = "xnaiboundary7MA4YWxkTrZu0gW"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def files_under(root: Path) -> set[str]:
    """Every file below ``root`` except SQLite's own journal files (they come and go)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal"))}


# ----------------------------------------------------------------------------- browser
def chromium(profile: Path) -> WebDriver:
    """Debian's Chromium + chromedriver by path: Selenium Manager has nothing to fetch."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--window-size=1200,1400"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver: WebDriver, timeout_s: float, what: str,
         condition: Callable[[WebDriver], Any]) -> Any:
    """Poll ``condition`` every 50 ms until it is true, for at most ``timeout_s``."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(
        condition, message=f"no {what} within {timeout_s:g} s")


def text_of(driver: WebDriver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def log_in(driver: WebDriver, daemon: WebDaemon) -> None:
    """Through the login form, as a person would."""
    from selenium.webdriver.common.by import By

    driver.get(daemon.url)
    assert driver.current_url.endswith("/login")
    user = driver.find_element(By.NAME, "username")
    user.clear()
    user.send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(daemon.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver, 20, "overview after login", lambda d: d.find_elements(By.ID, "tier"))
    assert driver.current_url == daemon.url
