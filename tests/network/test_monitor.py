"""`custody monitor`: a published log watched with only its public key — over real HTTP or
from a folder — catching a fork, a cut log and a rewritten byte in any published file with
one-line findings, and judging new events as `custody verify` does, resumably."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledger.application.log import TransparencyLog
from ledger.application.monitor import Monitor
from ledger.application.tiles import export_tiles
from ledger.network.client import DirectorySource, UrlSource
from ledger.verify import Verifier
from tests.conftest import LEDGER_ID, TEAM, World
from tests.network.conftest import (
    GENERATED_ID,
    LOG,
    Serving,
    checkpoint_at,
    custody,
    more_steps,
    name_log_key,
    tiles_served,
)

KEY = LOG.key.public_key.raw


def watch(where, state: Path | None = None, entries: bool = False, key: bytes = KEY):
    source = UrlSource(where) if str(where).startswith("http") else DirectorySource(where)
    try:
        return Monitor(source, key, state, entries).run()
    finally:
        source.close()


def codes(found) -> list[str]:
    return [f.code for f in found.findings]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def published(generated, tmp_path: Path) -> Path:
    """The generated ledger published at 300 events, then at 701 (two exports)."""
    out = tmp_path / "public"
    checkpoint_at(generated, 300)
    export_tiles(generated, out)
    shutil.copytree(out, tmp_path / "at-300")
    checkpoint_at(generated, 701)
    export_tiles(generated, out)
    return out


def test_a_monitor_follows_the_log_over_http_and_audits_every_event(generated,
                                                                    tmp_path: Path) -> None:
    out, state = tmp_path / "public", tmp_path / "monitor"
    checkpoint_at(generated, 300)
    export_tiles(generated, out)
    with tiles_served(out) as url:
        first = watch(url, state)
        assert (first.intact, first.saved, first.checkpoint.size, first.previous) == (
            True, True, 300, None)
        checkpoint_at(generated, 701)
        export_tiles(generated, out)
        second = watch(url, state, entries=True)
    assert codes(second) == [] and second.previous.size == 300
    assert (second.events, second.audited_from, second.checkpoint.size) == (701, 0, 701)
    assert sorted(p.name for p in state.iterdir()) == [f"{GENERATED_ID}.checkpoint", "state"]
    assert oct((state / "state").stat().st_mode & 0o777) == "0o600"
    # Nothing new: nothing read again.
    again = watch(out, state, entries=True)
    assert (again.intact, again.events, again.audited_from) == (True, 0, 701)


def test_the_audit_resumes_where_the_last_run_stopped(logged: World, tmp_path: Path) -> None:
    out, state = tmp_path / "public", tmp_path / "monitor"
    export_tiles(logged.app, out)
    first = watch(out, state, entries=True)
    assert (first.intact, first.events, first.audited_from) == (True, 18, 0)
    more_steps(logged, "LOT-1", 3)
    TransparencyLog(logged.app).sign_checkpoint(LOG)
    export_tiles(logged.app, out)
    second = watch(out, state, entries=True)
    assert (codes(second), second.events, second.audited_from) == ([], 3, 18)


def test_the_monitor_judges_events_as_verify_does(logged: World, tmp_path: Path) -> None:
    # An acknowledged count mismatch and a short presence: warnings and findings verify gives.
    logged.handover("LOT-1", "STF-03", "STF-02", count=29, acknowledge="one bag torn")
    logged.handover("LOT-1", "STF-02", "STF-03", team=TEAM[:5], acknowledge="only five")
    TransparencyLog(logged.app).sign_checkpoint(LOG)
    export_tiles(logged.app, tmp_path / "public")
    seen = watch(tmp_path / "public", tmp_path / "monitor", entries=True)
    verifier = Verifier(logged.app.recorder)
    report = verifier.run()
    verifier.close()
    assert [(f.code, f.position, f.stream, str(f.message)) for f in seen.findings] == [
        (f.code, f.position, f.stream, str(f.message)) for f in report.findings]
    assert "ACKNOWLEDGED_VIOLATION" in codes(seen) and seen.intact


def test_a_fork_is_caught_with_both_checkpoints_kept_and_the_state_unchanged(
        logged: World, twin: World, tmp_path: Path) -> None:
    ours, theirs, state = tmp_path / "ours", tmp_path / "theirs", tmp_path / "monitor"
    export_tiles(logged.app, ours)
    assert watch(ours, state).saved
    held = (state / f"{LEDGER_ID}.checkpoint").read_bytes()
    # The twin: same id and keys, another history, published at another URL.
    twin.register("LOT-9")
    twin.handover("LOT-9", "STF-01", "STF-03")
    name_log_key(twin)
    more_steps(twin, "LOT-9", 6)
    TransparencyLog(twin.app).sign_checkpoint(LOG)
    export_tiles(twin.app, theirs)
    with tiles_served(theirs) as url:
        seen = watch(url, state)
    assert codes(seen) == ["CHECKPOINT_INCONSISTENT"] and not seen.saved
    message = str(seen.findings[0].message)
    assert message.startswith(f"the checkpoint of 20 events at {url} does not extend the one "
                              "of 18 seen before (consistency proof from size 18 to size 20 "
                              "gives old root ") and message.endswith("): the log forked")
    assert seen.findings[0].evidence == {"older": held.decode(),
                                         "newer": (theirs / "checkpoint").read_text()}
    stem = state / f"fork-{LEDGER_ID}-18-20"
    assert Path(f"{stem}.old.checkpoint").read_bytes() == held
    assert Path(f"{stem}.new.checkpoint").read_bytes() == (theirs / "checkpoint").read_bytes()
    assert (state / f"{LEDGER_ID}.checkpoint").read_bytes() == held


def test_a_log_cut_back_is_caught(published: Path, tmp_path: Path) -> None:
    state = tmp_path / "monitor"
    assert watch(published, state).saved
    seen = watch(tmp_path / "at-300", state)
    assert codes(seen) == ["LOG_TRUNCATED"] and not seen.saved
    assert str(seen.findings[0].message) == (f"{tmp_path / 'at-300'} now serves a checkpoint "
                                             "of 300 events; one of 701 was seen before: the "
                                             "log was cut or rolled back")


@pytest.mark.parametrize("path, offset, entries, why", [
    ("tile/1/000.p/2", 40, False, "do not hash to the checkpoint's root"),
    ("tile/0/002.p/189", 3000, False, "do not hash to the checkpoint's root"),
    ("tile/0/001", 100, True, "tile/0/001 does not hash to its entry in tile/1/000.p/2"),
    ("tile/entries/001", 2 + 5, True, "leaf 256: its entry does not hash to its leaf"),
    ("tile/entries/000", 0, True, "the bundle is malformed"),
    ("custody/events/002.p/189", 700, True, "the stored event does not hash to its entry"),
])
def test_one_flipped_byte_in_any_published_file_is_one_finding(
        published: Path, tmp_path: Path, path: str, offset: int, entries: bool,
        why: str) -> None:
    flip(published / path, offset)
    seen = watch(published, tmp_path / "monitor", entries=entries)
    assert codes(seen) == ["ROOT_MISMATCH"], codes(seen)
    assert why in str(seen.findings[0].message)
    assert "\n" not in str(seen.findings[0].message)
    assert not seen.saved and not (tmp_path / "monitor" / "state").exists()


def test_a_checkpoint_the_log_key_did_not_sign_is_refused(published: Path,
                                                          tmp_path: Path) -> None:
    from tests.conftest import fixed_key

    seen = watch(published, tmp_path / "monitor", key=fixed_key("NOT-THE-LOG").public_key.raw)
    assert codes(seen) == ["CHECKPOINT_SIGNATURE_INVALID"] and not seen.saved


def test_a_partial_tile_the_log_deleted_is_read_from_its_full_tile(published: Path,
                                                                  tmp_path: Path) -> None:
    # A reader holding the checkpoint of 300 after the export of 701 removed its partials.
    shutil.copyfile(tmp_path / "at-300" / "checkpoint", published / "checkpoint")
    assert not (published / "tile/0/001.p").exists()
    seen = watch(published, tmp_path / "monitor")
    assert seen.intact and seen.checkpoint.size == 300


def test_custody_monitor_over_log_serve(published: Path, tmp_path: Path) -> None:
    log_pub = tmp_path / "log.pub"
    log_pub.write_text(LOG.key.public_key.format(GENERATED_ID))
    state = tmp_path / "monitor"
    with Serving("log", "serve", "--dir", str(published)) as server:
        first = custody("monitor", server.url, "--log-key", str(log_pub), "--state",
                        str(state), "--entries")
        second = custody("monitor", server.url, "--log-key", str(log_pub), "--state",
                         str(state))
        flip(published / "tile/0/002.p/189", 5)
        third = custody("monitor", server.url, "--log-key", str(log_pub), "--state",
                        str(state))
    assert first.returncode == 0, first.stderr
    root = first.stdout.split("root ", 1)[1][:16]
    assert first.stdout == (
        f"checkpoint of {GENERATED_ID} at {server.url}: 701 events, root {root}…, signed by the "
        f"log key\nthe first checkpoint of this log seen from {state}\nchecked 701 new event(s) "
        f"from position 1 by the ledger's rules\nintact; state saved in {state}\n")
    assert second.stdout.splitlines()[1:] == [
        "it extends the checkpoint of 701 events seen before", f"intact; state saved in {state}"]
    assert third.returncode == 1
    lines = third.stdout.splitlines()
    assert lines[1].startswith(f"ROOT_MISMATCH the tiles at {server.url} do not support its "
                               "checkpoint of 701 events: the tiles ")
    assert lines[2] == "NOT intact: 1 error(s); the state is unchanged"
    assert len(lines) == 3 and third.stderr == ""
    assert '"GET /checkpoint HTTP/1.1" 200' in server.stderr


def test_custody_monitor_of_nothing_there_is_one_error_line(tmp_path: Path) -> None:
    log_pub = tmp_path / "log.pub"
    log_pub.write_text(LOG.key.public_key.format(LEDGER_ID))
    import socket
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = custody("monitor", f"http://127.0.0.1:{port}", "--log-key", str(log_pub))
    assert result.returncode == 2
    assert result.stderr == (f"error: cannot reach http://127.0.0.1:{port}: Connection "
                             "refused\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = custody("monitor", str(empty), "--log-key", str(log_pub))
    assert result.returncode == 2
    assert result.stderr == (f"error: {empty} serves no checkpoint: is it a folder or URL "
                             "written by 'custody log tiles'?\n")
    assert not list(empty.iterdir())


def test_a_log_signing_under_another_name_does_not_start_afresh(published: Path,
                                                               tmp_path: Path) -> None:
    # The log's key signs the same tree under a new origin: without a check, a monitor
    # would take it for a new log and never hold it against the old one.
    from ledger.tlog.checkpoint import Checkpoint
    from ledger.tlog.note import Ed25519Signer, parse_note, sign_note

    state = tmp_path / "monitor"
    assert watch(published, state).saved
    old = Checkpoint.parse(parse_note((published / "checkpoint").read_bytes())[0])
    (published / "checkpoint").write_bytes(sign_note(
        Checkpoint("renamed", old.size, old.root).format(), Ed25519Signer("renamed", LOG.key)))
    seen = watch(published, state)
    assert codes(seen) == ["CHECKPOINT_SIGNATURE_INVALID"] and not seen.saved
    assert "follows another log (bench-province.checkpoint)" in str(seen.findings[0].message)
    source = DirectorySource(published)
    named = Monitor(source, KEY, None, origin=GENERATED_ID).run()
    assert codes(named) == ["CHECKPOINT_SIGNATURE_INVALID"]
    assert "it is a checkpoint of 'renamed'; the key is 'bench-province''s" in str(
        named.findings[0].message)
