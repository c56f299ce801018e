"""Recording a co-signed step: draft its body against the stream's head, have everyone
present sign it (on this terminal, or each on their own from a draft file), submit it.

A draft is pinned to the head it was drafted at, and names every attendee with the role
the roster gives them; ``check_draft`` refuses a draft ``submit`` would refuse, so nobody
signs one that was edited or has gone stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from ledger.application.keystore import Signer
from ledger.application.names import unknown_in_log
from ledger.application.reading import party_stream, referenced
from ledger.application.standing import standing
from ledger.application.submitting import RETRIES, Receipt, Submitting, recorder_warnings
from ledger.core import canonical, digests
from ledger.core.custody import is_person
from ledger.core.errors import ConcurrentChange, InputError, KeyringError, PolicyViolation
from ledger.core.kinds import STARTING_STEPS
from ledger.core.findings import Finding
from ledger.core.roster import Member, keys_named
from ledger.core.rules import ALL_VALID
from ledger.core.state import Head, LedgerState
from ledger.domain.aggregates import check_event, lot_stream, person_stream
from ledger.domain.schemas import schema_version

Signers = Signer | Sequence[Signer]  # one signer, or several


class Recording(Submitting):
    """Drafting, co-signing and recording steps, for ``CustodyLedger``."""

    def draft_step(self, stream: str, event_type: str, fields: Mapping[str, Any],
                   location: str, attendees: Sequence[str], occurred_at: datetime, *,
                   acknowledge: str | None = None, note: str | None = None,
                   evidence: Sequence[str] = (), place: str | None = None) -> dict[str, Any]:
        """Build the unsigned body of a co-signed step, pinned to the stream's current head."""
        return self._draft(stream, event_type, fields, location, attendees, occurred_at,
                           acknowledge=acknowledge, note=note, evidence=evidence,
                           place=place)[0]

    def _draft(self, stream: str, event_type: str, fields: Mapping[str, Any],
               location: str, attendees: Sequence[str], occurred_at: datetime, *,
               acknowledge: str | None = None, note: str | None = None,
               evidence: Sequence[str] = (), place: str | None = None
               ) -> tuple[dict[str, Any], LedgerState]:
        """The drafted body, and the state it was drafted against (which holds every
        attendee's roster entry: signing on this terminal reuses it). ``place``: the
        registered ``room:ID`` or ``site:ID`` the step happens at (``location`` is then the
        detail within it)."""
        parties = [p for p in (fields.get(o) for o in ("from", "to", "holder")) if p]
        state = standing(self, [stream, *(person_stream(p) for p in attendees),
                                *(party_stream(p) for p in parties),
                                *([place] if place else [])]).state
        if place is not None:
            kind, _, name = place.partition(":")
            if (state.room(name) if kind == "room" else state.sites.get(name)) is None:
                what = "secure room" if kind == "room" else "site"
                raise InputError(f"--place {place}: no {what} {name} is registered; register "
                                 f"it first ('custody {kind} register'), or give only "
                                 "--location")
        ledger = self.ledger(state)
        head = state.head(stream)
        starts = event_type in STARTING_STEPS
        if starts and head is not None:
            kind = stream.split(":", 1)[0]
            raise InputError(f"{kind} {stream.split(':', 1)[1]} is already registered"
                             if kind == "lot" else f"{stream} already exists")
        if not starts and head is None:
            kind, name = stream.split(":", 1)
            raise unknown_in_log(self, kind, name)
        for option in ("from", "to", "holder"):
            party = fields.get(option)
            if party is not None and is_person(party) and state.member(party) is None:
                raise unknown_in_log(self, "person", party, f"--{option}")
        if "from" in fields and fields.get("from") == fields.get("to"):
            raise InputError(f"--from and --to are both {fields['from']}; a step needs two parties")
        roles = []
        for person_id in attendees:
            member = state.member(person_id)
            if member is None:
                raise unknown_in_log(self, "person", person_id, "attendee")
            roles.append({"person": person_id, "role": member.role})
        if len({a["person"] for a in roles}) != len(roles):
            twice = sorted({p for p in attendees if list(attendees).count(p) > 1})
            raise InputError(f"{', '.join(twice)} signs twice; each person signs once")
        body = envelope(ledger.ledger_id, stream, head, event_type, occurred_at)
        body.update(fields)
        body.update(location=location, attendees=sorted(roles, key=lambda a: a["person"]),
                    policy=ledger.policy.ref)
        if place is not None:
            body["place"] = place
        body["schema"] = schema_version(body)
        if acknowledge is not None:
            body["acknowledged_violation"] = {"reason": acknowledge}
        if note:
            body["note"] = note
        if evidence:
            body["evidence"] = sorted(set(evidence))
        check_event(body)
        return body, state

    def check_draft(self, body: Mapping[str, Any]) -> list[Finding]:
        """Refuse a drafted step that ``submit`` would refuse against the ledger as it stands,
        judged as if everyone listed had signed; return what ``verify`` would report at its
        position (its warnings, and a duty gap it would open).

        So nobody signs an edited or stale draft: a changed count or seal, a holder that is
        not the holder, a head that moved, an attendee whose role was changed."""
        check_event(body)
        assumed = {a["person"]: b"" for a in body.get("attendees", [])}
        for _ in range(RETRIES):
            now = standing(self, referenced(body, {}), roster=bool(keys_named(body)))
            recorded_at = self._recorded_at(now.state)
            try:
                findings = self._judge(now.state, now.head + 1, body, assumed, recorded_at,
                                       ALL_VALID)
            except (PolicyViolation, ConcurrentChange):
                if now.moved():
                    continue  # another writer's step was folded in as this was read
                raise
            return findings if now.whole else recorder_warnings(findings)
        raise ConcurrentChange(f"the ledger kept changing while this draft was checked "
                               f"({RETRIES} tries); try again")

    def sign(self, body: Mapping[str, Any], signer: Signer) -> bytes:
        """One attendee's signature over a schema-valid body (drafted here, or parsed from a
        draft file), after checking the signer is who the roster says."""
        check_event(body)
        self._signer_member(self._writable([person_stream(signer.person_id)]), signer)
        if signer.person_id not in {a["person"] for a in body.get("attendees", [])}:
            raise InputError(f"{signer.person_id} is not among this step's attendees; "
                             "only people present sign")
        return signer.key.sign(digests.signing_digest(body))

    def record(self, body: dict[str, Any], signers: Sequence[Signer]) -> Receipt:
        """Sign a drafted body with every signer present and submit it."""
        return self.submit(body, self._sign_here(body, signers))

    def _sign_here(self, body: Mapping[str, Any], signers: Sequence[Signer],
                   state: LedgerState | None = None) -> dict[str, bytes]:
        """Everyone present signs on this terminal: each must be listed and hold their key
        (in ``state``, when the caller has just read it with their roster entries)."""
        listed = {a["person"] for a in body.get("attendees", [])}
        state = state or self._writable(signer_streams(signers))
        for signer in signers:
            if signer.person_id not in listed:
                raise InputError(f"{signer.person_id} is not among this step's attendees")
            self._signer_member(state, signer)
        digest = digests.signing_digest(body)
        return {s.person_id: s.key.sign(digest) for s in signers}

    def record_step(self, stream: str, event_type: str, fields: Mapping[str, Any],
                    location: str, occurred_at: datetime, signers: Sequence[Signer],
                    **options: Any) -> Receipt:
        """Draft a step with the signers as attendees, sign it on this terminal, submit it."""
        if not signers:
            raise InputError("nobody signed: give at least one --sign KEYFILE")
        body, state = self._draft(stream, event_type, fields, location,
                                  [s.person_id for s in signers], occurred_at, **options)
        return self.submit(body, self._sign_here(body, signers, state))

    def register_lot(self, lot: Mapping[str, Any], location: str, occurred_at: datetime,
                     signers: Sequence[Signer], holder: str, **options: Any) -> Receipt:
        """Register a sealed lot (or a container) with its first holder, co-signed by the
        people present."""
        fields: dict[str, Any] = {"lot": dict(lot), "holder": holder}
        return self.record_step(lot_stream(lot["id"]), "lot.registered", fields, location,
                                occurred_at, signers, **options)

    def record_handover(self, lot_id: str, giver: str, receiver: str, location: str,
                        seals: Sequence[str], count: int, occurred_at: datetime,
                        signers: Sequence[Signer], **options: Any) -> Receipt:
        """Record custody passing from ``giver`` to ``receiver``, co-signed by all present."""
        fields = {"from": giver, "to": receiver, "seals_checked": sorted(seals),
                  "count_checked": count}
        return self.record_step(lot_stream(lot_id), "lot.handed_over", fields, location,
                                occurred_at, signers, **options)

    def pack(self, container: str, lot_ids: Sequence[str], unpack: bool, location: str,
             occurred_at: datetime, signers: Sequence[Signer], **options: Any) -> list[Receipt]:
        """Pack lots into (or unpack them from) a container, all in one transaction."""
        box = self.lot(container)
        if box is None:
            raise unknown_in_log(self, "lot", container, "container")
        if box.state.kind != "container":
            raise InputError(f"{container} is not a registered container lot")
        if len(set(lot_ids)) != len(lot_ids):
            raise InputError("a lot is named twice")
        event_type = "lot.unpacked" if unpack else "lot.packed"
        fields: dict[str, Any] = {"container": container}
        if unpack:
            fields["holder"] = box.state.holder
        attendees = [s.person_id for s in signers]
        batch = []
        for lot_id in lot_ids:
            body, state = self._draft(lot_stream(lot_id), event_type, fields, location,
                                      attendees, occurred_at, **options)
            batch.append((body, self._sign_here(body, signers, state)))
        return self.submit_all(batch)

    def _signer_member(self, state: LedgerState, signer: Signer) -> Member:
        """The roster's entry for whoever holds ``signer``'s key file, refusing an unknown
        person, a revoked key and a key that is not the one they are enrolled with."""
        member = state.member(signer.person_id)
        if member is None:
            raise unknown_in_log(self, "person", signer.person_id, "named by a key file")
        if member.revoked:
            raise KeyringError(f"the key of {signer.person_id} was revoked; an authority must "
                               "rotate it ('custody person rotate') before they can sign")
        if member.public_key != signer.key.public_key:
            raise KeyringError(
                f"the key file for {signer.person_id} holds key {signer.key.public_key.id[:16]}, "
                f"but {signer.person_id} is enrolled with key {member.public_key.id[:16]}"
            )
        return member


def signers_of(signer: Signers) -> list[Signer]:
    """One authority's signer, or several (when the authority set's threshold is above 1)."""
    signers = [signer] if isinstance(signer, Signer) else list(signer)
    if len({s.person_id for s in signers}) != len(signers):
        raise InputError("an authority key is given twice; each authority signs once")
    return signers


def signer_streams(signer: Signers) -> list[str]:
    """The person streams of everyone signing (refusing one given twice)."""
    return [person_stream(s.person_id) for s in signers_of(signer)]


def signed(body: Mapping[str, Any], signers: Sequence[Signer]) -> dict[str, bytes]:
    """Every signer's signature over ``body``, checked first: a bad body uses nobody's key."""
    check_event(body)  # refuse bad input before anyone's key is used
    digest = digests.signing_digest(body)
    return {s.person_id: s.key.sign(digest) for s in signers}


def envelope(ledger_id: str, stream: str, head: Head | None, event_type: str,
             occurred_at: datetime) -> dict[str, Any]:
    """The fields every step begins with, chained to ``head`` (None: the stream's first)."""
    return {
        "ledger": ledger_id,
        "stream": stream,
        "seq": 1 if head is None else head.seq + 1,
        "type": event_type,
        "schema": 1,
        "occurred_at": canonical.format_timestamp(occurred_at),
        "prev": digests.next_prev(ledger_id, stream, head.event_hash if head else None),
    }
