"""Fixtures of the mixprec.data tests: an isolated environment and a local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mixprec.data import locate


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the user's data: empty cache and home, no env vars, no Debian directory."""
    monkeypatch.delenv("MIXPREC_DATA", raising=False)
    monkeypatch.delenv("MIXPREC_DATA_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(locate.DEBIAN_DIRS, "fashion-mnist", tmp_path / "debian" / "fashion-mnist")
    return tmp_path


@dataclass
class FileServer:
    """An HTTP server on 127.0.0.1 serving ``files`` (URL path -> bytes)."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """A server on a free port of 127.0.0.1, stopped after the test.

    Paths in ``truncated`` announce their full length but send half of it, then hang up.
    """
    served = FileServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404, "no such file")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in served.truncated else body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
