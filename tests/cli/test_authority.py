"""`custody authority set`, and corrections flagged forever, end to end through the CLI."""

from __future__ import annotations

from tests.cli.test_errors import failing
from tests.conftest import TEAM


def new_key(cli, person_id: str) -> str:
    path = cli.folder / f"{person_id}.key"
    cli.ok("keys", "new", person_id, "--out", str(path), "--passphrase-file",
           cli.secret("AUTH-01"))
    return str(path)


def test_the_authority_hands_over_to_a_new_set_and_recording_goes_on(ready):
    """AUTH-01 hands over to AUTH-02 and AUTH-03 (threshold 2). Everyone AUTH-01 enrolled
    still records; AUTH-01 alone can no longer enrol; AUTH-02 alone is not enough; both are."""
    auth02, auth03 = new_key(ready, "AUTH-02"), new_key(ready, "AUTH-03")
    secret = ready.secret("AUTH-01")  # the new keys were made with this passphrase file
    result = ready.ok("authority", "set", f"AUTH-02={auth02}.pub", f"AUTH-03={auth03}.pub",
                      "--threshold", "2", "--sign", ready.key("AUTH-01"), "--sign", auth02,
                      "--sign", auth03, "--passphrase-file", secret, "--passphrase-file", secret,
                      "--passphrase-file", secret)
    assert "recorded ledger.authority_set ledger step 2" in result.output
    ready.ok(*ready.handover_args())  # enrolled by AUTH-01, still counting
    enrol = ["person", "enrol", "STF-09", "--name", "N", "--role", "staff", "--unit", "U",
             "--public-key", new_key(ready, "STF-09") + ".pub"]
    failing(ready, 4, "is the key of AUTH-01, who is not in the authority set (AUTH-02, AUTH-03)",
            *enrol, *ready.authority())
    failing(ready, 3, "needs 2 valid signature(s) of the authority set ['AUTH-02', 'AUTH-03'], "
            "has 1", *enrol, "--authority-key", auth02, "--passphrase-file", secret)
    ready.ok(*enrol, "--authority-key", auth02, "--authority-key", auth03,
             "--passphrase-file", secret, "--passphrase-file", secret)
    assert ready.ok("verify", "--workers", "1").output.startswith("intact")


def test_an_authority_set_without_the_new_members_signature_is_refused(ready):
    auth02 = new_key(ready, "AUTH-02")
    before = ready.db_digest()
    failing(ready, 3, "the new authority set needs 1 signature(s) of its own members, has 0",
            "authority", "set", f"AUTH-02={auth02}.pub", "--sign", ready.key("AUTH-01"),
            "--passphrase-file", ready.secret("AUTH-01"))
    assert ready.db_digest() == before


def test_an_authority_member_given_without_a_key_file_is_a_usage_error(ready):
    failing(ready, 2, "give each member as ID=PUBFILE", "authority", "set", "AUTH-02",
            "--sign", ready.key("AUTH-01"), "--passphrase-file", ready.secret("AUTH-01"))


def test_a_correction_is_flagged_in_history_and_by_verify_forever(ready):
    ready.ok(*ready.handover_args())
    ready.ok("record", "correction", "--lot", "LOT-1", "--corrects", "2", "--reason",
             "one bag was counted twice", "--count", "29", "--location", "Secure room 1",
             "--occurred-at", "2026-06-06T06:20:00+08:00", *ready.signing(*TEAM))
    history = ready.ok("history", "LOT-1").output
    assert "CORRECTION of step 2: one bag was counted twice" in history
    verified = ready("verify", "--workers", "1")
    assert verified.exit_code == 0
    assert "WARNING CORRECTION" in verified.output and "intact (with warnings)" in verified.output


def _two_authorities(ready) -> tuple[str, str, str]:
    """AUTH-01 hands over to AUTH-02 and AUTH-03, threshold 1; their key files."""
    auth02, auth03 = new_key(ready, "AUTH-02"), new_key(ready, "AUTH-03")
    secret = ready.secret("AUTH-01")
    ready.ok("authority", "set", f"AUTH-02={auth02}.pub", f"AUTH-03={auth03}.pub",
             "--sign", ready.key("AUTH-01"), "--sign", auth02, "--sign", auth03,
             "--passphrase-file", secret, "--passphrase-file", secret,
             "--passphrase-file", secret)
    return auth02, auth03, secret


def test_a_lost_authority_key_is_replaced_by_the_current_set_and_the_new_key(ready):
    """AUTH-03's key is lost: AUTH-02 (the current set's threshold) authorises a set naming
    AUTH-03 with a new key, which AUTH-03 signs with. From then on the new key signs for
    AUTH-03 and the old one is refused."""
    auth02, auth03, secret = _two_authorities(ready)
    replacement = str(ready.folder / "auth03-new.key")
    ready.ok("keys", "new", "AUTH-03", "--out", replacement, "--passphrase-file", secret)
    rotated = ready.ok("authority", "set", f"AUTH-02={auth02}.pub",
                       f"AUTH-03={replacement}.pub", "--sign", auth02, "--sign", replacement,
                       "--passphrase-file", secret, "--passphrase-file", secret)
    assert "recorded ledger.authority_set ledger step 3" in rotated.output
    enrol = ["person", "enrol", "STF-09", "--name", "N", "--role", "staff", "--unit", "U",
             "--public-key", new_key(ready, "STF-09") + ".pub"]
    failing(ready, 4, "the key file for AUTH-03 holds key", *enrol, "--authority-key", auth03,
            "--passphrase-file", secret)
    ready.ok(*enrol, "--authority-key", replacement, "--passphrase-file", secret)
    assert ready.ok("verify", "--workers", "1").output.startswith("intact")


def test_a_member_re_keyed_must_sign_with_the_new_key_not_the_old(ready):
    auth02, auth03, secret = _two_authorities(ready)
    replacement = str(ready.folder / "auth03-new.key")
    ready.ok("keys", "new", "AUTH-03", "--out", replacement, "--passphrase-file", secret)
    before = ready.db_digest()
    failing(ready, 4, "AUTH-03 is named with a new key: sign with that key's file",
            "authority", "set", f"AUTH-02={auth02}.pub", f"AUTH-03={replacement}.pub",
            "--sign", auth02, "--sign", auth03, "--passphrase-file", secret,
            "--passphrase-file", secret)
    assert ready.db_digest() == before


def test_a_member_cannot_re_key_itself_without_the_current_sets_threshold(ready):
    """AUTH-03 alone, signing with a new key, authorises nothing: the current set's
    threshold must sign with the keys it holds."""
    auth02, _, secret = _two_authorities(ready)
    replacement = str(ready.folder / "auth03-new.key")
    ready.ok("keys", "new", "AUTH-03", "--out", replacement, "--passphrase-file", secret)
    before = ready.db_digest()
    failing(ready, 3, "needs 1 valid signature(s) of the authority set ['AUTH-02', 'AUTH-03'], "
            "has 0", "authority", "set", f"AUTH-02={auth02}.pub", f"AUTH-03={replacement}.pub",
            "--sign", replacement, "--passphrase-file", secret)
    assert ready.db_digest() == before


def test_person_rotate_of_an_authority_points_to_the_authority_set_command(ready):
    auth02, _, secret = _two_authorities(ready)
    replacement = str(ready.folder / "auth03-new.key")
    ready.ok("keys", "new", "AUTH-03", "--out", replacement, "--passphrase-file", secret)
    failing(ready, 2, "AUTH-03 is in the authority set, which only a new authority set "
            "changes: custody authority set AUTH-02=AUTH-02.key.pub AUTH-03=NEW.key.pub "
            "--threshold 1 --sign AUTH-02.key --sign NEW.key",
            "person", "rotate", "AUTH-03", "--public-key", replacement + ".pub",
            "--authority-key", auth02, "--passphrase-file", secret)


def test_person_enrol_with_the_authority_role_is_refused_with_a_pointer(ready):
    before = ready.db_digest()
    failing(ready, 2, "the authority set is the one source of authority", "person", "enrol",
            "AUTH-09", "--name", "N", "--role", "authority", "--unit", "U", "--public-key",
            new_key(ready, "AUTH-09") + ".pub", *ready.authority())
    assert ready.db_digest() == before
