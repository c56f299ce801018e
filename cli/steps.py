"""One table of co-signed steps, from which both ``custody record <step>`` (everyone signs on
this terminal with --sign) and ``custody draft <step>`` (an unsigned file for offline
co-signing, attendees named with --attendee) are generated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import click

from cli.names import HOLDER, LOT, PERSON, ROOM
from cli.options import ID, NOTE, TEXT, moment
from ledger.core.kinds import ROOM_PLACED
from ledger.domain.aggregates import incident_stream, lot_stream, room_stream, zero_stream

SHOWN = "Example:\n\n\b\n  {example} \\\n      {signing}"
EXAMPLE_WIDTH = 92  # an example's lines, indented, stay within 100 columns


def example_lines(command: str) -> str:
    """A long example command broken before its options into lines of at most
    EXAMPLE_WIDTH, continued with backslashes as a shell reads them."""
    lines = [""]
    for part in re.split(r" (?=--)", command):
        if lines[-1] and len(lines[-1]) + 1 + len(part) > EXAMPLE_WIDTH:
            lines.append(part)
        else:
            lines[-1] = f"{lines[-1]} {part}".strip()
    return " \\\n      ".join(lines)


@dataclass(frozen=True)
class Step:
    name: str
    event_type: str
    help: str
    options: tuple[Any, ...]
    fields: Callable[[Mapping[str, Any]], dict[str, Any]]
    example: str
    # The stream is named after the id the body carries, by the same functions the recorder
    # and the verifier use (ledger.domain.aggregates).
    stream: Callable[[Mapping[str, Any]], str] = lambda o: lot_stream(o["lot_id"])

    @property
    def in_room(self) -> bool:
        """A step in a secure room (--room): the room is the place, so --location may be
        left out and the room's registered name is stored as the location."""
        return self.event_type in ROOM_PLACED


def lot_opt() -> Any:
    return click.option("--lot", "lot_id", required=True, type=LOT, help="The lot.")


def party_opt(name: str, what: str) -> Any:
    return click.option(f"--{name}", f"{name}_party", required=True, type=HOLDER,
                        help=f"{what}: a person id, or vehicle:ID, room:ID, site:ID.")


def seals_opt() -> Any:
    return click.option("--seal", "seals", multiple=True, required=True, type=ID,
                        help="Seal number checked; repeat for each.")


def count_opt() -> Any:
    return click.option("--count", required=True, type=click.IntRange(1, 1_000_000),
                        help="Count checked.")


def checked(o: Mapping[str, Any]) -> dict[str, Any]:
    return {"seals_checked": sorted(o["seals"]), "count_checked": o["count"]}


CHECKED = (seals_opt(), count_opt())

STEPS = [
    Step("transport-depart", "lot.transport_departed",
         "The lot leaves in a vehicle under police escort (押运).",
         (lot_opt(), party_opt("from", "Party handing the lot to the vehicle"),
          click.option("--vehicle", required=True, type=ID, help="Vehicle id (plate)."),
          click.option("--escort", multiple=True, type=PERSON, help="Escorting person id; repeat."),
          click.option("--route", default=None, type=TEXT, help="Route taken."),
          click.option("--destination", required=True, type=TEXT, help="Where the vehicle goes."),
          *CHECKED),
         lambda o: {"from": o["from_party"], "vehicle": o["vehicle"],
                    "escort": sorted(o["escort"]), "destination": o["destination"],
                    **({"route": o["route"]} if o["route"] else {}), **checked(o)},
         "--lot MATH-Q-0001 --from STF-02 --vehicle YUE-A12345 --escort POL-01 "
         "--destination 'County Secure Room 3' --seal SEAL-1 --count 30 --location 'Loading bay'"),
    Step("transport-arrive", "lot.transport_arrived",
         "The vehicle arrives; the lot passes to the receiving party.",
         (lot_opt(), click.option("--vehicle", required=True, type=ID, help="Vehicle id (plate)."),
          party_opt("to", "Party receiving the lot"), *CHECKED),
         lambda o: {"vehicle": o["vehicle"], "to": o["to_party"], **checked(o)},
         "--lot MATH-Q-0001 --vehicle YUE-A12345 --to STF-03 --seal SEAL-1 --count 30 "
         "--location 'County Secure Room 3'"),
    Step("handover", "lot.handed_over", "Custody of a lot passes from one party to another.",
         (lot_opt(), party_opt("from", "Party handing over"), party_opt("to", "Party taking custody"),
          *CHECKED),
         lambda o: {"from": o["from_party"], "to": o["to_party"], **checked(o)},
         "--lot MATH-Q-0001 --from STF-01 --to STF-02 --seal SEAL-1 --count 30 "
         "--location 'Printing house' --occurred-at 2026-06-06T06:10:00+08:00"),
    Step("store", "lot.stored", "The lot is put into a licensed secure room (保密室).",
         (lot_opt(), party_opt("from", "Party handing the lot to the room"),
          click.option("--room", required=True, type=ROOM, help="Secure room id."), *CHECKED),
         lambda o: {"from": o["from_party"], "room": o["room"], **checked(o)},
         "--lot MATH-Q-0001 --from STF-03 --room SR-3 --seal SEAL-1 --count 30"),
    Step("retrieve", "lot.retrieved", "The lot is taken out of a secure room (领取).",
         (lot_opt(), click.option("--room", required=True, type=ROOM, help="Secure room id."),
          party_opt("to", "Party taking the lot"), *CHECKED),
         lambda o: {"room": o["room"], "to": o["to_party"], **checked(o)},
         "--lot MATH-Q-0001 --room SR-3 --to STF-05 --seal SEAL-1 --count 30"),
    Step("distribute", "lot.distributed", "The lot goes to an exam site or exam room (分发).",
         (lot_opt(), party_opt("from", "Party distributing"),
          party_opt("to", "Receiving site or room, e.g. site:S01-R12"), *CHECKED),
         lambda o: {"from": o["from_party"], "to": o["to_party"], **checked(o)},
         "--lot MATH-Q-0001 --from STF-05 --to site:S01-R12 --seal SEAL-1 --count 30 "
         "--location 'No. 1 Middle School'"),
    Step("unseal", "lot.unsealed", "Seals are checked intact and opened in the exam room.",
         (lot_opt(), *CHECKED), checked,
         "--lot MATH-Q-0001 --seal SEAL-1 --count 30 --location 'Exam room 12'"),
    Step("collect", "lot.collected", "Answer sheets are collected (回收), counted and sealed anew.",
         (lot_opt(), party_opt("from", "Where they are collected, e.g. site:S01-R12"),
          party_opt("to", "Party taking them"),
          click.option("--count", required=True, type=click.IntRange(1, 1_000_000),
                       help="Sheets counted."),
          click.option("--new-seal", "new_seals", multiple=True, required=True, type=ID,
                       help="Seal applied to the bag; repeat.")),
         lambda o: {"from": o["from_party"], "to": o["to_party"], "count_checked": o["count"],
                    "seals_applied": sorted(o["new_seals"])},
         "--lot MATH-A-0001 --from site:S01-R12 --to STF-05 --count 30 --new-seal SEAL-9 "
         "--location 'Exam room 12'"),
    Step("return", "lot.returned", "The lot is returned or sent to scanning and marking.",
         (lot_opt(), party_opt("from", "Party returning it"),
          party_opt("to", "Receiving party, e.g. site:SCAN-01"), *CHECKED),
         lambda o: {"from": o["from_party"], "to": o["to_party"], **checked(o)},
         "--lot MATH-A-0001 --from STF-05 --to site:SCAN-01 --seal SEAL-9 --count 30 "
         "--location 'Scanning centre'"),
    Step("correction", "lot.corrected",
         "A compensating record that restates count or seals; nothing is ever edited.",
         (lot_opt(), click.option("--corrects", type=click.IntRange(1), required=True,
                                  help="Step number (seq) being corrected."),
          click.option("--reason", required=True, type=TEXT, help="Why the record was wrong."),
          click.option("--count", type=click.IntRange(1, 1_000_000), default=None,
                       help="The true count."),
          click.option("--seal", "seals", multiple=True, type=ID, help="The true seal numbers.")),
         lambda o: {"corrects": {"seq": o["corrects"], "event_hash": o["_event_hash"]},
                    "reason": o["reason"],
                    **({"count": o["count"]} if o["count"] else {}),
                    **({"seals": sorted(o["seals"])} if o["seals"] else {})},
         "--lot MATH-Q-0001 --corrects 3 --reason 'count typed as 29' --count 30 "
         "--location 'SR-3'"),
    Step("incident", "incident.reported", "Report an incident: what, which lots, evidence digests.",
         (click.argument("incident_id", type=ID),
          click.option("--what", required=True, type=NOTE, help="What happened (one line)."),
          click.option("--lot", "lots", multiple=True, type=LOT, help="Lot concerned; repeat.")),
         lambda o: {"incident": {"id": o["incident_id"], "what": o["what"],
                                 "lots": sorted(o["lots"])}},
         "INC-0001 --what 'bag seal torn at arrival' --lot MATH-Q-0001 --evidence <sha256> "
         "--location 'SR-3'",
         stream=lambda o: incident_stream(o["incident_id"])),
    Step("zero-report", "zero.reported", "Report that nothing happened in a period (零报告).",
         (click.argument("report_id", type=ID),
          click.option("--scope", required=True, type=TEXT,
                       help="What the report covers, e.g. a site."),
          click.option("--since", "period_start", required=True, metavar="TIME",
                       help="Start of the period (RFC 3339)."),
          click.option("--until", "period_end", required=True, metavar="TIME",
                       help="End of the period (RFC 3339).")),
         lambda o: {"report": {"id": o["report_id"], "scope": o["scope"], "period": {
             "start": moment(o["period_start"], "--since"),
             "end": moment(o["period_end"], "--until")}}},
         "ZR-S01-0607 --scope 'No. 1 Middle School' --since 2026-06-07T07:00:00+08:00 "
         "--until 2026-06-07T12:00:00+08:00 --location 'No. 1 Middle School'",
         stream=lambda o: zero_stream(o["report_id"])),
    Step("duty-start", "duty.started", "People start a duty shift in a secure room.",
         (click.option("--room", required=True, type=ROOM, help="Secure room id."),),
         lambda o: {}, "--room SR-3", stream=lambda o: room_stream(o["room"])),
    Step("duty-end", "duty.ended", "People end their duty shift in a secure room.",
         (click.option("--room", required=True, type=ROOM, help="Secure room id."),),
         lambda o: {}, "--room SR-3", stream=lambda o: room_stream(o["room"])),
    Step("patrol", "room.patrolled", "A remote video patrol (网上巡视) by an inspector.",
         (click.option("--room", required=True, type=ROOM, help="Secure room id."),
          click.option("--observed", required=True, type=NOTE,
                       help="What the patrol saw (one line).")),
         lambda o: {"observed": o["observed"]},
         "--room SR-3 --observed '4 on duty, seals intact' --location 'Discipline office'",
         stream=lambda o: room_stream(o["room"])),
]
