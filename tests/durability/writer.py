"""A writer process for the crash and many-writer tests: records steps through the API and
prints one line per acknowledged step, flushed, only after ``submit_all`` has returned.

    python -m tests.durability.writer handovers DB PREFIX COUNT LOT [LOT ...]
    python -m tests.durability.writer batches DB PREFIX COUNT
    python -m tests.durability.writer submit DB PREFIX DRAFT
    python -m tests.durability.writer views DB PREFIX PAGE LOT [LOT ...]

``handovers`` records COUNT handovers round-robin over the lots, one transaction each;
``batches`` packs and unpacks BAG-1..3 in BOX-1, COUNT transactions of three events each;
``submit`` submits one signed draft file;
``views`` works the view forever: every third turn, the first included, empties the view and
folds the whole log again (what ``custody projections rebuild`` does: REBUILDING, a PAGE line
per transaction, REBUILT), the others record a handover (ACK) and bring the view up to the
log's head (CATCHUP, CAUGHT); PAGE events per transaction, so that a kill lands between
pages as well as inside one. With ``CUSTODY_TEST_GO=PATH`` the writer opens the
ledger, prints READY, and waits for PATH to exist before writing, so that many writers can be
started and then let go at once.
Each line is ``ACK <note> <events> <stream>:<seq>@<position> ...``; the note is
``PREFIX-<n>``, so a test can find every acknowledged step in the log. COUNT 0 means forever.
A refusal ends the process with the CLI's exit code and its one-line message.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

from cli.errors import LedgerFailure
from ledger.application.custody import open_ledger
from ledger.application.drafts import parse_draft
from ledger.core.errors import LedgerError
from ledger.projections import access
from ledger.projections.projection import catch_up
from tests.durability.ledger import handover, pack_or_unpack


def main(argv: list[str]) -> int:
    mode, db, prefix, count, *lots = argv
    app = open_ledger(db)
    print("READY", flush=True)
    go = os.environ.get("CUSTODY_TEST_GO")
    while go and not os.path.exists(go):
        time.sleep(0.005)
    if mode == "submit":
        body, signatures = parse_draft(Path(count).read_bytes(), source=count)
        count, lots = "1", []
    elif mode == "views":
        page, count = int(count), "0"
        view = access.writable_view(app)
    steps = itertools.count() if int(count) == 0 else range(int(count))
    try:
        for n in steps:
            note = f"{prefix}-{n}"
            if mode == "submit":
                receipts = [app.submit(body, signatures)]
            elif mode == "handovers":
                receipts = [handover(app, lots[n % len(lots)], note)]
            elif mode == "views":
                if n % 3 == 0:
                    print(f"REBUILDING {note}", flush=True)
                    view.clear()
                    folded = catch_up(view, app.recorder, page=page, progress=lambda k: print(
                        f"PAGE {k}", flush=True))
                    print(f"REBUILT {note} {folded} {view.position()}", flush=True)
                    continue
                receipt = handover(app, lots[n % len(lots)], note)
                print(f"ACK {note} 1 {receipt.stream}:{receipt.seq}@{receipt.position}",
                      flush=True)
                print(f"CATCHUP {note}", flush=True)
                catch_up(view, app.recorder, page=page)
                print(f"CAUGHT {note}", flush=True)
                continue
            else:
                receipts = pack_or_unpack(app, note)
            where = " ".join(f"{r.stream}:{r.seq}@{r.position}" for r in receipts)
            print(f"ACK {note} {len(receipts)} {where}", flush=True)
    except LedgerError as error:
        failure = LedgerFailure(error)
        print(f"error: {failure.message}", file=sys.stderr, flush=True)
        return failure.exit_code
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
