"""Two small HTTP servers (``http.server``, a thread per connection, HTTP/1.1 keep-alive):

- :func:`tiles_server`: a directory written by ``custody log tiles``, read-only, as
  c2sp.org/tlog-tiles asks: ``/checkpoint`` as ``text/plain; charset=utf-8`` that no cache
  keeps, ``/tile/...`` (and files laid out as entry bundles under other bases: the stored
  events) as
  ``application/octet-stream``, immutable and cached for a year. Only a path the tile parser
  accepts is looked up, so no other file of the machine can be named; anything else is 404,
  and any method but GET and HEAD 405.
- :func:`witness_server`: ``POST /add-checkpoint`` answered by a callable (c2sp.org/tlog-witness,
  ``ledger.application.witness.Witness.add_checkpoint``); the body must announce its length,
  at most the request limit (411 / 413 otherwise).

Every connection has a timeout, and at most 64 are served at once; a request line or header
over the standard library's limits is refused by it. Each answered request is reported to ``log`` as one line.
"""

from __future__ import annotations

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from ledger.core.errors import InputError, NonCanonical
from ledger.tlog.tiles import Tile

TIMEOUT = 30  # seconds a connection may stay silent
MAX_CONNECTIONS = 64  # handled at once; each holds a thread
CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
NO_STORE = "no-store"  # tlog-tiles: the checkpoint is mutable
IMMUTABLE = "public, max-age=31536000, immutable"

Log = Callable[[str], None]


def parse_listen(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; PORT 0 picks a free one)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise InputError(f"--listen {address!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class Server(ThreadingHTTPServer):
    """A threading HTTP server whose handler threads do not keep the process alive, serving
    at most :data:`MAX_CONNECTIONS` connections at once (the others are closed at once)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 log: Log) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        try:
            super().__init__(address, handler)
        except OSError as exc:
            raise InputError(f"cannot listen on {address[0]}:{address[1]}: "
                             f"{exc.strerror or exc}") from None
        self.log = log
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: closed, not queued
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "custody-ledger"
    timeout = TIMEOUT

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        self.server.log(f"{self.address_string()} {format % args}")

    def _answer(self, status: int, content_type: str, body: bytes,
                headers: dict[str, str] | None = None, send_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _plain(self, status: int, text: str, **kw: Any) -> None:
        self._answer(status, CHECKPOINT_TYPE, (text + "\n").encode("utf-8"), **kw)

    def _refuse_method(self, allowed: str) -> None:
        self._plain(405, "method not allowed", headers={"Allow": allowed})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = lambda self: self._refuse_method(  # noqa: E731
        self.allowed)
    allowed = "GET, HEAD"


class _TilesHandler(_Handler):
    directory: Path
    bases: tuple[str, ...]  # other files laid out as entry bundles are (the stored events)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)

    def do_POST(self) -> None:  # noqa: N802
        self._refuse_method("GET, HEAD")

    def _serve(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        found = self._file(path)
        if found is None:
            self._plain(404, "not found", send_body=send_body)
            return
        file, content_type, cache = found
        try:
            handle = open(file, "rb")
        except OSError:
            self._plain(404, "not found", send_body=send_body)
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            if send_body:
                shutil.copyfileobj(handle, self.wfile)

    def _file(self, path: str) -> tuple[Path, str, str] | None:
        """The file a request path names, with its type and caching; None unless the path is
        the checkpoint or a canonical tile, entry-bundle or events path."""
        if not path.startswith("/"):
            return None
        name = path[1:]
        if name == "checkpoint":
            return self.directory / name, CHECKPOINT_TYPE, NO_STORE
        try:
            if name.startswith("tile/"):
                Tile.parse(name)
            else:
                base = next((b for b in self.bases if name.startswith(b + "/")), None)
                if base is None:
                    return None
                Tile.parse(name, base)
        except NonCanonical:
            return None
        return self.directory / name, TILE_TYPE, IMMUTABLE


def tiles_server(directory: Path, address: tuple[str, int], log: Log,
                 bases: tuple[str, ...] = ()) -> Server:
    """A read-only server of a tiles directory (see the module docstring), bound, not yet
    serving (call ``serve_forever``); ``bases``: other folders laid out as entry bundles."""
    if not (directory / "checkpoint").is_file():
        raise InputError(f"{directory} holds no checkpoint: publish the log there first with "
                         f"'custody log tiles {directory}'")
    handler = type("TilesHandler", (_TilesHandler,), {"directory": directory.resolve(),
                                                       "bases": tuple(bases)})
    return Server(address, handler, log)


Answer = Any  # ledger.application.witness.Answer: status, content_type, body


class _WitnessHandler(_Handler):
    add_checkpoint: Callable[[bytes], Answer]
    limit: int
    allowed = "POST"

    def do_GET(self) -> None:  # noqa: N802
        self._plain(404, "not found: a witness answers POST /add-checkpoint")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/add-checkpoint":
            self._plain(404, "not found: a witness answers POST /add-checkpoint")
            return
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None:
            self._plain(411, "the request must give its Content-Length",
                        headers={"Connection": "close"})
            self.close_connection = True
            return
        if not length.isascii() or not length.isdigit() or int(length) > self.limit:
            self._plain(413, f"the request body is over {self.limit} bytes",
                        headers={"Connection": "close"})
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            self.close_connection = True
            return
        answer = self.add_checkpoint(body)
        self._answer(answer.status, answer.content_type, answer.body)


def witness_server(add_checkpoint: Callable[[bytes], Answer], limit: int,
                   address: tuple[str, int], log: Log) -> Server:
    """A tlog-witness server answering ``POST /add-checkpoint`` with ``add_checkpoint``,
    bound, not yet serving."""
    handler = type("WitnessHandler", (_WitnessHandler,),
                   {"add_checkpoint": staticmethod(add_checkpoint), "limit": limit})
    return Server(address, handler, log)
