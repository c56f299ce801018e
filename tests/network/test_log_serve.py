"""`custody log serve`: the tiles folder over HTTP, read-only, with tlog-tiles' content types
and caching; no path but a canonical tile path or the checkpoint names a file."""

from __future__ import annotations

import http.client
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ledger.application.tiles import export_tiles
from tests.conftest import World
from tests.network.conftest import Serving, custody


def fetch(url: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


@pytest.fixture
def public(logged: World, tmp_path: Path) -> Path:
    out = tmp_path / "site" / "public"
    export_tiles(logged.app, out)
    (tmp_path / "site" / "secret.txt").write_text("not published")
    return out


def test_the_checkpoint_and_the_tiles_are_served_as_the_spec_says(public: Path) -> None:
    with Serving("log", "serve", "--dir", str(public)) as server:
        status, headers, body = fetch(server.url, "/checkpoint")
        assert (status, headers["content-type"], headers["cache-control"]) == (
            200, "text/plain; charset=utf-8", "no-store")
        assert body == (public / "checkpoint").read_bytes()
        for path in ("/tile/0/000.p/18", "/tile/entries/000.p/18", "/custody/events/000.p/18"):
            status, headers, body = fetch(server.url, path)
            assert (status, headers["content-type"]) == (200, "application/octet-stream")
            assert headers["cache-control"] == "public, max-age=31536000, immutable"
            assert body == (public / path[1:]).read_bytes()
            assert int(headers["content-length"]) == len(body)
        status, headers, body = fetch(server.url, "/tile/0/000.p/18", "HEAD")
        assert status == 200 and body == b"" and headers["content-length"] == "576"
        status, _, _ = fetch(server.url, "/checkpoint?x=1")
        assert status == 200
    assert server.process.returncode == 0  # SIGTERM stops it cleanly


@pytest.mark.parametrize("path", [
    "/", "/tile/0/0.p/18", "/tile/0/x000/000.p/18", "/tile/0/000.p/19", "/../secret.txt",
    "/tile/../../secret.txt", "/%2e%2e/secret.txt", "/custody/events/../../../secret.txt",
    "/tile/0/000.p/18/", "/checkpoint/", "/custody/events", "//etc/passwd",
])
def test_nothing_but_the_checkpoint_and_canonical_tile_paths_is_served(public: Path,
                                                                      path: str) -> None:
    with Serving("log", "serve", "--dir", str(public)) as server:
        status, _, body = fetch(server.url, path)
    assert status == 404 and b"not published" not in body


def test_nothing_can_be_written_through_it(public: Path) -> None:
    before = sorted(p.name for p in public.rglob("*"))
    with Serving("log", "serve", "--dir", str(public)) as server:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, headers, _ = fetch(server.url, "/checkpoint", method)
            assert (status, headers["allow"]) == (405, "GET, HEAD"), method
    assert sorted(p.name for p in public.rglob("*")) == before


def test_serving_a_folder_with_nothing_published_or_a_port_in_use_is_one_error_line(
        public: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = custody("log", "serve", "--dir", str(empty), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert result.stderr == (f"error: {empty} holds no checkpoint: publish the log there "
                             f"first with 'custody log tiles {empty}'\n")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = custody("log", "serve", "--dir", str(public), "--listen", f"127.0.0.1:{port}")
    finally:
        taken.close()
    assert result.returncode == 2
    assert result.stderr == (f"error: cannot listen on 127.0.0.1:{port}: Address already in "
                             "use\n")


def test_connections_beyond_the_limit_are_closed_and_the_server_keeps_serving(
        public: Path) -> None:
    from ledger.network.server import MAX_CONNECTIONS
    from tests.network.conftest import tiles_served

    with tiles_served(public) as url:
        parts = urlsplit(url)
        idle = [socket.create_connection((parts.hostname, parts.port), timeout=10)
                for _ in range(MAX_CONNECTIONS)]
        try:
            one_more = socket.create_connection((parts.hostname, parts.port), timeout=10)
            one_more.sendall(b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
            assert one_more.recv(100) == b""  # closed without an answer
            one_more.close()
        finally:
            for connection in idle:
                connection.close()
        for _ in range(50):  # the idle connections' threads notice they are closed
            try:
                status, _, body = fetch(url, "/checkpoint")
                break
            except OSError:
                continue
        assert status == 200 and body == (public / "checkpoint").read_bytes()
