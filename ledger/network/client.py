"""A bounded HTTP client, and where a monitor reads a log: a URL prefix or a directory.

Every read has a limit: a body longer than it (or, gzip-encoded, one that inflates past it)
is refused, never buffered whole. Every request has a timeout. Connections are kept alive
between requests to one server (tlog-witness and tlog-tiles ask clients to), and opened
again once if the server closed one. Redirects are not followed: a log or a witness is
named by its URL.
"""

from __future__ import annotations

import http.client
import ssl
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from ledger.core.errors import InputError, ResourceError

TIMEOUT = 10.0  # seconds, for each connection, send and read
AGENT = "custody-ledger"


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, content type (without parameters, lower case) and body."""

    status: int
    content_type: str
    body: bytes


class Unreachable(ResourceError):
    """The server could not be reached or did not answer in time."""


class Connection:
    """Requests to one ``http://`` or ``https://`` origin, over one kept-alive connection."""

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{url!r} is not an http:// or https:// URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise InputError(f"{url!r}: give the URL without a query, fragment or user name")
        self.url = url.rstrip("/")
        self.prefix = parts.path.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self.scheme == "https":
                self._connection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout,
                    context=ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(self.host, self.port,
                                                              timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, method: str, path: str, limit: int, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        """``method`` ``<prefix>/<path>``; the answer's body bounded by ``limit`` bytes."""
        target = f"{self.prefix}/{path}"
        sent = {"User-Agent": AGENT, "Accept-Encoding": "gzip, identity", **(headers or {})}
        for attempt in (1, 2):
            try:
                connection = self._connect()
                connection.request(method, target, body=body, headers=sent)
                answer = connection.getresponse()
                data = _read(answer, limit, f"{self.url}/{path}")
                kind = (answer.getheader("Content-Type") or "").split(";")[0].strip().lower()
                if not answer.isclosed() or answer.getheader(
                        "Connection", "").lower() == "close":
                    self.close()  # not read to its end: the connection cannot be reused
                return Response(answer.status, kind, data)
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise Unreachable(f"{self.url}: the server closed the connection "
                                      f"({exc.__class__.__name__})") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise Unreachable(f"cannot reach {self.url}: {reason}") from None
            except ResourceError:  # an answer over its limit: the connection is unusable
                self.close()
                raise
        raise AssertionError("unreachable")


def _read(answer: http.client.HTTPResponse, limit: int, where: str) -> bytes:
    gzip = answer.getheader("Content-Encoding", "identity").lower() == "gzip"
    # gzip makes incompressible bytes (hashes) a little longer: room for its framing.
    cap = limit + 1024 + limit // 64 if gzip else limit
    length = answer.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > cap:
        answer.close()
        raise ResourceError(f"{where} is {length} bytes, over the {limit} byte limit")
    data = answer.read(cap + 1)
    if len(data) > cap:
        answer.close()
        raise ResourceError(f"{where} is over the {limit} byte limit")
    if gzip:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(data, limit + 1)
        except zlib.error:
            raise ResourceError(f"{where}: the gzip body is damaged") from None
        if len(data) > limit:
            raise ResourceError(f"{where} inflates to over the {limit} byte limit")
    return data


class Source:
    """Where a log's files are read from: ``get(path, limit)`` is the file's bytes, or None
    when there is no such file (HTTP 404/410, or a missing file in a directory)."""

    label: str

    def get(self, path: str, limit: int) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class UrlSource(Source):
    """A log served over HTTP(S) under a URL prefix."""

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        self.connection = Connection(url, timeout)
        self.label = self.connection.url

    def get(self, path: str, limit: int) -> bytes | None:
        answer = self.connection.request("GET", path, limit)
        if answer.status in (404, 410):
            return None
        if answer.status != 200:
            raise ResourceError(f"{self.label}/{path}: the server answered {answer.status}")
        return answer.body

    def close(self) -> None:
        self.connection.close()


class DirectorySource(Source):
    """A log published in a local directory (``custody log tiles DIR``)."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise InputError(f"{directory} is not a directory of tiles (nor an http:// URL)")
        self.directory = directory
        self.label = str(directory)

    def get(self, path: str, limit: int) -> bytes | None:
        file = self.directory / path
        try:
            with open(file, "rb") as handle:
                data = handle.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ResourceError(f"cannot read {file}: {exc.strerror}") from None
        if len(data) > limit:
            raise ResourceError(f"{file} is over the {limit} byte limit")
        return data


def source(where: str, timeout: float = TIMEOUT) -> Source:
    """A URL (``http://`` or ``https://``) or a directory."""
    if where.startswith(("http://", "https://")):
        return UrlSource(where, timeout)
    if "://" in where:
        raise InputError(f"{where!r}: give an http:// or https:// URL, or a directory")
    return DirectorySource(Path(where))
