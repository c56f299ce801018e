"""Attacks on replacing an authority's key (TUF root rotation): the current set's threshold
authorises a new set, a member named with a new key signs with that key, and from then on
only the new key counts for them."""

from __future__ import annotations

from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
import pytest

from ledger.core import canonical, digests
from ledger.core.errors import KeyringError
from tests.conftest import AUTHORITY, World, fixed_key
from tests.tamper.attacker import Attacker, error_positions, located, signers_failing, verify

AUTH_02 = Signer("AUTH-02", fixed_key("AUTH-02"))
AUTH_03 = Signer("AUTH-03", fixed_key("AUTH-03"))
AUTH_03_NEW = Signer("AUTH-03", fixed_key("AUTH-03, new"))
STOLEN = Signer("AUTH-03", fixed_key("the attacker's"))


def authorities(*members: Signer) -> list[dict[str, str]]:
    return [{"id": m.person_id, "name": m.person_id, "unit": "Authority",
             "public_key": m.key.public_key.hex} for m in members]


def two_authorities(day: World) -> World:
    """AUTH-01 hands over to AUTH-02 and AUTH-03 (threshold 1), through the application."""
    app = open_ledger(str(day.db), clock=day.clock)
    app.set_authorities(authorities(AUTH_02, AUTH_03), 1,
                        [day.signers[AUTHORITY], AUTH_02, AUTH_03], day.clock())
    return World(app, day.db, day.clock, dict(day.signers))


def enrolment(attacker: Attacker, person_id: str, when) -> dict:
    """The body of the next enrolment, modelled on a stored one."""
    body = attacker.row(attacker.position("person:POL-01", 1)).body
    key = Signer(person_id, fixed_key(person_id)).key.public_key.hex
    body.update(stream=f"person:{person_id}", occurred_at=canonical.format_timestamp(when),
                person={"id": person_id, "name": "N", "role": "staff", "unit": "U",
                        "public_key": key})
    body["prev"] = digests.genesis_prev(body["ledger"], body["stream"])
    return body


def rotation(attacker: Attacker, members: list[dict[str, str]], when) -> dict:
    """The body of the next authority set, chained to the ledger stream's head."""
    head = max((r for r in attacker.rows() if r.stream == "ledger"), key=lambda r: r.position)
    body = head.body
    body.update(seq=head.version + 1, prev=head.event_hash,
                occurred_at=canonical.format_timestamp(when),
                authorities=[{**m, "role": "authority"} for m in members], threshold=1)
    return body


def test_a_member_re_keying_itself_without_the_current_threshold_counts_for_nothing(
        day: World) -> None:
    """An attacker who holds no authority key names AUTH-03 with a key of their own and
    signs as AUTH-03 with it: the current set's threshold did not authorise it, so AUTH-03
    keeps its key, and what the attacker signs next as AUTH-03 does not verify."""
    world = two_authorities(day)
    world.app.close()
    attacker = Attacker(world.db)
    forged = attacker.forge(rotation(attacker, authorities(AUTH_02, STOLEN), day.clock()),
                            [STOLEN], day.clock())
    enrolled = attacker.forge(enrolment(attacker, "STF-09", day.clock()), [STOLEN], day.clock())

    report = verify(world.db)

    assert ("NOT_AUTHORITY", forged, "ledger") in located(report)
    assert signers_failing(report, enrolled) == {"AUTH-03"}
    assert ("NOT_AUTHORITY", enrolled, "person:STF-09") in located(report)
    assert error_positions(report) == {forged, enrolled}


def test_the_replaced_key_of_a_member_signs_nothing_after_the_rotation(day: World) -> None:
    """AUTH-02 authorises AUTH-03's new key, through the application. An enrolment then
    signed with AUTH-03's old key (lost, and found by someone else) does not verify."""
    world = two_authorities(day)
    world.app.set_authorities(authorities(AUTH_02, AUTH_03_NEW), 1,
                              [AUTH_02, AUTH_03_NEW], day.clock())
    world.app.close()
    attacker = Attacker(world.db)
    enrolled = attacker.forge(enrolment(attacker, "STF-09", day.clock()), [AUTH_03], day.clock())

    report = verify(world.db)

    assert signers_failing(report, enrolled) == {"AUTH-03"}
    assert ("NOT_AUTHORITY", enrolled, "person:STF-09") in located(report)
    assert error_positions(report) == {enrolled}


def test_the_new_key_swapped_in_a_stored_rotation_breaks_its_signatures(day: World) -> None:
    """The attacker edits the stored rotation to name their own key for AUTH-03: the
    signatures no longer verify, the edited set never counts, and the attacker's key signs
    nothing."""
    world = two_authorities(day)
    receipt = world.app.set_authorities(authorities(AUTH_02, AUTH_03_NEW), 1,
                                        [AUTH_02, AUTH_03_NEW], day.clock())
    world.app.close()
    attacker = Attacker(world.db)
    edited = receipt.position
    attacker.rewrite(edited, lambda record: record["body"]["authorities"][1].update(
        public_key=STOLEN.key.public_key.hex))
    enrolled = attacker.forge(enrolment(attacker, "STF-09", day.clock()), [STOLEN], day.clock())

    report = verify(world.db)

    assert signers_failing(report, edited) == {"AUTH-02", "AUTH-03"}
    assert ("NOT_AUTHORITY", edited, "ledger") in located(report)
    assert signers_failing(report, enrolled) == {"AUTH-03"}
    assert error_positions(report) == {edited, enrolled}


def test_a_rotation_signed_by_the_member_with_its_old_key_is_refused_by_the_recorder(
        day: World) -> None:
    """The recorder refuses, before signing, a re-keyed member signing with the old key."""
    world = two_authorities(day)
    with pytest.raises(KeyringError, match="AUTH-03 is named with a new key"):
        world.app.set_authorities(authorities(AUTH_02, AUTH_03_NEW), 1,
                                  [AUTH_02, AUTH_03], day.clock())
    world.app.close()
