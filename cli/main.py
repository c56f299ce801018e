"""The ``custody`` command: the root group, its error handling, and every room of the CLI.

Each command group lives in a module of its own (keys, roster, recording, rooms, verify, views,
log, witness, authority, copy, demo); this file names them, and each is imported only when it
runs, so start-up pays for click alone. Commands parse, call the ledger, print: no business
rules here."""

from __future__ import annotations

from typing import Any, Sequence

import click

from cli import i18n, times
from cli.group import RootGroup
from ledger import __version__
from ledger.core.errors import InputError, LedgerError

EXIT_CODES_HELP = """\b
Ids (people, lots, rooms, exams, seals ...): 1-64 ASCII letters, digits, '.', '_', '-'.
Text: one line, at most 200 characters (notes 2,000), no control or invisible characters.
Arguments are UTF-8.

\b
Exit codes: 0 success (verify: intact); 1 verify (or status --verified) found errors;
2 bad input or usage, or the machine fell short (scratch space, a lost worker);
3 refused by a rule (nothing written); 4 key file or passphrase; 5 database;
6 another writer changed the lot first (re-draft).
"""

# Every command: where it lives, imported only when it runs (or its own --help is asked
# for), and its short help as the command's own help begins (tests/cli/test_startup.py
# checks the two agree), so `custody --help` lists them all without importing any.
COMMANDS: dict[str, tuple[str, str]] = {
    "authority": ("cli.authority:authority", "The authority set: who signs enrolments, rooms "
                  "and policies, and how many must."),
    "check-receipt": ("cli.log:register", "Verify receipts (c2sp.org/tlog-proof); with the "
                      "ledger, also that each receipted event is still there at its index "
                      "(else EVENT_MISSING, exit 1)."),
    "checkpoint": ("cli.log:register", "Sign the tree head as a C2SP checkpoint, store it and "
                   "print it."),
    "copy": ("cli.copy:copy_command", "Move a ledger between SQLite and PostgreSQL, either "
             "way, verified identical."),
    "demo": ("cli.demo:demo", "Record a realistic exam day into SQLite, then verify the "
             "chain."),
    "draft": ("cli.recording:draft", "Write a step as an unsigned draft file, for each "
              "attendee to sign on their own device."),
    "duty": ("cli.recording:duty", "Start or end a duty shift in a secure room (24-hour "
             "duty)."),
    "export": ("cli.bundle:export", "Write BUNDLE: the lots' steps, their containers' and "
               "rooms' steps, the whole roster and the ledger's own events, each as stored "
               "with its inclusion proof, and the latest stored (cosigned) checkpoint."),
    "history": ("cli.views:history", "The steps of LOT_ID in order, with who was present and "
                "the presence verdict."),
    "init": ("cli.roster:init", "Start a new ledger: its genesis names the authority, the "
             "presence policy and any witnesses."),
    "keys": ("cli.keys:keys", "Create Ed25519 key files (encrypted PKCS#8, mode 0600)."),
    "log": ("cli.log:register", "The transparency log: name its checkpoint-signing key; "
            "publish it as tiles."),
    "lot": ("cli.recording:lot", "Register lots of papers."),
    "monitor": ("cli.monitor:monitor", "Check a published log: signed, consistent with what "
                "was seen, events intact."),
    "patrol": ("cli.recording:patrol", "A remote video patrol (网上巡视) by an inspector."),
    "person": ("cli.roster:person", "Enrol people, revoke or rotate their keys "
               "(authority-signed)."),
    "policy": ("cli.roster:policy", "Set the presence policy in force (authority-signed, "
               "versioned)."),
    "presence": ("cli.views:presence", "Every step with who was present, their roster roles, "
                 "the policy and its verdict."),
    "projections": ("cli.views:projections", "The view status, history and presence are "
                    "answered from (docs/operations.md)."),
    "prove": ("cli.log:register", "Print an inclusion proof of the event at POSITION, or a "
              "consistency proof."),
    "record": ("cli.recording:record", "Record a step, co-signed on this terminal by everyone "
               "present (--sign per person)."),
    "replay": ("cli.incident:replay", "Replay the steps in log order, as an inspector "
               "reconstructs an incident."),
    "report": ("cli.report:report", "Write a self-contained HTML report: the verification "
               "summary (intact, or every finding with its evidence), each lot's custody "
               "timeline, secure-room duty coverage with its gaps as a chart, and the signed "
               "checkpoint it was made from."),
    "room": ("cli.rooms:room", "Register licensed secure rooms (authority-signed)."),
    "site": ("cli.rooms:site", "Register sites: printing houses, exam sites and rooms, marking "
             "and scanning centres (authority-signed)."),
    "sign": ("cli.recording:sign", "Add your signature to a draft, after reading exactly what "
             "you are signing."),
    "status": ("cli.views:status", "Where every lot is, who holds it, its last step, and the "
               "findings its steps carried."),
    "submit": ("cli.recording:submit", "Check a signed draft against the rules and append it "
               "to the ledger."),
    "timeline": ("cli.incident:timeline", "Timelines after an incident: one person's, or one "
                 "secure room's, in time order."),
    "verify": ("cli.verify:verify", "Recompute every hash, walk every chain, verify every "
               "signature and rule; recompute the Merkle tree and check every stored "
               "checkpoint (and any given) against it, and every row of the stored tree too "
               "(ROOT_MISMATCH names the first differing one)."),
    "verify-bundle": ("cli.bundle:verify_bundle", "Check BUNDLE offline, with no database: the "
                      "checkpoint's signature, every event's inclusion proof, then every "
                      "hash, chain, signature and rule as 'custody verify' checks them."),
    "witness": ("cli.witness:register", "Witnesses: an independent office cosigns "
                "checkpoints (C2SP tlog-cosignature)."),
}


class LedgerGroup(RootGroup):
    """Turns every expected LedgerError into one line on stderr and its exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, before any option is read
            try:
                refuse_undecodable(args)
            except LedgerError as error:
                from cli.errors import LedgerFailure

                raise LedgerFailure(error) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        succeeded = False
        try:
            result = super().invoke(ctx)
            succeeded = True
        except LedgerError as error:
            from cli.errors import LedgerFailure

            raise LedgerFailure(error) from None
        finally:
            writer = ctx.obj.pop("writer", None) if (
                ctx.parent is None and isinstance(ctx.obj, dict)) else None
            if writer is not None:
                if succeeded:  # a refused command writes nothing, not even the view
                    from cli.views import refresh_after_write

                    refresh_after_write(writer)
                writer.close()
        return result


def refuse_undecodable(args: Sequence[str]) -> None:
    """Refuse an argument that was not valid UTF-8.

    On Linux, Python hands undecodable argv bytes over as lone surrogates (PEP 383); one
    would reach the database encoder and end in a traceback. Refused here, by position and
    the option it belongs to."""
    for index, arg in enumerate(args):
        if any("\ud800" <= c <= "\udfff" for c in arg):
            option = arg.split("=", 1)[0] if arg.startswith("--") else (
                args[index - 1] if index and args[index - 1].startswith("-") else None)
            raw = arg.encode("utf-8", "surrogateescape")
            raise InputError(
                f"argument {index + 1}" + (f" ({option})" if option else "")
                + f" is not valid UTF-8: {raw!r}; give every argument as UTF-8 text")


@click.group(cls=LedgerGroup, lazy=COMMANDS, epilog=EXIT_CODES_HELP)
@click.option("--db", envvar="CUSTODY_DB", default=None, metavar="PATH|URL",
              help="Ledger database: a SQLite file (default ./custody.db) or postgresql://host/db. "
                   "Also CUSTODY_DB.")
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), envvar="CUSTODY_LANG",
              default=i18n.default_language, is_eager=True, expose_value=False,
              callback=lambda ctx, param, value: i18n.use(value),
              help="Language of messages, reports and step names: zh or en (default: "
                   "CUSTODY_LANG, else the locale: zh_* gives zh). Codes and JSON stay English.")
@click.option("--tz", envvar="CUSTODY_TZ", default=None, metavar="ZONE", is_eager=True,
              expose_value=False, callback=times.option_callback,
              help="Time zone times are printed in: an IANA name (Asia/Shanghai) or an offset "
                   "(+08:00). Default: CUSTODY_TZ, else the ledger's own (custody init "
                   "--time-zone). JSON keeps the stored UTC times.")
@click.version_option(version=__version__, prog_name="custody")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """custody-ledger: co-signed, hash-chained custody records of examination papers.

    \b
    A typical day:
      custody keys new P-001 --out p001.key
      custody init --ledger-id gd-2026 --authority-key authority.key
      custody person enrol P-001 --name "Li Wei" --role police --unit "City PSB" \\
          --public-key p001.key.pub --authority-key authority.key
      custody lot register MATH-01 --exam gaokao-2026 --subject math --kind question_paper \\
          --count 30 --seal S-1 --holder P-003 --location "Printing house" --sign p001.key ...
      custody record handover --lot MATH-01 --from P-003 --to P-004 --seal S-1 --count 30 \\
          --location "Secure room 1" --sign p001.key ...
      custody verify
    """
    ctx.obj = {"db": db}
