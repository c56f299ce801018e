"""`custody site register` and `--place`, end to end: what they record, and each bad input as
one `error:` line with nothing written."""

from __future__ import annotations

from tests.cli.test_errors import failing


def site(cli, *args: str) -> None:
    cli.ok("site", "register", *args, "--occurred-at", "2026-06-02T09:00:00+08:00",
           *cli.authority())


def test_a_site_within_a_site_is_recorded_and_a_step_names_it_as_its_place(ready) -> None:
    site(ready, "S01", "--name", "No. 1 Middle School")
    site(ready, "S01-R12", "--name", "Exam room 12", "--within", "S01")
    ready.ok(*ready.handover_args(**{"--place": "site:S01-R12", "--location": "Front desk"}))
    history = ready.ok("history", "LOT-1").output
    assert "lot.handed_over        at site:S01-R12 (Front desk)" in history
    assert ready.ok("verify").output.startswith("intact")


def test_a_site_within_an_unregistered_site_is_refused(ready) -> None:
    failing(ready, 2, "--within S99: no site S99 is registered; register it first", "site",
            "register", "S01-R12", "--name", "Exam room 12", "--within", "S99",
            *ready.authority())


def test_a_site_registered_twice_is_refused(ready) -> None:
    site(ready, "S01", "--name", "No. 1 Middle School")
    failing(ready, 2, "site S01 is already registered", "site", "register", "S01", "--name",
            "Again", *ready.authority())


def test_a_step_naming_an_unregistered_place_is_refused(ready) -> None:
    failing(ready, 2, "--place site:S01: no site S01 is registered; register it first "
            "('custody site register'), or give only --location",
            *ready.handover_args(**{"--place": "site:S01"}))
    failing(ready, 2, "--place room:SR-9: no secure room SR-9 is registered",
            *ready.handover_args(**{"--place": "room:SR-9"}))


def test_a_place_that_is_neither_a_room_nor_a_site_is_refused(ready) -> None:
    failing(ready, 2, "--place: 'hall:A' is not", *ready.handover_args(**{"--place": "hall:A"}))


def test_a_store_takes_no_place_its_room_is_its_place(ready) -> None:
    result = ready("record", "store", "--lot", "LOT-1", "--from", "STF-01", "--room", "SR-3",
                   "--place", "site:S01", "--seal", "SEAL-1", "--count", "30", "--location", "x")
    assert result.exit_code == 2 and "No such option '--place'" in result.output
