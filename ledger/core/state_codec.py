"""The one ledger-state fold as plain data: canonical records out, a :class:`LedgerState` back.

A resumed audit (``custody verify --state DIR``) saves the state an intact run reached and
folds only the newer events into it the next time, and the view (``ledger.projections``)
saves the state it folded up to its position, so this encoding must give back exactly the
state that was saved: every field of :class:`~ledger.core.state.LedgerState`, every map in
the order it iterates.

A province's state holds over a million lots, far more than one canonical value may hold
(``canonical.MAX_ENCODED``), so the state is a *sequence of records*, each one canonical
msgpack value of at most :data:`RECORD_ENTRIES` entries:

- ``{"section": "scalars", ...}`` first: the ledger id, positions, timestamps, the authority
  set, the policy history and the log keys;
- then ``{"section": NAME, "entries": [...]}`` for each map in :data:`SECTIONS`, in that
  order, as many records per map as it needs (the per-stream maps in key order, the others in
  the order the fold filled them; one room's duty shifts are one entry each, so no record
  grows with a room's history);
- the caller frames the records (``ledger.verify.saved_state``) and adds the integrity check;
  the view keeps each entry of a per-stream map in a row of its own (:func:`encode_entry`,
  :func:`decode_entry`), read only when an event touches it, and the rest as records.

:func:`state_records` yields them from a state without copying its maps (lots, heads and
entered may live in a spill file); :class:`StateReader` folds them back into a fresh state,
whose maps the caller may supply (the verifier's spill maps). Decoding is strict: a record
that is not canonical, a section out of order, a key given twice, a field of the wrong
type: each is an :class:`InputError` naming what is wrong. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Callable, Iterable, Iterator, MutableMapping

import msgpack

from ledger.core import canonical
from ledger.core.custody import LotState, RoomState
from ledger.core.duty import Coverage, Gap
from ledger.core.errors import InputError
from ledger.core.keys import PublicKey
from ledger.core.places import SiteState
from ledger.core.policy import PresencePolicy
from ledger.core.roster import Member
from ledger.core.rules import AuthoritySet
from ledger.core.state import Head, LedgerState
from ledger.core.whereabouts import Shift, Sighting, Whereabouts, whereabouts

# 2: rooms within sites, registered sites, duty coverage judged at each step (1: occupancy
# and duty timelines judged at the end); 3: the roster and key owners in key order, one
# entry a person or key (the view reads only the people a step names); 4: rooms, sites and
# rooms' duty coverage in key order, one entry each (a step reads the rooms and sites it
# names, not a province's). A state saved in an older format is refused, so the next run
# verifies everything again.
FORMAT = 5
RECORD_ENTRIES = 512  # entries per record: a lot with its step hashes is ~0.5 KiB
SECTIONS = ("roster", "key_owner", "rooms", "sites", "lots", "heads", "entered", "coverage",
            "gaps", "whereabouts")
# The keyed maps (per stream, person, room or site: a million entries, perhaps spilt to
# disk) are written in key order; the closed duty gaps in the order they closed.
# Every attribute of LedgerState this codec saves and restores (``policy`` is the last of
# ``policies``): a test holds it equal to the fold's attributes, so a new one cannot be
# forgotten by a resumed audit.
SAVED = frozenset({"ledger_id", "position", "recorded_at", "recorded_at_position", "latest",
                   "authorities", "policies", "policy", "log_keys", "witnesses", "time_zone",
                   *SECTIONS})
# The attributes of LedgerState made anew from the saved ones (``presence`` judges over the
# ``whereabouts``, ``rooms`` and ``sites`` it is given), never saved themselves.
DERIVED = frozenset({"presence"})
# The keyed maps, in SECTIONS order; the view keeps each of their entries in a row of its
# own (``encode_entry``), the scalars and the closed gaps (SMALL) in one, so a step reads the
# entries of the lots, people, rooms and sites it names, not a province's.
PER_STREAM = ("roster", "key_owner", "rooms", "sites", "lots", "heads", "entered", "coverage",
              "whereabouts")
SORTED = frozenset(PER_STREAM)
SMALL = tuple(section for section in SECTIONS if section not in SORTED)
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


class StateDamaged(InputError):
    """A saved state that is not the canonical encoding of a ledger state."""


# -- small typed converters ------------------------------------------------------------------


def _hash_out(text: str) -> bytes | str:
    """An event hash as 32 bytes (half the size of its hex); any other text as it is."""
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return text
        if raw.hex() == text:  # lowercase, no spaces: the one spelling it decodes back to
            return raw
    return text


def _hash_in(value: Any) -> str:
    if type(value) is bytes and len(value) == 32:
        return value.hex()
    if type(value) is str and not _HEX_HASH.fullmatch(value):
        return value  # a hash spelled as 64 hex digits must have been written as bytes
    raise StateDamaged(f"an event hash is {type(value).__name__} {value!r:.40}")


def _want(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if type(value) not in kinds:
        raise StateDamaged(f"{what} is a {type(value).__name__}, not "
                           f"{' or '.join(k.__name__ for k in kinds)}")
    return value


def _text(value: Any, what: str) -> str:
    if type(value) is not str:
        _want(value, str, what)
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        raise StateDamaged(f"{what} {value!r:.40} is not in Unicode NFC form")
    return value


def _opt_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _int(value: Any, what: str) -> int:
    return _want(value, int, what)


def _flag(value: Any, what: str) -> bool:
    return _want(value, bool, what)


def _texts(value: Any, what: str) -> list[str]:
    return [_text(item, what) for item in _want(value, list, what)]


def _fields(value: Any, count: int, what: str) -> list[Any]:
    if type(value) is not list or len(value) != count:
        raise StateDamaged(f"{what} is not a list of {count} fields")
    return value


# -- each kind of value -------------------------------------------------------------------------


def _member_out(m: Member) -> list[Any]:
    return [m.person_id, m.name, m.role, m.unit, m.public_key.raw, m.revoked, m.valid_until]


def _member_in(value: Any) -> Member:
    pid, name, role, unit, key, revoked, until = _fields(value, 7, "a roster entry")
    return Member(_text(pid, "person id"), _text(name, "name"), _text(role, "role"),
                  _text(unit, "unit"), PublicKey(_want(key, bytes, "public key")),
                  _flag(revoked, "revoked"), _opt_text(until, "valid_until"))


def _room_out(r: RoomState) -> list[Any]:
    return [r.room_id, r.name, r.licence, r.valid_from, r.valid_until, sorted(r.on_duty),
            r.last_occurred_at, r.within]


def _room_in(value: Any) -> RoomState:
    rid, name, licence, since, until, on_duty, last, within = _fields(value, 8, "a room")
    people = _texts(on_duty, "on duty")
    if people != sorted(set(people)):
        raise StateDamaged("a room's people on duty are not sorted and distinct")
    return RoomState(_text(rid, "room id"), _text(name, "room name"), _text(licence, "licence"),
                     _text(since, "valid_from"), _text(until, "valid_until"),
                     frozenset(people), _text(last, "last_occurred_at"),
                     _opt_text(within, "within"))


def _gap_out(g: Gap) -> list[Any]:
    return [g.room, g.start, g.position, sorted([pid, role] for pid, role in g.on_duty.items()),
            [g.policy["id"], g.policy["version"]], g.end]


def _gap_in(value: Any) -> Gap:
    room, start, position, people, policy, end = _fields(value, 6, "a duty gap")
    pairs = [_fields(pair, 2, "a person on duty") for pair in _want(people, list, "on duty")]
    if pairs != sorted(pairs) or len({pid for pid, _ in pairs}) != len(pairs):
        raise StateDamaged("a duty gap's people on duty are not sorted and distinct")
    policy_id, version = _fields(policy, 2, "a gap's policy")
    return Gap(_text(room, "room"), _text(start, "gap start"), _int(position, "position"),
               {_text(pid, "person id"): _text(role, "role") for pid, role in pairs},
               {"id": _text(policy_id, "policy id"), "version": _int(version, "version")},
               _opt_text(end, "gap end"))


def _site_in(site_id: Any, name: Any, within: Any) -> SiteState:
    return SiteState(_text(site_id, "site id"), _text(name, "site name"),
                     _opt_text(within, "within"))


def _coverage_in(held: Any, clock: Any, gap: Any) -> Coverage:
    return Coverage(_int(held, "lots held"), _text(clock, "coverage clock"),
                    None if gap is None else _gap_in(gap))


def _lot_out(s: LotState) -> list[Any]:
    return [s.lot_id, s.exam, s.subject, s.kind, s.count, list(s.seals), s.holder,
            s.last_occurred_at, s.last_type, s.location, s.steps, s.packed_in, s.unsealed,
            s.closed, [_hash_out(h) for h in s.hashes]]


_LOT_TEXTS = (0, 1, 2, 3, 7, 8, 9)  # the fields of a lot that are always text
_LOT_SHAPE = (str, str, str, str, int, list, (str, type(None)), str, str, str, int,
              (str, type(None)), bool, bool, list)


def _lot_in(value: Any) -> LotState:
    fields = _fields(value, 15, "a lot")
    for field, kind in zip(fields, _LOT_SHAPE):
        if type(field) is not kind and (type(kind) is not tuple or type(field) not in kind):
            raise StateDamaged(f"a lot has a {type(field).__name__} where it holds "
                               f"{kind.__name__ if type(kind) is type else 'text or nil'}")
    for index in _LOT_TEXTS:
        _text(fields[index], "a lot's text")
    (lot_id, exam, subject, kind, count, seals, holder, last, last_type, location, steps,
     packed_in, unsealed, closed, hashes) = fields
    return LotState(lot_id, exam, subject, kind, count, tuple(_texts(seals, "seals")),
                    _opt_text(holder, "holder"), last, last_type, location, steps,
                    _opt_text(packed_in, "packed_in"), unsealed, closed,
                    tuple(h.hex() if type(h) is bytes and len(h) == 32 else _hash_in(h)
                          for h in hashes))


def _whereabouts_out(w: Whereabouts) -> list[Any]:
    return [[[s.position, s.stream, s.type, s.occurred_at, s.location, s.place, s.moment]
             for s in w.sightings],
            [[h.room, h.started_at, h.position, h.location, h.ended_at] for h in w.shifts]]


def _whereabouts_in(sightings: Any, shifts: Any) -> Whereabouts:
    seen = []
    for entry in _want(sightings, list, "sightings"):
        position, stream, kind, occurred_at, location, place, moment = _fields(
            entry, 7, "a sighting")
        seen.append(Sighting(_int(position, "position"), _text(stream, "stream"),
                             _text(kind, "type"), _text(occurred_at, "occurred_at"),
                             _text(location, "location"), _text(place, "place"),
                             _int(moment, "moment")))
    duty = []
    for entry in _want(shifts, list, "shifts"):
        room, started_at, position, location, ended_at = _fields(entry, 5, "a shift")
        duty.append(Shift(_text(room, "room"), _text(started_at, "started_at"),
                          _int(position, "position"), _text(location, "location"),
                          _opt_text(ended_at, "ended_at")))
    return whereabouts(tuple(seen), tuple(duty))


def _policy_in(value: Any) -> PresencePolicy:
    try:
        return PresencePolicy.from_data(_want(value, dict, "a policy"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateDamaged(f"a policy is malformed ({type(exc).__name__}: {exc})") from None


# -- writing ----------------------------------------------------------------------------------


def _scalars(state: LedgerState) -> dict[str, Any]:
    return {
        "section": "scalars",
        "format": FORMAT,
        "ledger_id": state.ledger_id,
        "position": state.position,
        "recorded_at": state.recorded_at,
        "recorded_at_position": state.recorded_at_position,
        "latest": state.latest,
        "authorities": {"members": sorted(state.authorities.members),
                        "threshold": state.authorities.threshold},
        "policies": [[since, policy.to_data()] for since, policy in state.policies],
        "log_keys": list(state.log_keys),
        "witnesses": [_member_out(m) for _, m in sorted(state.witnesses.items())],
        "time_zone": state.time_zone,
    }


def _entries(state: LedgerState, section: str) -> Iterator[list[Any]]:
    assert section == "gaps", section  # every other section is keyed: _ENTRY_OUT
    return (_gap_out(g) for g in state.gaps)


_ENTRIES_KEY = canonical.repack("entries")
_SECTION_KEY = canonical.repack("section")
RECORD_BYTES = canonical.MAX_ENCODED // 2  # a record is closed once its entries reach this


def _pack(section: str, entries: list[bytes]) -> bytes:
    """A section record from its entries' canonical bytes: the map {"entries": [...],
    "section": NAME} (keys in order), each header in its shortest form, as msgpack packs it.

    Entries are lists of the fold's own values, every text taken from a canonically decoded
    event, so each is packed as it is (``canonical.repack``); the reader checks every field
    again. Entries a spill map still holds as they were read are written back unchanged."""
    count = len(entries)
    header = bytes([0x90 | count]) if count < 16 else b"\xdc" + count.to_bytes(2, "big")
    data = (b"\x82" + _ENTRIES_KEY + header + b"".join(entries) + _SECTION_KEY
            + canonical.repack(section))
    if len(data) > canonical.MAX_ENCODED:
        raise InputError(f"a {section} record is {len(data)} bytes, over the "
                         f"{canonical.MAX_ENCODED} limit; the state cannot be saved")
    return data


_ENTRY_OUT: dict[str, Callable[[str, Any], list[Any]]] = {
    "roster": lambda person, member: _member_out(member),
    "key_owner": lambda key, person: [key, person],
    "rooms": lambda room_id, room: _room_out(room),
    "sites": lambda site_id, site: [site.site_id, site.name, site.within],
    "lots": lambda stream, lot: [stream, _lot_out(lot)],
    "heads": lambda stream, h: [stream, h.seq, _hash_out(h.event_hash), h.occurred_at,
                                h.position],
    "entered": lambda stream, where: [stream, where[0], where[1]],
    "coverage": lambda room, c: [room, c.held, c.clock,
                                 None if c.gap is None else _gap_out(c.gap)],
    "whereabouts": lambda person, w: [person, *_whereabouts_out(w)],
}


def _encoded_entries(state: LedgerState, section: str) -> Iterator[bytes]:
    if section not in SORTED:
        yield from (canonical.repack(entry) for entry in _entries(state, section))
        return
    mapping = getattr(state, section)
    encoded = getattr(mapping, "sorted_encoded", None)
    items = (encoded() if encoded is not None
             else ((key, value, None) for key, value in sorted(mapping.items())))
    out = _ENTRY_OUT[section]
    for key, value, blob in items:
        yield blob if blob is not None else canonical.repack(out(key, value))


def state_records(state: LedgerState, per_record: int = RECORD_ENTRIES,
                  sections: Iterable[str] = SECTIONS) -> Iterator[bytes]:
    """Yield the canonical records of ``state``: the scalars, then each section in chunks
    (only those of ``sections``, a part of SECTIONS in its order: the view saves the
    per-stream ones entry by entry, ``encode_entry``)."""
    yield canonical.encode(_scalars(state))
    for section in sections:
        chunk: list[bytes] = []
        size = 0
        for entry in _encoded_entries(state, section):
            chunk.append(entry)
            size += len(entry)
            if len(chunk) >= per_record or size >= RECORD_BYTES:
                yield _pack(section, chunk)
                chunk, size = [], 0
        if chunk:
            yield _pack(section, chunk)


def encode_state(state: LedgerState) -> list[bytes]:
    """All of :func:`state_records` as a list (small states, tests)."""
    return list(state_records(state))


def encode_entry(section: str, key: str, value: Any) -> bytes:
    """One entry of a per-stream section (``PER_STREAM``), canonical, as its records hold it."""
    return canonical.repack(_ENTRY_OUT[section](key, value))


def entry_codec(section: str) -> dict[str, Callable[..., Any]]:
    """``encode`` and ``decode`` of one per-stream section's entries, as a map that spills
    them to disk takes them (``SpillMap``): the saved state's compact, checked encoding."""
    return {"encode": lambda key, value: encode_entry(section, key, value),
            "decode": lambda blob: decode_entry(section, blob)}


def decode_entry(section: str, blob: bytes) -> Any:
    """The value of one entry :func:`encode_entry` wrote, every field checked; anything else
    raises :class:`StateDamaged` naming the entry and what is wrong with it."""
    what, count, build = _ENTRY_FIELDS[section]
    try:
        value = msgpack.unpackb(blob, raw=False, strict_map_key=True, ext_hook=_no_extension)
    except StateDamaged:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise StateDamaged(f"a {what} is not valid msgpack: {exc}") from None
    return build(_fields(value, count, what))


# -- reading ----------------------------------------------------------------------------------


class StateReader:
    """Folds the records of :func:`state_records`, in order, back into a :class:`LedgerState`.

    ``maps``: the (empty) per-stream maps the new state is to use, by section name
    (``PER_STREAM``; any not given is a dict); the reader fills them entry by entry, so a
    large state is never held twice in memory."""

    def __init__(self, **maps: MutableMapping[str, Any]) -> None:
        self.state = LedgerState(**maps)
        self._section = -1  # index into SECTIONS; -1: the scalars are next
        self._seen: set[str] = set()  # keys of the current section (none may repeat)
        self._last: str | None = None  # the last key of a sorted section

    def add(self, record: bytes) -> None:
        """Decode and fold the next record; raise :class:`StateDamaged` if it is not one."""
        try:
            value = (canonical.decode(record) if self._section < 0
                     else _decode_entries(record))
        except InputError as exc:
            raise StateDamaged(f"a record is not canonical: {exc}") from None
        if type(value) is not dict or type(value.get("section")) is not str:
            raise StateDamaged("a record is not a map naming its section")
        try:
            if self._section < 0:
                self._scalars(value)
                self._section = 0
                return
            self._entries(value, record)
        except StateDamaged:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateDamaged(f"section {value['section']!r} is malformed "
                               f"({type(exc).__name__}: {exc})") from None
        except InputError as exc:  # e.g. a public key that is not one
            raise StateDamaged(f"section {value['section']!r} holds a bad value: {exc}") from None

    def finish(self) -> LedgerState:
        """The state read; refuse a record sequence that stopped before its scalars."""
        if self._section < 0:
            raise StateDamaged("the saved state has no scalars record")
        return self.state

    def _scalars(self, value: dict[str, Any]) -> None:
        want = {"section", "format", "ledger_id", "position", "recorded_at",
                "recorded_at_position", "latest", "authorities", "policies", "log_keys",
                "witnesses", "time_zone"}
        if value["section"] != "scalars" or set(value) != want:
            raise StateDamaged("the first record is not the state's scalars")
        if value["format"] != FORMAT:
            raise StateDamaged(f"state format {value['format']!r} is not {FORMAT}")
        s = self.state
        s.ledger_id = _opt_text(value["ledger_id"], "ledger id")
        s.position = _int(value["position"], "position")
        s.recorded_at = _text(value["recorded_at"], "recorded_at")
        s.recorded_at_position = _int(value["recorded_at_position"], "recorded_at_position")
        s.latest = _text(value["latest"], "latest")
        authorities = _want(value["authorities"], dict, "the authority set")
        if set(authorities) != {"members", "threshold"}:
            raise StateDamaged("the authority set is malformed")
        s.authorities = AuthoritySet(frozenset(_texts(authorities["members"], "authority")),
                                     _int(authorities["threshold"], "threshold"))
        for entry in _want(value["policies"], list, "the policies"):
            since, policy = _fields(entry, 2, "a policy entry")
            s.policies.append((_text(since, "policy start"), _policy_in(policy)))
        s.policy = s.policies[-1][1] if s.policies else None
        s.log_keys = _texts(value["log_keys"], "log keys")
        s.time_zone = _opt_text(value["time_zone"], "time zone")
        for entry in _want(value["witnesses"], list, "the genesis's witnesses"):
            witness = _member_in(entry)
            if witness.person_id in s.witnesses:
                raise StateDamaged(f"witness {witness.person_id} is saved twice")
            s.witnesses[witness.person_id] = witness

    def _entries(self, value: dict[str, Any], record: bytes) -> None:
        if set(value) != {"section", "entries"}:
            raise StateDamaged(f"record of section {value['section']!r} is malformed")
        section = value["section"]
        if section not in SECTIONS:
            raise StateDamaged(f"unknown section {section!r}")
        index = SECTIONS.index(section)
        if index < self._section:
            raise StateDamaged(f"section {section!r} comes after {SECTIONS[self._section]!r}")
        if index > self._section:
            self._section, self._seen, self._last = index, set(), None
        entries = _want(value["entries"], list, f"{section} entries")
        if not entries:
            raise StateDamaged(f"a record of section {section!r} holds no entries")
        target = getattr(self.state, section) if section in SORTED else None
        if hasattr(target, "load_encoded"):
            self._load_encoded(section, entries, record, target)
            return
        fold = _FOLDS[section]
        ordered = section in SORTED
        for entry in entries:
            key = fold(self, entry)
            if key is None:
                continue
            if ordered:  # the per-stream maps: keys strictly rising, so none repeats
                if self._last is not None and key <= self._last:
                    raise StateDamaged(f"{section} names {key!r} out of order or twice")
                self._last = key
            elif key in self._seen:
                raise StateDamaged(f"{section} names {key!r} twice")
            else:
                self._seen.add(key)

    def _load_encoded(self, section: str, entries: list[Any], record: bytes,
                      target: Any) -> None:
        """A per-stream section into a map that spills to disk: the keys are checked now
        (text, rising), each entry's canonical bytes go to disk as they are, and its fields
        are checked when the run first reads it (``_ENTRY_IN``)."""
        keys = []
        for entry in entries:
            if type(entry) is not list or not entry:
                raise StateDamaged(f"a {section} entry is not a list")
            key = _text(entry[0], "a stream")
            if self._last is not None and key <= self._last:
                raise StateDamaged(f"{section} names {key!r} out of order or twice")
            self._last = key
            keys.append(key)
        target.load_encoded(zip(keys, _entry_bytes(record, len(keys))), _ENTRY_IN[section])

    # Each returns the entry's key (which must not repeat in its section), or None.

    def _roster(self, entry: Any) -> str:
        member = _member_in(entry)
        self.state.roster[member.person_id] = member
        return member.person_id

    def _key_owner(self, entry: Any) -> str:
        key, pid = _fields(entry, 2, "a key owner")
        self.state.key_owner[_text(key, "key id")] = _text(pid, "person id")
        return key

    def _rooms(self, entry: Any) -> str:
        room = _room_in(entry)
        self.state.rooms[room.room_id] = room
        return room.room_id

    def _lots(self, entry: Any) -> str:
        stream, lot = _fields(entry, 2, "a lot entry")
        self.state.lots[_text(stream, "lot stream")] = _lot_in(lot)
        return stream

    def _heads(self, entry: Any) -> str:
        fields = _fields(entry, 5, "a head")
        self.state.heads[_text(fields[0], "stream")] = _head_in(fields)
        return fields[0]

    def _entered(self, entry: Any) -> str:
        stream, room, since = _fields(entry, 3, "a lot in a room")
        self.state.entered[_text(stream, "lot stream")] = (_text(room, "room"),
                                                           _text(since, "since"))
        return stream

    def _whereabouts(self, entry: Any) -> str:
        person, sightings, shifts = _fields(entry, 3, "a person's whereabouts")
        self.state.whereabouts[_text(person, "person id")] = _whereabouts_in(sightings, shifts)
        return person

    def _sites(self, entry: Any) -> str:
        site = _site_in(*_fields(entry, 3, "a site"))
        self.state.sites[site.site_id] = site
        return site.site_id

    def _coverage(self, entry: Any) -> str:
        room, held, clock, gap = _fields(entry, 4, "a room's duty coverage")
        self.state.coverage[_text(room, "room")] = _coverage_in(held, clock, gap)
        return room

    def _gaps(self, entry: Any) -> None:
        self.state.gaps.append(_gap_in(entry))


def _decode_entries(record: bytes) -> Any:
    """A section record, strictly: the shortest msgpack form (packed again, the same bytes),
    a map of exactly "entries" then "section", no extension types; every field inside is
    then checked by type (text in NFC) as it is folded, so this is as strict as
    ``canonical.decode`` without walking the values twice."""
    if len(record) > canonical.MAX_ENCODED:
        raise StateDamaged(f"a record of {len(record)} bytes is over the limit")
    try:
        value = msgpack.unpackb(record, raw=False, use_list=True, strict_map_key=True,
                                ext_hook=_no_extension)
    except StateDamaged:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise StateDamaged(f"a record is not valid msgpack: {exc}") from None
    if type(value) is not dict or list(value) != ["entries", "section"]:
        raise StateDamaged("a section record is not a map of its entries and section")
    if canonical.repack(value) != record:
        raise StateDamaged("a record is not the canonical encoding of its value")
    return value


def _entry_bytes(record: bytes, count: int) -> list[bytes]:
    """The canonical bytes of each entry of a section record (checked canonical already)."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, ext_hook=_no_extension,
                                max_buffer_size=len(record) + 1)
    unpacker.feed(record)
    unpacker.read_map_header()
    unpacker.skip()  # "entries"
    if unpacker.read_array_header() != count:
        raise StateDamaged("a record's entries do not match its value")
    spans = []
    for _ in range(count):
        start = unpacker.tell()
        unpacker.skip()
        spans.append(record[start:unpacker.tell()])
    return spans


def _head_in(entry: list[Any]) -> Head:
    """A stream's head from its entry's fields (stream, step, event hash, occurred_at,
    position)."""
    return Head(_int(entry[1], "step"), _hash_in(entry[2]), _text(entry[3], "occurred_at"),
                _int(entry[4], "position"))


# section -> (what an entry is, its field count, its value from its fields)
_ENTRY_FIELDS: dict[str, tuple[str, int, Callable[[list[Any]], Any]]] = {
    "roster": ("roster entry", 7, _member_in),
    "key_owner": ("key owner", 2, lambda e: _text(e[1], "person id")),
    "rooms": ("room", 8, _room_in),
    "sites": ("site", 3, lambda e: _site_in(*e)),
    "lots": ("lot entry", 2, lambda e: _lot_in(e[1])),
    "heads": ("head", 5, _head_in),
    "entered": ("lot in a room", 3, lambda e: (_text(e[1], "room"), _text(e[2], "since"))),
    "coverage": ("room's duty coverage", 4, lambda e: _coverage_in(*e[1:])),
    "whereabouts": ("person's whereabouts", 3, lambda e: _whereabouts_in(e[1], e[2])),
}


def _entry_in(section: str) -> Callable[[bytes], Any]:
    """A decoder of one per-stream entry read back from the spill file, checking each field;
    a bad one is refused with the remedy, as the file it came from would have been."""
    what = _ENTRY_FIELDS[section][0]

    def decode(blob: bytes) -> Any:
        try:
            return decode_entry(section, blob)
        except StateDamaged as exc:
            raise StateDamaged(f"the saved audit state holds a damaged {what} ({exc}); delete "
                               "the --state directory or run without --state") from None
    return decode


_ENTRY_IN: dict[str, Callable[[bytes], Any]] = {section: _entry_in(section)
                                                for section in PER_STREAM}


def _no_extension(code: int, data: bytes) -> Any:
    raise StateDamaged(f"a record holds a msgpack extension (type {code})")


_FOLDS: dict[str, Callable[[StateReader, Any], str | None]] = {
    name: getattr(StateReader, f"_{name}") for name in SECTIONS}


def decode_state(records: Iterable[bytes], **maps: Any) -> LedgerState:
    """Fold ``records`` (as :func:`state_records` made them) into a new state."""
    reader = StateReader(**maps)
    for record in records:
        reader.add(record)
    return reader.finish()
