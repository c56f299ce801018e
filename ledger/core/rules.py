"""The rules every step is judged by, as pure functions shared by the recorder and verifier.

``judge_signatures`` decides who counts as present (a valid signature by a roster member with
an unrevoked key, listed as an attendee, counted once with the roster's role);
``judge_step`` applies the presence policy and the lot's continuity rules. Both return
findings; the application refuses a step with error findings, the verifier reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ledger.core import keys
from ledger.core.digests import signing_digest
from ledger.core.errors import VerificationFailed
from ledger.core.findings import Finding
from ledger.core.policy import PresencePolicy, evaluate
from ledger.core.roster import Lookup, member_from

# Signature results computed ahead of judging: (public key raw, digest, signature) -> valid.
Verified = Mapping[tuple[bytes, bytes, bytes], bool]

# Rule findings a step may carry on record with an explicit acknowledgement. Integrity
# findings (signatures, chain, roster) can never be acknowledged away.
ACKNOWLEDGEABLE = frozenset(
    {"PRESENCE_SHORT", "SEAL_MISMATCH", "COUNT_MISMATCH", "CUSTODY_GAP", "TIME_REVERSED"}
)


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
    steps: int = 1


def lot_registered(body: Mapping[str, Any]) -> LotState:
    """Return a lot's state from its registration body."""
    lot = body["lot"]
    return LotState(
        lot_id=lot["id"],
        exam=lot["exam"],
        subject=lot["subject"],
        kind=lot["kind"],
        count=lot["count"],
        seals=tuple(sorted(lot["seals"])),
        holder=body.get("holder"),
        last_occurred_at=body["occurred_at"],
    )


def lot_after(state: LotState, body: Mapping[str, Any]) -> LotState:
    """Return a lot's state after a handover body (the record wins: it is what was checked)."""
    return replace(
        state,
        holder=body["to"],
        count=body["count_checked"],
        seals=tuple(sorted(body["seals_checked"])),
        last_occurred_at=max(state.last_occurred_at, body["occurred_at"]),
        steps=state.steps + 1,
    )


def judge_signatures(
    digest: bytes,
    body: Mapping[str, Any],
    signatures: Mapping[str, bytes],
    lookup: Lookup,
    verified: Verified | None = None,
) -> tuple[dict[str, str], list[Finding]]:
    """Return (person id -> roster role of everyone who validly signed, findings).

    ``verified`` may carry results computed elsewhere (in parallel), keyed by the exact
    (public key, digest, signature) triple; anything not in it is verified here.
    """
    present: dict[str, str] = {}
    findings: list[Finding] = []
    for person_id, signature in sorted(signatures.items()):
        member = lookup(person_id)
        if member is None:
            findings.append(
                Finding(
                    "SIGNER_UNKNOWN",
                    f"{person_id} signed but is not in the roster at this position",
                    evidence={"person": person_id},
                )
            )
            continue
        if member.revoked:
            findings.append(
                Finding(
                    "KEY_REVOKED",
                    f"{person_id} signed with key {member.public_key.id[:16]}, revoked earlier",
                    evidence={"person": person_id, "key_id": member.public_key.id},
                )
            )
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
            findings.append(
                Finding(
                    "SIGNATURE_INVALID",
                    f"signature of {person_id} does not verify with their enrolled key "
                    f"{member.public_key.id[:16]}",
                    evidence={"person": person_id, "key_id": member.public_key.id},
                )
            )
            continue
        present[person_id] = member.role
    return present, findings


def judge_attendance(
    body: Mapping[str, Any], present: Mapping[str, str], signers: Iterable[str], lookup: Lookup
) -> list[Finding]:
    """Compare the attendees an event lists (with the roles it claims) to who validly signed."""
    findings: list[Finding] = []
    listed = {a["person"]: a["role"] for a in body.get("attendees", [])}
    for person_id, claimed in sorted(listed.items()):
        member = lookup(person_id)
        if member is not None and member.role != claimed:
            findings.append(
                Finding(
                    "ROLE_MISMATCH",
                    f"event lists {person_id} as {claimed}, but the roster says {member.role}; "
                    f"counted as {member.role}",
                    evidence={"person": person_id, "claimed": claimed, "roster": member.role},
                )
            )
    # Someone whose signature is there but failed already has a finding of its own.
    for person_id in sorted(set(listed) - set(signers)):
        findings.append(
            Finding(
                "ATTENDEE_UNSIGNED",
                f"{person_id} is listed as present but has no valid signature; not counted",
                evidence={"person": person_id},
            )
        )
    for person_id in sorted(set(present) - set(listed)):
        findings.append(
            Finding(
                "SIGNER_NOT_ATTENDEE",
                f"{person_id} signed but is not listed among the attendees; not counted",
                evidence={"person": person_id},
            )
        )
    return findings


def judge_step(
    state: LotState | None,
    body: Mapping[str, Any],
    present: Mapping[str, str],
    policy: PresencePolicy,
) -> list[Finding]:
    """Judge one lot step against the policy and the lot's state; acknowledgements applied."""
    listed = {a["person"] for a in body.get("attendees", [])}
    counted = {pid: role for pid, role in present.items() if pid in listed}
    findings: list[Finding] = []
    if body["policy"] != policy.ref:
        findings.append(
            Finding(
                "POLICY_MISMATCH",
                f"event names policy {body['policy']['id']} v{body['policy']['version']}, "
                f"but {policy.id} v{policy.version} is in force",
                evidence={"claimed": dict(body["policy"]), "in_force": policy.ref},
            )
        )
    verdict = evaluate(policy, body["type"], counted)
    if not verdict.met:
        findings.append(
            Finding(
                "PRESENCE_SHORT",
                f"{body['type']}: {verdict.describe()}",
                evidence={
                    "policy": policy.ref,
                    "present": dict(sorted(counted.items())),
                    "short": [
                        {"roles": list(s.requirement.roles), "needed": s.requirement.at_least,
                         "counted": list(s.counted)}
                        for s in verdict.shortfalls
                    ],
                },
            )
        )
    if state is not None and body["type"] == "lot.handed_over":
        findings.extend(_judge_handover(state, body, counted))
    return _apply_acknowledgement(body, findings)


def _judge_handover(
    state: LotState, body: Mapping[str, Any], counted: Mapping[str, str]
) -> Iterable[Finding]:
    giver, receiver = body["from"], body["to"]
    if state.holder is not None and giver != state.holder:
        yield Finding(
            "CUSTODY_GAP",
            f"lot {state.lot_id} is held by {state.holder}, not {giver}, who handed it over",
            evidence={"holder": state.holder, "from": giver},
        )
    for role, party in (("giver", giver), ("receiver", receiver)):
        if party not in counted:
            yield Finding(
                "CUSTODY_GAP",
                f"the {role} {party} did not co-sign the handover",
                evidence={role: party},
            )
    checked = tuple(sorted(body["seals_checked"]))
    if checked != state.seals:
        yield Finding(
            "SEAL_MISMATCH",
            f"seals checked differ from record: missing {sorted(set(state.seals) - set(checked))}, "
            f"unexpected {sorted(set(checked) - set(state.seals))}",
            evidence={"expected": list(state.seals), "found": list(checked)},
        )
    if body["count_checked"] != state.count:
        yield Finding(
            "COUNT_MISMATCH",
            f"count checked {body['count_checked']}, but {state.count} on record",
            evidence={"expected": state.count, "found": body["count_checked"]},
        )
    if body["occurred_at"] < state.last_occurred_at:
        yield Finding(
            "TIME_REVERSED",
            f"occurred_at {body['occurred_at']} is before the lot's previous step "
            f"at {state.last_occurred_at}",
            evidence={"previous": state.last_occurred_at, "found": body["occurred_at"]},
        )


def _apply_acknowledgement(body: Mapping[str, Any], findings: list[Finding]) -> list[Finding]:
    """Turn acknowledged rule findings into ACKNOWLEDGED_VIOLATION warnings, keeping evidence."""
    ack = body.get("acknowledged_violation")
    if not ack:
        return findings
    out = []
    for finding in findings:
        if finding.code in ACKNOWLEDGEABLE:
            out.append(
                Finding(
                    "ACKNOWLEDGED_VIOLATION",
                    f"{finding.code} acknowledged on record ({ack['reason']}): {finding.message}",
                    evidence={"code": finding.code, "reason": ack["reason"], **finding.evidence},
                )
            )
        else:
            out.append(finding)
    return out


def judge_event(
    body: Mapping[str, Any],
    signatures: Mapping[str, bytes],
    lookup: Lookup,
    policy: PresencePolicy | None,
    lot: LotState | None,
    verified: Verified | None = None,
) -> tuple[dict[str, str], list[Finding]]:
    """Judge one schema-valid event: who validly signed it, and every rule it breaks.

    ``lookup`` is the roster at the event's position; ``policy`` the policy in force;
    ``lot`` the lot's state before this step (None for non-lot events and registrations).
    """
    digest = signing_digest(body)
    event_type = body["type"]
    if event_type == "ledger.genesis":
        authority = member_from(body["authority"])
        present, findings = judge_signatures(
            digest, body, signatures,
            lambda pid: authority if pid == authority.person_id else None, verified,
        )
        if authority.person_id not in present:
            findings.append(
                Finding(
                    "NOT_AUTHORITY",
                    "the genesis is not signed by the authority key it names",
                    evidence={"authority": authority.person_id, "key_id": authority.public_key.id},
                )
            )
        return present, findings
    present, findings = judge_signatures(digest, body, signatures, lookup, verified)
    if event_type.startswith("person."):
        if not any(role == "authority" for role in present.values()):
            findings.append(
                Finding(
                    "NOT_AUTHORITY",
                    f"{event_type} for {body['person']['id']} is not signed by an authority key",
                    evidence={"signers": sorted(signatures)},
                )
            )
        return present, findings
    assert policy is not None, "lot steps are judged against the policy in force"
    findings.extend(judge_attendance(body, present, signatures, lookup))
    findings.extend(judge_step(lot, body, present, policy))
    return present, findings
