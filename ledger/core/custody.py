"""The custody lifecycle of a lot, as pure data and functions shared by recorder and verifier.

A lot is always held by exactly one *party*: a person (their bare id), or ``vehicle:ID``,
``room:ID`` (a secure room) or ``site:ID`` (an exam site or exam room). Each step type has a
:class:`StepSpec` saying which party must hold the lot before it (the one who releases it),
who holds it after, whether seals and count are checked, which kinds of lot it applies to,
and whether it closes the lot. A bag packed into a container (``lot.packed``) takes no steps
of its own until ``lot.unpacked``: it moves with the container.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Callable, Iterator, Mapping

from ledger.core.canonical import format_timestamp, parse_timestamp
from ledger.core.findings import Finding
from ledger.core.kinds import LOT_STEPS, PACKING
from ledger.core.text import Message

CLOCK_SKEW = timedelta(minutes=5)
KINDS = ("question_paper", "answer_sheet", "spare_paper", "container")


def is_person(party: str) -> bool:
    return ":" not in party


@dataclass(frozen=True)
class LotState:
    """What the ledger knows of a lot after its latest step."""

    lot_id: str
    exam: str
    subject: str
    kind: str
    count: int
    seals: tuple[str, ...]
    holder: str | None
    last_occurred_at: str
    last_type: str = "lot.registered"
    location: str = ""
    steps: int = 1
    packed_in: str | None = None
    unsealed: bool = False
    closed: bool = False
    hashes: tuple[str, ...] = ()  # event hash of each step, by step number - 1


@dataclass(frozen=True)
class RoomState:
    """A registered secure room: its licence, and who is on duty now."""

    room_id: str
    name: str
    licence: str
    valid_from: str
    valid_until: str
    on_duty: frozenset[str] = frozenset()
    last_occurred_at: str = ""
    within: str | None = None  # the registered site the room lies within (schema 2)

    def licensed_at(self, moment: str) -> bool:
        return self.valid_from <= moment <= self.valid_until


@dataclass(frozen=True)
class StepSpec:
    """How one lot step type moves custody and what it checks."""

    releases: Callable[[Mapping[str, Any]], str | None]  # party that must hold the lot before
    receives: Callable[[Mapping[str, Any]], str | None]  # party holding it after (None: same)
    checks_seals: bool = True
    kinds: tuple[str, ...] = KINDS
    closes: bool = False


def _field(name: str, prefix: str = "") -> Callable[[Mapping[str, Any]], str]:
    return lambda body: prefix + body[name]


# A spec for each of ``kinds.LOT_STEPS`` but the registration (tests/unit/test_kinds.py).
STEPS: Mapping[str, StepSpec] = {
    "lot.transport_departed": StepSpec(_field("from"), _field("vehicle", "vehicle:")),
    "lot.transport_arrived": StepSpec(_field("vehicle", "vehicle:"), _field("to")),
    "lot.handed_over": StepSpec(_field("from"), _field("to")),
    "lot.stored": StepSpec(_field("from"), _field("room", "room:")),
    "lot.retrieved": StepSpec(_field("room", "room:"), _field("to")),
    "lot.distributed": StepSpec(_field("from"), _field("to")),
    "lot.unsealed": StepSpec(lambda b: None, lambda b: None,
                             kinds=("question_paper", "spare_paper")),
    "lot.collected": StepSpec(_field("from"), _field("to"), checks_seals=False,
                              kinds=("answer_sheet",)),
    "lot.returned": StepSpec(_field("from"), _field("to"), closes=True),
    "lot.packed": StepSpec(lambda b: None, lambda b: None, checks_seals=False,
                           kinds=("question_paper", "answer_sheet", "spare_paper")),
    "lot.unpacked": StepSpec(lambda b: None, lambda b: None, checks_seals=False),
    "lot.corrected": StepSpec(lambda b: None, lambda b: None, checks_seals=False),
}


def parties(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The parties a step moves a lot between: (who released it, who holds it after), each
    None when the step names none. A registration and an unpacking name the holder."""
    holder = body.get("holder")
    if isinstance(holder, str):  # a registration or an unpacking: the lot's holder from now
        return None, holder
    event_type = body.get("type")
    spec = STEPS.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        return None, None
    return _named(spec.releases, body), _named(spec.receives, body)


def _named(pick: Callable[[Mapping[str, Any]], str | None], body: Mapping[str, Any]
           ) -> str | None:
    try:
        party = pick(body)
    except (KeyError, TypeError):  # a body the schema refuses: the verifier says so
        return None
    return party if isinstance(party, str) else None


def lot_registered(body: Mapping[str, Any], event_hash: str = "") -> LotState:
    """Return a lot's state from its registration body (and that event's hash)."""
    lot = body["lot"]
    return LotState(
        lot_id=lot["id"], exam=lot["exam"], subject=lot["subject"], kind=lot["kind"],
        count=lot["count"], seals=tuple(sorted(lot["seals"])), holder=body.get("holder"),
        last_occurred_at=body["occurred_at"], location=body["location"], hashes=(event_hash,),
    )


def lot_after(state: LotState, body: Mapping[str, Any], event_hash: str = "") -> LotState:
    """Return a lot's state after a step (the record wins: it is what was checked)."""
    event_type = body["type"]
    spec = STEPS[event_type]
    changes: dict[str, Any] = {
        "last_occurred_at": max(state.last_occurred_at, body["occurred_at"]),
        "last_type": event_type,
        "location": body["location"],
        "steps": state.steps + 1,
        "hashes": state.hashes + (event_hash,),
    }
    receiver = spec.receives(body)
    if receiver is not None:
        changes["holder"] = receiver
    if "count_checked" in body:
        changes["count"] = body["count_checked"]
    if "seals_checked" in body and spec.checks_seals and not state.unsealed:
        changes["seals"] = tuple(sorted(body["seals_checked"]))
    if "seals_applied" in body:
        changes["seals"] = tuple(sorted(body["seals_applied"]))
    if event_type == "lot.unsealed":
        changes["unsealed"] = True
    elif event_type == "lot.packed":
        changes["packed_in"] = body["container"]
    elif event_type == "lot.unpacked":
        changes.update(packed_in=None, holder=body["holder"])
    elif event_type == "lot.corrected":
        changes.update(count=body.get("count", state.count),
                       seals=tuple(sorted(body.get("seals", state.seals))))
    if spec.closes:
        changes["closed"] = True
    return _evolved(state, changes)


def _evolved(state: LotState, changes: Mapping[str, Any]) -> LotState:
    """``dataclasses.replace(state, **changes)`` without running the frozen constructor
    again (the fold does this at every lot step): a lot's state has no ``__post_init__`` to
    run, so its fields are copied and some changed."""
    new = object.__new__(LotState)
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


def effective_holder(state: LotState, lots: Callable[[str], LotState | None]) -> str | None:
    """Who holds a lot now: its container's holder while it is packed."""
    if state.packed_in is not None:
        container = lots(f"lot:{state.packed_in}")
        if container is not None:
            return container.holder
    return state.holder


def judge_lot_step(state: LotState | None, body: Mapping[str, Any], counted: Mapping[str, str],
                   lots: Callable[[str], LotState | None],
                   rooms: Callable[[str], RoomState | None]) -> Iterator[Finding]:
    """Every custody rule one lot step breaks, given the lot's state before it."""
    event_type = body["type"]
    if event_type == "lot.registered":
        yield from _judge_party(body.get("holder"), counted, "holder", rooms)
        return
    if state is None:
        yield Finding("CUSTODY_GAP", Message("{stream} has a {event_type} but no registration",
                                             stream=body["stream"], event_type=event_type))
        return
    spec = STEPS[event_type]
    lot_id = state.lot_id
    if state.closed:
        yield Finding("LOT_CLOSED", Message("lot {lot} was returned; no step may follow it",
                                            lot=lot_id),
                      evidence={"lot": lot_id})
    if state.packed_in is not None and event_type != "lot.unpacked":
        yield Finding("LOT_PACKED", Message("lot {lot} is packed in {container}; unpack it before "
                                            "a step of its own", lot=lot_id,
                                            container=state.packed_in),
                      evidence={"container": state.packed_in})
    if state.kind not in spec.kinds:
        yield Finding("STEP_NOT_APPLICABLE", Message("{event_type} does not apply to a {kind} lot",
                                                     event_type=event_type, kind=state.kind),
                      evidence={"kind": state.kind})
    giver = spec.releases(body)
    if giver is not None and state.holder is not None and giver != state.holder:
        yield Finding("CUSTODY_GAP", Message("lot {lot} is held by {holder}, not {giver}, who "
                                             "released it in {event_type}", lot=lot_id,
                                             holder=state.holder, giver=giver,
                                             event_type=event_type),
                      evidence={"holder": state.holder, "released_by": giver})
    for role, party in (("giver", giver), ("receiver", spec.receives(body))):
        yield from _judge_party(party, counted, role, rooms)
    if spec.checks_seals and not state.unsealed and "seals_checked" in body:
        checked = tuple(sorted(body["seals_checked"]))
        if checked != state.seals:
            yield Finding(
                "SEAL_MISMATCH",
                Message("seals checked differ from record: missing {missing}, unexpected "
                        "{unexpected}", missing=sorted(set(state.seals) - set(checked)),
                        unexpected=sorted(set(checked) - set(state.seals))),
                evidence={"expected": list(state.seals), "found": list(checked)})
    if "count_checked" in body and body["count_checked"] != state.count:
        yield Finding("COUNT_MISMATCH",
                      Message("count checked {found}, but {expected} on record",
                              found=body["count_checked"], expected=state.count),
                      evidence={"expected": state.count, "found": body["count_checked"]})
    if body["occurred_at"] < state.last_occurred_at:
        yield Finding("TIME_REVERSED",
                      Message("occurred_at {found} is before the lot's previous step at "
                              "{previous}", found=body["occurred_at"],
                              previous=state.last_occurred_at),
                      evidence={"previous": state.last_occurred_at, "found": body["occurred_at"]})
    if event_type == "lot.stored":
        yield from _judge_room_licence(body["room"], body["occurred_at"], rooms)
    if event_type in PACKING:
        yield from _judge_container(state, body, lots)
    if event_type == "lot.corrected":
        yield from _judge_correction(state, body)


def _judge_correction(state: LotState, body: Mapping[str, Any]) -> Iterator[Finding]:
    """A correction names an earlier step of its own lot by number and event hash, and is
    flagged forever, like an acknowledged violation."""
    target = body["corrects"]
    seq = target["seq"]
    recorded = state.hashes[seq - 1] if 1 <= seq <= len(state.hashes) else None
    if recorded is None or recorded != target["event_hash"]:
        yield Finding("CORRECTION_INVALID",
                      Message("the correction names step {seq} of lot {lot} with hash "
                              "{named}…, but that step's hash is {recorded}…", seq=seq,
                              lot=state.lot_id, named=target["event_hash"][:16],
                              recorded=recorded[:16]) if recorded else
                      Message("the correction names step {seq} of lot {lot} with hash "
                              "{named}…, but the lot has {steps} step(s)", seq=seq,
                              lot=state.lot_id, named=target["event_hash"][:16],
                              steps=len(state.hashes)),
                      evidence={"corrects": dict(target), "recorded": recorded})
        return
    changed = {k: body[k] for k in ("count", "seals") if k in body}
    yield Finding("CORRECTION", Message("step {seq} of lot {lot} corrected ({reason}): "
                                        "{restated}", seq=seq, lot=state.lot_id,
                                        reason=body["reason"],
                                        restated=changed or Message("nothing restated")),
                  evidence={"corrects": dict(target), "reason": body["reason"],
                            "before": {"count": state.count, "seals": list(state.seals)},
                            "restated": changed})


# The party a custody finding is about, in words the reader's language can replace.
_PARTY_ROLES = {"giver": Message("giver"), "receiver": Message("receiver"),
                "holder": Message("holder")}


def _judge_party(party: str | None, counted: Mapping[str, str], role: str,
                 rooms: Callable[[str], RoomState | None]) -> Iterator[Finding]:
    if party is None:
        return
    if is_person(party):
        if party not in counted:
            yield Finding("CUSTODY_GAP", Message("the {role} {party} did not co-sign the step",
                                                 role=_PARTY_ROLES[role], party=party),
                          evidence={role: party})
    elif party.startswith("room:") and rooms(party[5:]) is None:
        yield Finding("ROOM_UNLICENSED", Message("{party} is not a registered secure room",
                                                 party=party),
                      evidence={"room": party[5:]})


def _judge_room_licence(room_id: str, moment: str,
                        rooms: Callable[[str], RoomState | None]) -> Iterator[Finding]:
    room = rooms(room_id)
    if room is not None and not room.licensed_at(moment):
        yield Finding("ROOM_UNLICENSED",
                      Message("secure room {room} (licence {licence}) is licensed from "
                              "{valid_from} to {valid_until}, not at {moment}", room=room_id,
                              licence=room.licence, valid_from=room.valid_from,
                              valid_until=room.valid_until, moment=moment),
                      evidence={"room": room_id, "licence": room.licence,
                                "valid_from": room.valid_from, "valid_until": room.valid_until})


def _judge_container(state: LotState, body: Mapping[str, Any],
                     lots: Callable[[str], LotState | None]) -> Iterator[Finding]:
    container_id = body["container"]
    container = lots(f"lot:{container_id}")
    if container is None or container.kind != "container":
        yield Finding("CUSTODY_GAP", Message("{container} is not a registered container",
                                             container=container_id),
                      evidence={"container": container_id})
        return
    if body["type"] == "lot.packed":
        if state.holder != container.holder:
            yield Finding("CUSTODY_GAP", Message(
                "lot {lot} is held by {holder} but container {container} by {container_holder}; "
                "both must be with the same party to pack", lot=state.lot_id,
                holder=state.holder, container=container_id,
                container_holder=container.holder), evidence={"lot": state.holder,
                                                               "container": container.holder})
    else:
        if state.packed_in != container_id:
            yield Finding("CUSTODY_GAP", Message("lot {lot} is not packed in {container}",
                                                 lot=state.lot_id, container=container_id),
                          evidence={"packed_in": state.packed_in})
        if body["holder"] != container.holder:
            yield Finding("CUSTODY_GAP", Message("container {container} is held by "
                                                 "{container_holder}, not {holder}, who takes "
                                                 "lot {lot} out of it", container=container_id,
                                                 container_holder=container.holder,
                                                 holder=body["holder"], lot=state.lot_id),
                          evidence={"container": container.holder, "holder": body["holder"]})


def judge_time(body: Mapping[str, Any], recorded_at: str) -> Iterator[Finding]:
    """``occurred_at`` may not lie in the future of ``recorded_at`` beyond the clock skew."""
    if body["occurred_at"] <= recorded_at:  # canonical times: text order is time order
        return
    limit = format_timestamp(parse_timestamp(recorded_at) + CLOCK_SKEW)
    if body["occurred_at"] > limit:
        yield Finding("TIME_IN_FUTURE",
                      Message("occurred_at {occurred_at} is after it was recorded "
                              "({recorded_at}) by more than {minutes} min",
                              occurred_at=body["occurred_at"], recorded_at=recorded_at,
                              minutes=int(CLOCK_SKEW.total_seconds() // 60)),
                      evidence={"occurred_at": body["occurred_at"], "recorded_at": recorded_at})


def room_registered(body: Mapping[str, Any]) -> RoomState:
    room = body["room"]
    return RoomState(room_id=room["id"], name=room["name"], licence=room["licence"],
                     valid_from=room["valid_from"], valid_until=room["valid_until"],
                     last_occurred_at=body["occurred_at"], within=room.get("within"))


def room_after(state: RoomState, body: Mapping[str, Any]) -> RoomState:
    """Duty shifts change who is on duty; a patrol changes nothing but the clock."""
    people = frozenset(a["person"] for a in body.get("attendees", []))
    on_duty = state.on_duty
    if body["type"] == "duty.started":
        on_duty = on_duty | people
    elif body["type"] == "duty.ended":
        on_duty = on_duty - people
    return replace(state, on_duty=on_duty,
                   last_occurred_at=max(state.last_occurred_at, body["occurred_at"]))
