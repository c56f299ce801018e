"""Every kind of ledger event, in one table: its name, its stream, its schema, what it is.

The table is the one list of event types. Each set of types the code treats alike (the
authority's events, the lot steps, the steps whose place is their secure room, ...) is
derived from it here, and every module takes its set from here: a new kind of event is one
row, and the rows say which sets it joins. ``domain/events.py`` keeps a class per kind and
``schemas/events/`` a schema per kind; ``tests/unit/test_kinds.py`` holds both equal to the
table. Pure data, the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping


def N_(name: str) -> str:
    """Mark a kind's name for translation and return it unchanged: the name is what is
    stored and signed; the CLI shows it in the reader's language (Babel extracts ``N_``)."""
    return name


# Who signs an event of a kind, and so what judges it.
NAMED_AUTHORITY = "named authority"  # the genesis: the authority key it names itself
AUTHORITY_SET = "authority set"  # the authority set in force, as many as its threshold
ATTENDEES = "attendees"  # the people present, as many as the presence policy asks


@dataclass(frozen=True)
class EventKind:
    """One kind of event: ``lot.handed_over`` is appended to a ``lot:ID`` stream, signed by
    the people present, and its body is checked against ``schemas/events/lot.handed_over.json``."""

    name: str
    stream: str  # the stream it is appended to: "lot" for lot:ID, ..., "ledger" for the ledger's
    signed_by: str  # NAMED_AUTHORITY, AUTHORITY_SET or ATTENDEES
    starts: bool = False  # the first event of its stream, naming it (seq 1)
    names_key: bool = False  # puts a key in the roster: later events may be signed with it
    changes_key: bool = False  # revokes or replaces an enrolled person's key
    shift: bool = False  # starts or ends a duty shift in a secure room
    in_room: bool = False  # its place is its secure room, whatever else it says
    container: bool = False  # packs a lot into a container, or takes it out

    @property
    def schema(self) -> str:
        """The body's JSON Schema, as a path from the project's root."""
        return f"schemas/events/{self.name}.json"


KINDS: tuple[EventKind, ...] = (
    EventKind(N_("ledger.genesis"), "ledger", NAMED_AUTHORITY, starts=True, names_key=True),
    EventKind(N_("ledger.policy_set"), "ledger", AUTHORITY_SET),
    EventKind(N_("ledger.authority_set"), "ledger", AUTHORITY_SET, names_key=True),
    EventKind(N_("ledger.log_key_set"), "ledger", AUTHORITY_SET),
    EventKind(N_("person.enrolled"), "person", AUTHORITY_SET, starts=True, names_key=True),
    EventKind(N_("person.key_revoked"), "person", AUTHORITY_SET, changes_key=True),
    EventKind(N_("person.key_rotated"), "person", AUTHORITY_SET, names_key=True,
              changes_key=True),
    EventKind(N_("room.registered"), "room", AUTHORITY_SET, starts=True),
    EventKind(N_("room.patrolled"), "room", ATTENDEES),
    EventKind(N_("duty.started"), "room", ATTENDEES, shift=True, in_room=True),
    EventKind(N_("duty.ended"), "room", ATTENDEES, shift=True, in_room=True),
    EventKind(N_("lot.registered"), "lot", ATTENDEES, starts=True),
    EventKind(N_("lot.transport_departed"), "lot", ATTENDEES),
    EventKind(N_("lot.transport_arrived"), "lot", ATTENDEES),
    EventKind(N_("lot.handed_over"), "lot", ATTENDEES),
    EventKind(N_("lot.stored"), "lot", ATTENDEES, in_room=True),
    EventKind(N_("lot.retrieved"), "lot", ATTENDEES, in_room=True),
    EventKind(N_("lot.distributed"), "lot", ATTENDEES),
    EventKind(N_("lot.unsealed"), "lot", ATTENDEES),
    EventKind(N_("lot.collected"), "lot", ATTENDEES),
    EventKind(N_("lot.returned"), "lot", ATTENDEES),
    EventKind(N_("lot.packed"), "lot", ATTENDEES, container=True),
    EventKind(N_("lot.unpacked"), "lot", ATTENDEES, container=True),
    EventKind(N_("lot.corrected"), "lot", ATTENDEES),
    EventKind(N_("incident.reported"), "incident", ATTENDEES, starts=True),
    EventKind(N_("zero.reported"), "zero", ATTENDEES, starts=True),
    EventKind(N_("site.registered"), "site", AUTHORITY_SET, starts=True),
)
BY_NAME: Mapping[str, EventKind] = {kind.name: kind for kind in KINDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def _where(belongs: Callable[[EventKind], bool]) -> frozenset[str]:
    return frozenset(kind.name for kind in KINDS if belongs(kind))


# Signed by the authority set: the roster, rooms, sites, policies and log keys.
AUTHORITY_EVENTS = _where(lambda k: k.signed_by == AUTHORITY_SET)
# The authority's events and the genesis: they decide who counts, so their signatures are
# always checked, and a step needs a policy they set before it.
TRUST_EVENTS = _where(lambda k: k.signed_by != ATTENDEES)
# The steps: co-signed by the people present, judged by the presence policy.
STEPS = _where(lambda k: k.signed_by == ATTENDEES)
# The events of a lot's (or a container's) stream: its registration and every custody step.
LOT_STEPS = _where(lambda k: k.stream == "lot")
# The steps of a secure room's stream: duty shifts and patrols.
ROOM_EVENTS = _where(lambda k: k.stream == "room" and k.signed_by == ATTENDEES)
DUTY_SHIFTS = _where(lambda k: k.shift)
# Steps whose place is their secure room (the room's stream, or the room they name).
ROOM_PLACED = _where(lambda k: k.in_room)
# Steps that name a container: a packed lot moves with it.
PACKING = _where(lambda k: k.container)
# Events that start their stream, and the steps among them (recorded on a stream that has
# no head yet; every other step needs one).
STARTS = _where(lambda k: k.starts)
STARTING_STEPS = STARTS & STEPS
# Events that put a key in the roster (``roster.keys_named``), and those that revoke or
# replace one (``roster.member_after``).
KEY_EVENTS = _where(lambda k: k.names_key)
KEY_CHANGES = _where(lambda k: k.changes_key)
