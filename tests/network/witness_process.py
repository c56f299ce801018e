"""A witness server process that stops dead between saving its state and replying, for the
kill -9 test:

    python -m tests.network.witness_process STATE LOG_PUB MARKER

It serves ``POST /add-checkpoint`` exactly as ``custody witness serve`` does (the same
``Witness``, ``WitnessState`` and server), as INS-01 with the tests' fixed key, and prints
its URL. Once a submission's new checkpoint is saved — before the cosignature is even made —
it creates MARKER and sleeps, so that the test can SIGKILL it at that very point.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ledger.application.keystore import read_public_key
from ledger.application.witness import Witness, WitnessState
from ledger.network.server import witness_server
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.witness import MAX_REQUEST
from tests.network.conftest import WITNESS


class StopsAfterSaving(WitnessState):
    def __init__(self, directory: Path, marker: Path) -> None:
        super().__init__(directory)
        self.marker = marker

    def remember(self, checkpoint: Checkpoint, note: bytes) -> None:
        super().remember(checkpoint, note)
        self.marker.write_text(f"saved {checkpoint.size}\n")
        time.sleep(3600)


def main(state: str, log_pub: str, marker: str) -> None:
    public_key, origin = read_public_key(Path(log_pub))
    assert origin is not None
    witness = Witness(WITNESS.person_id, WITNESS.key, {origin: public_key.raw},
                      StopsAfterSaving(Path(state), Path(marker)))
    server = witness_server(witness.add_checkpoint, MAX_REQUEST, ("127.0.0.1", 0),
                            lambda line: None)
    print(f"witness at {server.url}/add-checkpoint", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
