"""The rules every event is judged by, as pure functions shared by the recorder and verifier.

``judge`` takes one schema-valid event and a :class:`Context` (the roster, policy, lots and
rooms as they stand at the event's position) and returns who validly signed it and every
rule it breaks. The application refuses an event with error findings; the verifier reports
them. A step may carry rule findings on record only with an explicit acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

from ledger.core import keys
from ledger.core.custody import LOT_STEPS, LotState, RoomState, judge_lot_step, judge_time
from ledger.core.digests import key_id, signing_digest
from ledger.core.errors import VerificationFailed
from ledger.core.findings import Finding
from ledger.core.kinds import ROOM_EVENTS, STEPS
from ledger.core.places import SiteState, judge_place
from ledger.core.policy import PresencePolicy, evaluate
from ledger.core.roster import Lookup, keys_named, member_from
from ledger.core.text import Message

# Signature results computed ahead of judging: (public key raw, digest, signature) -> valid.
Verified = Mapping[tuple[bytes, bytes, bytes], bool]

# Rule findings a step may carry on record with an explicit acknowledgement. Integrity
# findings (signatures, chain, roster, time in the future) can never be acknowledged away.
ACKNOWLEDGEABLE = frozenset({"PRESENCE_SHORT", "SEAL_MISMATCH", "COUNT_MISMATCH", "CUSTODY_GAP",
                             "TIME_REVERSED", "ROOM_UNLICENSED"})
# Findings that make an authority event (or a genesis) count for nothing: the fold never
# lets a forged roster, room or policy event change who counts.
TRUST_CODES = frozenset({"NOT_AUTHORITY", "SIGNATURE_INVALID", "SIGNER_UNKNOWN", "KEY_REVOKED",
                         "KEY_EXPIRED", "KEY_REUSED", "KEY_INVALID", "GENESIS_MISSING",
                         "LEDGER_MISMATCH", "TIME_IN_FUTURE", "TIME_REVERSED",
                         "POLICY_MISMATCH"})


class _AllValid(Mapping[tuple[bytes, bytes, bytes], bool]):
    """Signature results taken as valid without checking: for steps an earlier run checked
    (``verify --since``), and for judging a draft before anyone has signed it."""

    def __getitem__(self, task: tuple[bytes, bytes, bytes]) -> bool:
        return True

    def __iter__(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        return iter(())

    def __len__(self) -> int:
        return 0


ALL_VALID: Verified = _AllValid()


@dataclass(frozen=True)
class AuthoritySet:
    """Who may sign roster, room and policy events, and how many of them must (TUF's root)."""

    members: frozenset[str]
    threshold: int


class Context(NamedTuple):
    """What judging one event needs to know of the ledger at that event's position (a tuple:
    the fold makes one an event)."""

    roster: Lookup
    policy: PresencePolicy | None
    lots: Callable[[str], LotState | None] = lambda stream: None
    rooms: Callable[[str], RoomState | None] = lambda room_id: None
    recorded_at: str | None = None
    authorities: AuthoritySet = AuthoritySet(frozenset(), 1)
    key_owner: Callable[[str], str | None] = lambda key_id: None
    sites: Callable[[str], SiteState | None] = lambda site_id: None


def judge_signatures(
    digest: bytes,
    signatures: Mapping[str, bytes],
    lookup: Lookup,
    verified: Verified | None = None,
    moments: tuple[str | None, ...] = (),
) -> tuple[dict[str, str], list[Finding]]:
    """Return (person id -> roster role of everyone who validly signed, findings).

    A key counts only if it is valid at every one of ``moments`` (the step's occurred_at and
    the ledger's recorded_at): a signer's own clock cannot bring an expired key back.
    ``verified`` may carry results computed elsewhere (in parallel), keyed by the exact
    (public key, digest, signature) triple; anything not in it is verified here.
    """
    present: dict[str, str] = {}
    findings: list[Finding] = []
    for person_id, signature in sorted(signatures.items()):
        member = lookup(person_id)
        if member is None:
            findings.append(Finding("SIGNER_UNKNOWN",
                                    Message("{person} signed but is not in the roster at this "
                                            "position", person=person_id),
                                    evidence={"person": person_id}))
            continue
        if member.revoked:
            findings.append(Finding("KEY_REVOKED", Message("{person} signed with key {key}, "
                                                           "revoked earlier", person=person_id,
                                                           key=member.public_key.id[:16]),
                                    evidence={"person": person_id, "key_id": member.public_key.id}))
            continue
        late = [m for m in moments if m is not None and m > member.valid_until
                ] if member.valid_until is not None else ()
        if late:
            findings.append(Finding("KEY_EXPIRED", Message("{person}'s key was valid until "
                                                           "{valid_until}, not at {moment}",
                                                           person=person_id,
                                                           valid_until=member.valid_until,
                                                           moment=max(late)),
                                    evidence={"person": person_id, "valid_until": member.valid_until,
                                              "moment": max(late)}))
            continue
        task = (member.public_key.raw, digest, signature)
        ok = verified.get(task) if verified is not None else None
        if ok is None:
            try:
                keys.verify(member.public_key, digest, signature)
                ok = True
            except VerificationFailed:
                ok = False
        if not ok:
            findings.append(Finding("SIGNATURE_INVALID", Message(
                "signature of {person} does not verify with their enrolled key {key}",
                person=person_id, key=member.public_key.id[:16]),
                                    evidence={"person": person_id, "key_id": member.public_key.id}))
            continue
        present[person_id] = member.role
    return present, findings


def judge_attendance(body: Mapping[str, Any], present: Mapping[str, str],
                     signers: Iterable[str], lookup: Lookup) -> list[Finding]:
    """Compare the attendees an event lists (with the roles it claims) to who validly signed."""
    findings: list[Finding] = []
    listed = {a["person"]: a["role"] for a in body.get("attendees", [])}
    for person_id, claimed in sorted(listed.items()):
        member = lookup(person_id)
        if member is not None and member.role != claimed:
            findings.append(Finding(
                "ROLE_MISMATCH", Message("event lists {person} as {claimed}, but the roster "
                                         "says {role}; counted as {role}", person=person_id,
                                         claimed=claimed, role=member.role),
                evidence={"person": person_id, "claimed": claimed, "roster": member.role}))
    # Someone whose signature is there but failed already has a finding of its own.
    for person_id in sorted(listed.keys() - signers):
        findings.append(Finding("ATTENDEE_UNSIGNED", Message(
            "{person} is listed as present but has no valid signature; not counted",
            person=person_id), evidence={"person": person_id}))
    for person_id in sorted(present.keys() - listed.keys()):
        findings.append(Finding("SIGNER_NOT_ATTENDEE", Message(
            "{person} signed but is not listed among the attendees; not counted",
            person=person_id), evidence={"person": person_id}))
    return findings


def judge_presence(body: Mapping[str, Any], counted: Mapping[str, str],
                   policy: PresencePolicy) -> list[Finding]:
    """The policy named must be the one in force, and the people counted must satisfy it."""
    findings = []
    if not policy.named_by(body["policy"]):
        findings.append(Finding(
            "POLICY_MISMATCH", Message("event names policy {claimed} v{claimed_version}, but "
                                       "{policy} v{version} is in force",
                                       claimed=body["policy"]["id"],
                                       claimed_version=body["policy"]["version"],
                                       policy=policy.id, version=policy.version),
            evidence={"claimed": dict(body["policy"]), "in_force": policy.ref}))
    verdict = evaluate(policy, body["type"], counted)
    if not verdict.met:
        findings.append(Finding(
            "PRESENCE_SHORT", Message("{event_type}: {verdict}", event_type=body["type"],
                                      verdict=verdict.describe()),
            evidence={"policy": policy.ref, "present": dict(sorted(counted.items())),
                      "short": [{"roles": list(s.requirement.roles),
                                 "needed": s.requirement.at_least, "counted": list(s.counted)}
                                for s in verdict.shortfalls]}))
    return findings


def judge(body: Mapping[str, Any], signatures: Mapping[str, bytes], ctx: Context,
          verified: Verified | None = None,
          digest: bytes | None = None) -> tuple[dict[str, str], list[Finding]]:
    """Judge one schema-valid event: who validly signed it, and every rule it breaks.

    ``digest`` may be passed when the caller has already computed ``signing_digest(body)``.
    """
    digest = digest or signing_digest(body)
    event_type = body["type"]
    if event_type in STEPS:
        present, findings = judge_signed(body, signatures, ctx, verified, digest)
        return present, judge_custody(body, present, findings, ctx)
    findings = []
    if ctx.recorded_at is not None:
        findings.extend(judge_time(body, ctx.recorded_at))
    if event_type == "ledger.genesis":
        authority = member_from(body["authority"])
        present, signed = judge_signatures(
            digest, signatures, lambda pid: authority if pid == authority.person_id else None,
            verified)
        findings.extend(signed)
        if authority.person_id not in present:
            findings.append(Finding("NOT_AUTHORITY", Message("the genesis is not signed by "
                                                             "the authority key it names"),
                                    evidence={"authority": authority.person_id,
                                                              "key_id": authority.public_key.id}))
        return present, findings
    lookup = ctx.roster  # an authority's event (AUTHORITY_EVENTS)
    if event_type == "ledger.authority_set":
        # A member the new set names with a new key signs with it (proving they hold it),
        # as TUF rotates a root key; the others sign with the key the roster holds.
        lookup = _rekeyed(body, ctx.roster)
    present, signed = judge_signatures(digest, signatures, lookup, verified,
                                       (body["occurred_at"], ctx.recorded_at))
    # New members of an authority set sign with keys the roster does not hold yet.
    joining = {e["id"] for e in body.get("authorities", ())}
    findings.extend(f for f in signed
                    if not (f.code == "SIGNER_UNKNOWN" and f.evidence["person"] in joining))
    findings.extend(_judge_authority_event(body, present, signatures, ctx, digest, verified))
    findings.extend(judge_place(body, ctx.rooms, ctx.sites))
    return present, findings


def judge_signed(body: Mapping[str, Any], signatures: Mapping[str, bytes], ctx: Context,
                 verified: Verified | None, digest: bytes) -> tuple[dict[str, str], list[Finding]]:
    """The part of judging a step (an event its attendees sign) that reads only the row and
    the trust state (``trust.Trust``: the roster, the policy in force, the rooms and sites
    registered): its time, who validly signed, attendance, presence and place. ``judge`` is
    this and then ``judge_custody``; a worker process can work this part out beside the
    row's decoding (``trust.prejudge``)."""
    findings = list(judge_time(body, ctx.recorded_at)) if ctx.recorded_at is not None else []
    present, signed = judge_signatures(digest, signatures, ctx.roster, verified,
                                       (body["occurred_at"], ctx.recorded_at))
    findings.extend(signed)
    findings.extend(judge_attendance(body, present, signatures, ctx.roster))
    assert ctx.policy is not None, "signed steps are judged against the policy in force"
    findings.extend(judge_presence(body, _counted(body, present), ctx.policy))
    findings.extend(judge_place(body, ctx.rooms, ctx.sites))
    return present, findings


def judge_custody(body: Mapping[str, Any], present: Mapping[str, str],
                  findings: list[Finding], ctx: Context) -> list[Finding]:
    """The rest of judging a step, given what ``judge_signed`` found (``findings``, extended
    here): the lot's custody rules or the room's, then any acknowledgement on record."""
    event_type = body["type"]
    if event_type in LOT_STEPS:
        state = ctx.lots(body["stream"])
        findings.extend(judge_lot_step(state, body, _counted(body, present), ctx.lots,
                                       ctx.rooms))
    elif event_type in ROOM_EVENTS:
        findings.extend(_judge_room_event(body, ctx))
    return _apply_acknowledgement(body, findings)


def _counted(body: Mapping[str, Any], present: Mapping[str, str]) -> dict[str, str]:
    """Who counts toward the presence policy: the valid signers the step lists."""
    listed = {a["person"] for a in body.get("attendees", [])}
    return {pid: role for pid, role in present.items() if pid in listed}


def _judge_authority_event(body: Mapping[str, Any], present: Mapping[str, str],
                           signatures: Mapping[str, bytes], ctx: Context, digest: bytes,
                           verified: Verified | None) -> Iterable[Finding]:
    authorities = ctx.authorities
    # Only the current set's keys authorise: a member signing with the new key the event
    # names for them proves they hold it, and counts for the new set alone.
    rotating = _rotating(body, ctx.roster)
    signed = sorted(pid for pid in present if pid in authorities.members and pid not in rotating)
    if len(signed) < authorities.threshold:
        yield Finding("NOT_AUTHORITY", Message(
            "{event_type} on {stream} is not signed by an authority key: it needs {threshold} "
            "valid signature(s) of the authority set {authorities}, has {signed}",
            event_type=body["type"], stream=body["stream"], threshold=authorities.threshold,
            authorities=sorted(authorities.members), signed=len(signed)),
                      evidence={"signers": sorted(signatures), "counted": signed,
                                "authorities": sorted(authorities.members),
                                "threshold": authorities.threshold})
    if body["type"] == "ledger.policy_set" and ctx.policy is not None:
        if body["policy"]["version"] <= ctx.policy.version:
            yield Finding("POLICY_MISMATCH", Message("policy version {version} does not "
                                                     "follow the version in force ({in_force})",
                                                     version=body["policy"]["version"],
                                                     in_force=ctx.policy.version),
                          evidence={"in_force": ctx.policy.ref,
                                    "new": {"id": body["policy"]["id"],
                                            "version": body["policy"]["version"]}})
    if body["type"] == "ledger.log_key_set":
        defect = keys.key_defect(bytes.fromhex(body["log_key"]))
        if defect is not None:
            yield Finding("KEY_INVALID", Message("the log key named is not an acceptable "
                                                 "Ed25519 public key: {defect}", defect=defect),
                          evidence={"log_key": body["log_key"]})
    for person_id, raw_key in keys_named(body):
        owner = ctx.key_owner(key_id(raw_key))
        if owner is not None and owner != person_id:
            yield Finding("KEY_REUSED", Message("the key named for {person} is already "
                                                "enrolled for {owner}; every person has a key "
                                                "of their own", person=person_id, owner=owner),
                          evidence={"person": person_id, "owner": owner})
    if body["type"] == "ledger.authority_set":
        # As TUF rotates its root: the new set's keys must sign too (they are held).
        new = {entry["id"]: member_from(entry) for entry in body["authorities"]}
        if len(new) != len(body["authorities"]):
            yield Finding("NOT_AUTHORITY", Message("the new authority set names a person twice"),
                          evidence={"authorities": [e["id"] for e in body["authorities"]]})
        for person_id in sorted(new):
            member = ctx.roster(person_id)
            if member is not None and member.role != "authority":
                yield Finding("NOT_AUTHORITY", Message("{person} is enrolled as {role}; an "
                                                       "authority set names authorities only",
                                                       person=person_id, role=member.role),
                              evidence={"person": person_id, "roster": member.role})
        counted, _ = judge_signatures(digest, signatures, new.get, verified)
        if len(counted) < body["threshold"] or body["threshold"] > len(new):
            yield Finding("NOT_AUTHORITY", Message("the new authority set needs {threshold} "
                                                   "signature(s) of its own members, has "
                                                   "{counted}", threshold=body["threshold"],
                                                   counted=len(counted)),
                          evidence={"counted": sorted(counted), "threshold": body["threshold"]})


def _rotating(body: Mapping[str, Any], roster: Lookup) -> frozenset[str]:
    """The enrolled people an authority set names with a key other than the roster's."""
    if body["type"] != "ledger.authority_set":
        return frozenset()
    return frozenset(entry["id"] for entry in body["authorities"]
                     if (member := roster(entry["id"])) is not None
                     and member.public_key.hex != entry["public_key"])


def _rekeyed(body: Mapping[str, Any], roster: Lookup) -> Lookup:
    """``roster``, but with the new key for each member an authority set re-keys."""
    rotating = _rotating(body, roster)
    named = {entry["id"]: member_from(entry) for entry in body["authorities"]
             if entry["id"] in rotating}
    return lambda person_id: named.get(person_id) or roster(person_id)


def _judge_room_event(body: Mapping[str, Any], ctx: Context) -> Iterable[Finding]:
    room_id = body["stream"].split(":", 1)[1]
    room = ctx.rooms(room_id)
    if room is None:
        yield Finding("ROOM_UNLICENSED", Message("room {room} is not registered", room=room_id),
                      evidence={"room": room_id})
        return
    if body["occurred_at"] < room.last_occurred_at:
        yield Finding("TIME_REVERSED", Message("occurred_at {found} is before the room's "
                                               "previous event at {previous}",
                                               found=body["occurred_at"],
                                               previous=room.last_occurred_at),
                      evidence={"previous": room.last_occurred_at, "found": body["occurred_at"]})


def _apply_acknowledgement(body: Mapping[str, Any], findings: list[Finding]) -> list[Finding]:
    """Turn acknowledged rule findings into ACKNOWLEDGED_VIOLATION warnings, keeping evidence."""
    ack = body.get("acknowledged_violation")
    if not ack:
        return findings
    out = []
    for finding in findings:
        if finding.code in ACKNOWLEDGEABLE:
            out.append(Finding("ACKNOWLEDGED_VIOLATION",
                               Message("{code} acknowledged on record ({reason}): {message}",
                                       code=finding.code, reason=ack["reason"],
                                       message=finding.message),
                               evidence={"code": finding.code, "reason": ack["reason"],
                                         **finding.evidence}))
        else:
            out.append(finding)
    return out
