"""Witnesses through the CLI: cosign with consistency proofs, forks refused with evidence,
cosignatures stored only when an enrolled inspector made them."""

from __future__ import annotations

import os
import stat
from pathlib import Path


from ledger.application.keystore import write_key_pair
from ledger.tlog.checkpoint import Checkpoint, CosignatureVerifier, cosigner_key
from ledger.tlog.note import parse_note
from tests.cli.conftest import Cli
from tests.conftest import fixed_key

T0 = 1_900_000_000  # later than every recorded_at of these tests' (real-clock) steps


def checkpoint(cli: Cli, log_key: Path, name: str) -> Path:
    path = cli.folder / name
    path.write_text(cli.ok("checkpoint", "--key", str(log_key)).output)
    return path


def cosign(cli: Cli, note: Path, log_key: Path, *extra: str, who: str = "INS-01",
           at: int = T0):
    return cli("witness", "cosign", str(note), "--key", cli.key(who), "--passphrase-file",
               cli.secret(who), "--log-key", f"{log_key}.pub", "--state",
               str(cli.folder / "witness"), "--time", str(at), *extra)


def proof_file(cli: Cli, old: int, new: int) -> Path:
    path = cli.folder / f"proof-{old}-{new}.json"
    path.write_text(cli.ok("prove", "--consistency", str(old), str(new), "--json").output)
    return path


def test_a_witness_cosigns_twice_with_a_consistency_proof_and_the_ledger_stores_it(
        logged: Cli, log_key: Path) -> None:
    first = checkpoint(logged, log_key, "cp1.txt")
    result = cosign(logged, first, log_key)
    assert result.exit_code == 0, result.output
    text, sigs = parse_note(result.output.encode())
    assert [s.name for s in sigs] == ["cli-ledger", "INS-01"]
    verifier = CosignatureVerifier(cosigner_key("INS-01", fixed_key("INS-01").public_key.raw))
    assert verifier.verify(text.encode(), sigs[1].signature)
    assert int.from_bytes(sigs[1].signature[:8], "big") == T0
    kept = logged.folder / "witness" / "cli-ledger.checkpoint"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    old = Checkpoint.parse(text).size

    logged.register("LOT-2")
    second = checkpoint(logged, log_key, "cp2.txt")
    new = Checkpoint.parse(parse_note(second.read_bytes())[0]).size
    # Without the proof the witness cannot know the log only grew.
    missing = cosign(logged, second, log_key, at=T0 + 60)
    assert missing.exit_code == 2 and "needs a consistency proof" in missing.output
    cosigned = cosign(logged, second, log_key, "--proof", str(proof_file(logged, old, new)),
                      at=T0 + 60)
    assert cosigned.exit_code == 0, cosigned.output
    stored = logged.folder / "cosigned.txt"
    stored.write_text(cosigned.output)
    added = logged.ok("witness", "add", str(stored))
    assert f"cosignature by INS-01 at {T0 + 60} stored with the checkpoint of size {new}" \
        in added.output
    assert logged.ok("verify").exit_code == 0


def test_a_fork_is_refused_with_exit_1_and_both_checkpoints_kept_as_evidence(
        logged: Cli, log_key: Path, tmp_path: Path, keyring: Path) -> None:
    first = checkpoint(logged, log_key, "cp1.txt")
    assert cosign(logged, first, log_key).exit_code == 0
    # Another ledger with the same id and log key (a forked copy) signs a checkpoint of
    # another history; it is cosigned by the same office.
    other = Cli(tmp_path / "other", keyring)
    other.init()
    other.ok("log", "enable", "--log-key", f"{log_key}.pub", *other.authority())
    other.register("LOT-9")
    other.register("LOT-8")
    forked = checkpoint(other, log_key, "forked.txt")
    old = Checkpoint.parse(parse_note(first.read_bytes())[0]).size
    new = Checkpoint.parse(parse_note(forked.read_bytes())[0]).size
    result = cosign(logged, forked, log_key, "--proof", str(proof_file(other, old, new)))
    assert result.exit_code == 1
    assert result.output.startswith("error: fork: ")
    evidence = logged.folder / "witness" / f"fork-cli-ledger-{old}-{new}"
    assert Path(f"{evidence}.old.checkpoint").read_bytes() == first.read_bytes()
    assert Path(f"{evidence}.new.checkpoint").read_bytes() == forked.read_bytes()
    # What the witness keeps as its last cosigned checkpoint is unchanged.
    kept = logged.folder / "witness" / "cli-ledger.checkpoint"
    assert kept.read_bytes() == first.read_bytes()


def test_a_same_size_checkpoint_with_another_root_is_a_fork(
        logged: Cli, log_key: Path, tmp_path: Path, keyring: Path) -> None:
    first = checkpoint(logged, log_key, "cp1.txt")
    assert cosign(logged, first, log_key).exit_code == 0
    text, sigs = parse_note(first.read_bytes())
    cp = Checkpoint.parse(text)
    other = Cli(tmp_path / "other", keyring)
    other.init()
    other.register("LOT-9")
    other.ok("log", "enable", "--log-key", f"{log_key}.pub", *other.authority())
    forked = checkpoint(other, log_key, "forked.txt")
    assert Checkpoint.parse(parse_note(forked.read_bytes())[0]).size == cp.size
    result = cosign(logged, forked, log_key)
    assert result.exit_code == 1 and "fork" in result.output


def test_a_cosignature_by_a_non_inspector_is_refused_and_nothing_written(
        logged: Cli, log_key: Path) -> None:
    note = checkpoint(logged, log_key, "cp1.txt")
    result = cosign(logged, note, log_key, who="POL-01")
    assert result.exit_code == 0  # the witness tool cannot know the roster...
    cosigned = logged.folder / "by-police.txt"
    cosigned.write_text(result.output)
    before = logged.db_digest()
    refused = logged("witness", "add", str(cosigned))
    assert refused.exit_code == 4
    assert refused.output == ("error: cosignature by POL-01 refused: POL-01 is a police, "
                              "not an inspector; only enrolled inspectors and the genesis's "
                              "witnesses witness checkpoints\n")
    assert logged.db_digest() == before  # ...the ledger does


def test_a_checkpoint_the_log_key_did_not_sign_is_not_cosigned(
        logged: Cli, log_key: Path, tmp_path: Path) -> None:
    note = checkpoint(logged, log_key, "cp1.txt")
    wrong = tmp_path / "wrong.key"
    write_key_pair(wrong, "cli-ledger", fixed_key("NOT-THE-LOG"), None)
    result = logged("witness", "cosign", str(note), "--key", logged.key("INS-01"),
                    "--passphrase-file", logged.secret("INS-01"), "--log-key",
                    f"{wrong}.pub", "--state", str(tmp_path / "w"))
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert not (tmp_path / "w" / "cli-ledger.checkpoint").exists()


def test_the_readme_witness_example_works_as_written(logged: Cli, log_key: Path,
                                                     monkeypatch) -> None:
    monkeypatch.chdir(logged.folder)
    Path("ins01.key").write_bytes(Path(logged.key("INS-01")).read_bytes())
    Path("log.key.pub").write_bytes(Path(f"{log_key}.pub").read_bytes())
    Path("log.key").write_bytes(log_key.read_bytes())
    os.chmod("ins01.key", 0o600)
    os.chmod("log.key", 0o600)
    passphrase = "passphrase of INS-01\n"

    def run(line: str, out: str | None = None, input: str | None = None) -> str:
        result = logged(*line.split()[1:], input=input)
        assert result.exit_code == 0, (line, result.output)
        if out is not None:
            Path(out).write_text(result.stdout)
        return result.stdout

    run("custody checkpoint --key log.key", "checkpoint.txt")
    first = Checkpoint.parse(parse_note(Path("checkpoint.txt").read_bytes())[0]).size
    run("custody witness cosign checkpoint.txt --key ins01.key --log-key log.key.pub "
        "--state witness-state", "cosigned.txt", input=passphrase)
    run("custody witness add cosigned.txt")
    logged.register("LOT-2")
    run("custody checkpoint --key log.key", "checkpoint.txt")
    size = Checkpoint.parse(parse_note(Path("checkpoint.txt").read_bytes())[0]).size
    run(f"custody prove --consistency {first} {size} --json", "proof.json")
    run("custody witness cosign checkpoint.txt --key ins01.key --log-key log.key.pub "
        "--state witness-state --proof proof.json", "cosigned.txt", input=passphrase)
    assert "cosignature by INS-01 at " in run("custody witness add cosigned.txt")
    assert [s.name for s in parse_note(Path("cosigned.txt").read_bytes())[1]] == [
        "cli-ledger", "INS-01"]
    run("custody verify")
