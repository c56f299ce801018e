"""`keys new --passphrase-file` with a passphrase too short names the file it came from (the
refusal used to say only "passphrase is shorter than 8 characters")."""

from __future__ import annotations


def test_keys_new_with_a_short_passphrase_file_names_the_file(cli):
    secret = cli.folder / "short.pass"
    secret.write_text("short\n")
    secret.chmod(0o600)
    out = cli.folder / "p001.key"

    result = cli("keys", "new", "P-001", "--out", str(out), "--passphrase-file", str(secret))

    assert result.exit_code == 4
    assert result.stderr == (f"error: passphrase file {secret}: passphrase is shorter than 8 "
                             "characters (its first line is the passphrase)\n")
    assert not out.exists() and not (cli.folder / "p001.key.pub").exists()


def test_keys_new_with_a_short_passphrase_file_in_chinese(cli):
    secret = cli.folder / "short.pass"
    secret.write_text("short\n")
    secret.chmod(0o600)
    result = cli("--lang", "zh", "keys", "new", "P-001", "--out", str(cli.folder / "k"),
                 "--passphrase-file", str(secret))
    assert result.stderr == (f"错误：口令文件 {secret}：口令短于 8 个字符（其第一行即口令）\n")
