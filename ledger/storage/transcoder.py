"""The library's Transcoder, backed by the canonical msgpack codec of ``ledger.core``.

Because stored state is canonical, the verifier can hash the stored bytes directly and
reject any row that is not the one encoding of its value.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoder

from ledger.core import canonical


class MsgpackTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return canonical.encode(obj)

    def decode(self, data: bytes) -> Any:
        return canonical.decode(data)
