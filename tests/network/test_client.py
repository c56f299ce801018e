"""The bounded HTTP client: an answer over its limit is refused (also once inflated), a
gzip-encoded tile is read, and a server that closed a kept-alive connection is asked again."""

from __future__ import annotations

import gzip
import os
from http.server import BaseHTTPRequestHandler

import pytest

from ledger.core.errors import ResourceError
from ledger.network.client import UrlSource
from ledger.network.server import Server
from tests.network.conftest import served

TILE = os.urandom(8192)  # hashes: incompressible


class Answers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        bodies = {
            "/gzip-tile": (gzip.compress(TILE), {"Content-Encoding": "gzip"}),
            "/big": (b"x" * 9000, {}),
            "/bomb": (gzip.compress(b"\0" * (1 << 20)), {"Content-Encoding": "gzip"}),
            "/close": (b"bye", {"Connection": "close"}),
            "/missing": None,
        }
        found = bodies.get(self.path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, headers = found
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def url():
    with served(Server(("127.0.0.1", 0), Answers, lambda line: None)) as where:
        yield where


def test_a_gzip_encoded_tile_is_read_though_gzip_made_it_longer(url: str) -> None:
    assert len(gzip.compress(TILE)) > 8192
    source = UrlSource(url)
    assert source.get("gzip-tile", 8192) == TILE
    assert source.get("missing", 8192) is None
    source.close()


def test_answers_over_their_limit_are_refused_inflated_or_not(url: str) -> None:
    source = UrlSource(url)
    with pytest.raises(ResourceError, match="big is 9000 bytes, over the 8192 byte limit"):
        source.get("big", 8192)
    with pytest.raises(ResourceError, match="bomb inflates to over the 8192 byte limit"):
        source.get("bomb", 8192)
    # And the connection is usable again afterwards.
    assert source.get("gzip-tile", 8192) == TILE
    assert source.get("close", 100) == b"bye"
    assert source.get("gzip-tile", 8192) == TILE  # a new connection after the close
    source.close()
