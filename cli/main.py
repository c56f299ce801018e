"""The ``custody`` command: the root group, its error handling, and every room of the CLI.

Each command group lives in a module of its own (keys, roster, recording, rooms, verify, views,
log, witness, authority, copy, demo); this file only puts them together. Commands parse, call
the ledger, print: no business rules here."""

from __future__ import annotations

from typing import Any

import click

from cli import i18n, times
from cli.errors import LedgerFailure
from cli.options import refuse_undecodable
from ledger.core.errors import LedgerError

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


class LedgerGroup(click.Group):
    """Turns every expected LedgerError into one line on stderr and its exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, before any option is read
            try:
                refuse_undecodable(args)
            except LedgerError as error:
                raise LedgerFailure(error) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        succeeded = False
        try:
            result = super().invoke(ctx)
            succeeded = True
        except LedgerError as error:
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


@click.group(cls=LedgerGroup, epilog=EXIT_CODES_HELP)
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
@click.version_option(package_name="custody-ledger")
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
          --count 30 --seal S-1 --location "Printing house" --sign p001.key ...
      custody record handover --lot MATH-01 --from P-003 --to P-004 --seal S-1 --count 30 \\
          --location "Secure room 1" --sign p001.key ...
      custody verify
    """
    ctx.obj = {"db": db}


def _register() -> None:
    from cli import (authority, bundle, copy, demo, incident, keys, log, recording, report,
                     rooms, roster, verify, views, witness)

    for command in (keys.keys, roster.init, roster.person, roster.policy, rooms.room, rooms.site,
                    recording.lot, recording.record, recording.draft, recording.duty,
                    recording.patrol, recording.sign, recording.submit, verify.verify,
                    views.status, views.history, views.presence, views.projections,
                    incident.replay, incident.timeline,
                    authority.authority, copy.copy_command, demo.demo, bundle.export,
                    bundle.verify_bundle, report.report):
        main.add_command(command)
    log.register(main)
    witness.register(main)


_register()
