"""A real HTTP file server on 127.0.0.1 for download tests: Range support, faults on request.

    with FileServer({"/model.bin": data}) as server:
        url = server.url("/model.bin")
        server.range_support = False      # answer every request with the whole file (HTTP 200)
        server.close_after = 1000         # send 1000 body bytes, then drop the connection

Every request is recorded as ``(path, Range header or None)`` in ``server.requests``.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-body is what several tests do on purpose


class FileServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.range_support = True
        self.close_after: int | None = None
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                with server._lock:
                    server.requests.append((self.path, wanted))
                data = server.files.get(self.path)
                if data is None:
                    self._reply(404, b"not found\n", {})
                    return
                match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
                if server.range_support and match:
                    start = int(match.group(1))
                    if start >= len(data):
                        self._reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                        return
                    self._reply(206, data[start:], {
                        "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
                    return
                self._reply(200, data, {})

            def _reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes" if server.range_support else "none")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                limit = server.close_after
                if limit is not None and limit < len(body):
                    self.wfile.write(body[:limit])
                    self.wfile.flush()
                    self.close_connection = True  # drop the connection mid-body
                    return
                self.wfile.write(body)

        return Handler
