"""The roster: who is enrolled, with which role and key — as a pure fold over events.

Roles counted by the presence policy come from here, never from what an event claims.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ledger.core.keys import PublicKey

# The role that may cosign checkpoints (and that witnesses the genesis names are given).
WITNESS_ROLE = "inspector"


@dataclass(frozen=True)
class Member:
    """One enrolled person as the roster knows them at some position."""

    person_id: str
    name: str
    role: str
    unit: str
    public_key: PublicKey
    revoked: bool = False
    valid_until: str | None = None  # canonical timestamp; None: valid until revoked


def member_from(person: Mapping[str, Any]) -> Member:
    """Build a member from the ``person`` map of a genesis or enrolment body."""
    return Member(
        person_id=person["id"],
        name=person["name"],
        role=person["role"],
        unit=person["unit"],
        public_key=PublicKey.from_hex(person["public_key"]),
        valid_until=person.get("valid_until"),
    )


Lookup = Callable[[str], "Member | None"]


def member_after(member: Member, body: Mapping[str, Any]) -> Member:
    """A member after an authority's key revocation or rotation."""
    if body["type"] == "person.key_revoked":
        return replace(member, revoked=True)
    if body["type"] == "person.key_rotated":
        return replace(member, public_key=PublicKey.from_hex(body["public_key"]), revoked=False)
    return member


def witnesses_named(body: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """(witness id, raw key) for each witness a schema-valid genesis names (none for any
    other event, or a genesis from before witnesses could be named).

    They cosign checkpoints only: they are not enrolled, hold no role in any step, and are
    not in :func:`keys_named`. The raw bytes are not checked here."""
    if body["type"] != "ledger.genesis":
        return []
    return [(w["id"], bytes.fromhex(w["public_key"])) for w in body.get("witnesses", ())]


def keys_named(body: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """(person id, raw key) for each key a schema-valid genesis, enrolment, rotation or
    authority set (``kinds.KEY_EVENTS``) puts in the roster; none for any other event.

    The raw bytes are not checked here: :class:`PublicKey` and ``keys.key_defect`` do that."""
    event_type = body["type"]
    if event_type == "ledger.genesis":
        return [(body["authority"]["id"], bytes.fromhex(body["authority"]["public_key"]))]
    if event_type == "person.enrolled":
        return [(body["person"]["id"], bytes.fromhex(body["person"]["public_key"]))]
    if event_type == "person.key_rotated":
        return [(body["stream"].split(":", 1)[1], bytes.fromhex(body["public_key"]))]
    if event_type == "ledger.authority_set":
        return [(e["id"], bytes.fromhex(e["public_key"])) for e in body["authorities"]]
    return []
