"""The commands only an authority signs: the genesis, the roster (enrol, revoke, rotate),
the registered rooms and sites, the presence policy, the log key and the authority set.

Each is checked against the ledger as it stands before any key is used, then signed by the
authority (or by the authority set's threshold) and submitted like any step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from ledger.application.keystore import Signer
from ledger.application.names import unknown_in_log
from ledger.application.recording import (
    Recording,
    Signers,
    envelope,
    signed,
    signer_streams,
    signers_of,
)
from ledger.application.submitting import Receipt
from ledger.core.errors import InputError, KeyringError
from ledger.core.keys import PublicKey
from ledger.core.policy import PresencePolicy
from ledger.core.state import LedgerState
from ledger.domain.aggregates import LEDGER_STREAM, person_stream, room_stream, site_stream
from ledger.domain.schemas import schema_version

Authorities = Signers  # who signs an authority event


class AuthorityCommands(Recording):
    """The authority's commands, for ``CustodyLedger``."""

    def init(self, ledger_id: str, authority: Mapping[str, str], signer: Signer,
             policy: PresencePolicy, occurred_at: datetime,
             witnesses: Mapping[str, PublicKey] | None = None,
             time_zone: str | None = None) -> Receipt:
        """Write the genesis: the ledger id, the authority (who signs it), the policy, any
        ``witnesses`` (name -> key) whose cosignatures of checkpoints count from the start,
        and the ``time_zone`` its times are shown in (an IANA name or ``+HH:MM``)."""
        state, _ = self.state()
        if state.ledger_id is not None or state.head(LEDGER_STREAM) is not None:
            raise InputError(f"{self.backend.label} already holds ledger {state.ledger_id}; "
                             "use another --db for a new ledger")
        if signer.person_id != authority["id"]:
            raise KeyringError(
                f"the authority key file belongs to {signer.person_id}, not {authority['id']}"
            )
        person = {**authority, "role": "authority", "public_key": signer.key.public_key.hex}
        body = envelope(ledger_id, LEDGER_STREAM, None, "ledger.genesis", occurred_at)
        body.update(authority=person, policy=policy.to_data())
        if witnesses:
            body["witnesses"] = genesis_witnesses(ledger_id, person, witnesses)
        if time_zone is not None:
            body["time_zone"] = time_zone
        body["schema"] = schema_version(body)
        return self.submit(body, signed(body, [signer]))

    def enrol(self, person: Mapping[str, str], public_key: PublicKey, signer: Authorities,
              occurred_at: datetime) -> Receipt:
        """Enrol a person with a role, unit and public key; signed by an authority."""
        stream = person_stream(person["id"])
        if person["role"] == "authority":
            raise InputError(f"{person['id']}: the authority set is the one source of "
                             "authority, and an enrolled 'authority' could sign nothing an "
                             "authority signs; name them in a new set instead ('custody "
                             f"authority set ... {person['id']}=PUBFILE ...')")
        state = self._writable([stream, *signer_streams(signer)], roster=True)
        if state.member(person["id"]) is not None or state.head(stream) is not None:
            raise InputError(f"person {person['id']} is already enrolled")
        if person["id"] in state.witnesses:
            raise InputError(f"{person['id']} is a witness the genesis named; enrol the "
                             "person under another id")
        owner = state.key_owner.get(public_key.id)
        if owner is not None:
            raise InputError(f"public key {public_key.id[:16]} is already enrolled for {owner}; "
                             "every person needs a key of their own ('custody keys new')")
        return self._authority_event(state, stream, "person.enrolled",
                                     {"person": {**person, "public_key": public_key.hex}},
                                     signer, occurred_at)

    def revoke_key(self, person_id: str, reason: str, signer: Authorities,
                   occurred_at: datetime) -> Receipt:
        """Revoke a person's key; signed by an authority. Nothing signed by it counts after."""
        state = self._enrolled(person_id, signer)
        return self._authority_event(state, person_stream(person_id), "person.key_revoked",
                                     {"reason": reason}, signer, occurred_at)

    def rotate_key(self, person_id: str, public_key: PublicKey, signer: Authorities,
                   occurred_at: datetime) -> Receipt:
        """Give a person a new key; signed by an authority. Only the new key counts after."""
        state = self._enrolled(person_id, signer)
        owner = state.key_owner.get(public_key.id)
        if owner is not None and owner != person_id:
            raise InputError(f"public key {public_key.id[:16]} is already enrolled for {owner}; "
                             "every person needs a key of their own ('custody keys new')")
        return self._authority_event(state, person_stream(person_id), "person.key_rotated",
                                     {"public_key": public_key.hex}, signer, occurred_at)

    def _enrolled(self, person_id: str, signer: Authorities) -> LedgerState:
        state = self._writable([person_stream(person_id), *signer_streams(signer)],
                               roster=True)
        if person_id in state.authorities.members:
            raise InputError(f"{person_id} is in the authority set, which only a new "
                             f"authority set changes: {_rekeying(state, person_id)}")
        if state.member(person_id) is None:
            raise unknown_in_log(self, "person", person_id)
        return state

    def register_room(self, room: Mapping[str, Any], signer: Authorities,
                      occurred_at: datetime) -> Receipt:
        """Register a licensed secure room (perhaps within a registered site); signed by an
        authority."""
        stream = room_stream(room["id"])
        within = [site_stream(room["within"])] if room.get("within") else []
        state = self._writable([stream, *within, *signer_streams(signer)])
        if state.head(stream) is not None:
            raise InputError(f"room {room['id']} is already registered")
        if room["valid_from"] > room["valid_until"]:
            raise InputError(f"room {room['id']}: the licence ends before it starts")
        _check_within(state, room)
        return self._authority_event(state, stream, "room.registered", {"room": dict(room)},
                                     signer, occurred_at)

    def register_site(self, site: Mapping[str, Any], signer: Authorities,
                      occurred_at: datetime) -> Receipt:
        """Register a site steps happen at (a printing house, an exam site or room, a marking
        or scanning centre), perhaps within another site; signed by an authority."""
        stream = site_stream(site["id"])
        within = [site_stream(site["within"])] if site.get("within") else []
        state = self._writable([stream, *within, *signer_streams(signer)])
        if state.head(stream) is not None:
            raise InputError(f"site {site['id']} is already registered")
        _check_within(state, site)
        return self._authority_event(state, stream, "site.registered", {"site": dict(site)},
                                     signer, occurred_at)

    def set_policy(self, policy: PresencePolicy, signer: Authorities,
                   occurred_at: datetime) -> Receipt:
        """Put a new version of the presence policy in force; signed by an authority."""
        state = self._writable(signer_streams(signer))
        return self._authority_event(state, LEDGER_STREAM, "ledger.policy_set",
                                     {"policy": policy.to_data()}, signer, occurred_at)

    def set_log_key(self, public_key: PublicKey, signer: Authorities,
                    occurred_at: datetime) -> Receipt:
        """Name the Ed25519 key that signs the log's checkpoints; signed by an authority."""
        state = self._writable(signer_streams(signer))
        if state.log_keys and state.log_keys[-1] == public_key.hex:
            raise InputError(f"key {public_key.id[:16]} is already the log key of this ledger")
        return self._authority_event(state, LEDGER_STREAM, "ledger.log_key_set",
                                     {"log_key": public_key.hex}, signer, occurred_at)

    def set_authorities(self, authorities: Sequence[Mapping[str, str]], threshold: int,
                        signers: Sequence[Signer], occurred_at: datetime) -> Receipt:
        """Replace the authority set (as TUF rotates its root): signed by the threshold of the
        current set and by the threshold of the new one, whose keys are named in the event."""
        state = self._writable([person_stream(s.person_id) for s in signers], roster=True)
        if not 1 <= threshold <= len(authorities):
            raise InputError(f"--threshold {threshold} must be between 1 and the number of "
                             f"authorities named ({len(authorities)})")
        for entry in authorities:
            owner = state.key_owner.get(PublicKey.from_hex(entry["public_key"]).id)
            if owner is not None and owner != entry["id"]:
                raise InputError(f"the key named for {entry['id']} is already enrolled for "
                                 f"{owner}; every person needs a key of their own")
        named = {entry["id"]: entry["public_key"] for entry in authorities}
        for signer in signers:
            member = state.member(signer.person_id)
            new_key = named.get(signer.person_id)
            if member is not None and new_key not in (None, member.public_key.hex):
                if signer.key.public_key.hex != new_key:  # a member re-keyed by this set
                    raise KeyringError(
                        f"{signer.person_id} is named with a new key: sign with that key's "
                        "file (it proves you hold it); the current set's threshold signs "
                        "with the keys it holds")
            elif member is not None and signer.person_id in state.authorities.members:
                self._signer_member(state, signer)
        body = envelope(state.ledger_id or "", LEDGER_STREAM, state.head(LEDGER_STREAM),
                        "ledger.authority_set", occurred_at)
        body.update(authorities=[{**e, "role": "authority"} for e in authorities],
                    threshold=threshold)
        return self.submit(body, signed(body, signers))

    def _authority_event(self, state: LedgerState, stream: str, event_type: str,
                         fields: Mapping[str, Any], signer: Authorities,
                         occurred_at: datetime) -> Receipt:
        signers = signers_of(signer)
        for one in signers:
            self._signer_member(state, one)
        body = envelope(self.ledger(state).ledger_id, stream, state.head(stream), event_type,
                        occurred_at)
        body.update(fields)
        body["schema"] = schema_version(body)
        return self.submit(body, signed(body, signers))


def genesis_witnesses(ledger_id: str, authority: Mapping[str, str],
                      witnesses: Mapping[str, PublicKey]) -> list[dict[str, str]]:
    """The genesis's ``witnesses`` list, refusing (InputError) a name that is the ledger's
    or the authority's, or a key that is the authority's or another witness's."""
    entries = []
    keys = {authority["public_key"]: f"the authority {authority['id']}"}
    for name, key in witnesses.items():
        if name in (ledger_id, authority["id"]):
            whose = "the ledger id (the log key's name)" if name == ledger_id else \
                "the authority's id"
            raise InputError(f"--witness {name}: {name} is {whose}; name the witness "
                             "otherwise")
        if key.hex in keys:
            raise InputError(f"--witness {name}: its key is already {keys[key.hex]}'s; every "
                             "witness needs a key of its own ('custody keys new')")
        keys[key.hex] = f"witness {name}"
        entries.append({"id": name, "public_key": key.hex})
    return entries


def _rekeying(state: LedgerState, person_id: str) -> str:
    """The command that gives authority ``person_id`` a new key: the current set again, with
    the new key for them, signed by the threshold of the others and by them with the new key."""
    members = sorted(state.authorities.members)
    others = [m for m in members if m != person_id]
    needed = state.authorities.threshold
    named = " ".join(f"{m}=NEW.key.pub" if m == person_id else f"{m}={m}.key.pub"
                     for m in members)
    signs = " ".join([*(f"--sign {m}.key" for m in others[:needed]), "--sign NEW.key"])
    if len(others) < needed:
        return (f"the threshold ({needed}) of the current set must sign without "
                f"{person_id}'s old key, so first name a set with more members "
                f"(custody authority set {' '.join(f'{m}={m}.key.pub' for m in members)} "
                f"AUTH-NN=AUTHNN.key.pub ... --sign ...), then run: custody authority set "
                f"{named} --threshold {needed} --sign ... --sign NEW.key")
    return (f"custody authority set {named} --threshold {needed} {signs} (the current set's "
            f"threshold signs with the keys it holds; {person_id} signs with the new key)")


def _check_within(state: LedgerState, entry: Mapping[str, Any]) -> None:
    """Refuse a room or site registered within a site that is not registered."""
    within = entry.get("within")
    if within is not None and within not in state.sites:
        raise InputError(f"--within {within}: no site {within} is registered; register it "
                         "first ('custody site register')")
