"""The view, on SQLite and PostgreSQL: it equals the verifier's own rebuild, catches up with
only the new events, survives a second writer and a SIGKILL, and an edit to it is reported
by ``verify --projections``."""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import closing
from concurrent.futures import ProcessPoolExecutor

import psycopg
import sqlite3
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from cli.main import main
from ledger.application.custody import open_ledger
from ledger.core.custody import effective_holder
from ledger.projections import access, projection, queries
from ledger.projections import writer as page_writer
from ledger.projections.projection import catch_up
from ledger.projections.sqlite import SQLiteViewRecorder
from ledger.projections.view import COMPARED, INDEXES, Batch
from ledger.storage.sqlite import ledger_datastore
from ledger.verify import Verifier
from ledger.verify.packed import prepare_packed
from tests.conftest import TEAM
from tests.unit.test_exam_day import exam_day


def _view_equals_verifier(db: str) -> None:
    app = open_ledger(db, read_only=True)
    verifier = Verifier(app.recorder, workers=1)
    report = verifier.run()
    answer = access.for_reading(app, lambda: open_ledger(db))
    rows = queries.lots_now(answer.view)
    expected = {lot.lot_id: (lot.kind, lot.exam, lot.subject, lot.count, lot.seals,
                             lot.holder, lot.packed_in, lot.location, lot.last_type,
                             lot.last_occurred_at, lot.unsealed, lot.closed,
                             effective_holder(lot, verifier.state.lots.get),
                             verifier.findings_by_stream.get(stream, 0))
                for stream, lot in verifier.state.lots.items()}
    found = {row.lot_id: (row.kind, row.exam, row.subject, row.count, row.seals, row.holder,
                          row.packed_in, row.location, row.last_type, row.last_occurred_at,
                          row.unsealed, row.closed, held, row.findings)
             for row, held in rows}
    assert found == expected
    assert answer.position == app.last_position() == report.events
    verifier.close()


def test_the_view_equals_the_verifiers_rebuild_of_the_exam_day(world) -> None:
    exam_day(world)
    _view_equals_verifier(str(world.db))


def test_a_catch_up_folds_only_the_events_after_the_views_position(world) -> None:
    world.register("LOT-1")
    app = world.app
    world.handover("LOT-1", "STF-01", "STF-02")
    world.handover("LOT-1", "STF-02", "STF-03")
    view = access.writable_view(app)
    # The recorder brought the view up to the log's head after each step (it reads there
    # what verify will report at the step): fold it again, all but the last two events.
    assert view.position() == app.last_position()
    view.clear()
    first = catch_up(view, app.recorder, until=app.last_position() - 2)

    assert catch_up(view, app.recorder) == 2
    assert catch_up(view, app.recorder) == 0
    assert first == view.position() - 2
    (row, held), = queries.lots_now(view, lot="LOT-1")
    assert (held, row.last_type, row.position) == ("STF-03", "lot.handed_over",
                                                   app.last_position())


def test_the_lots_at_a_past_position_are_those_of_a_view_folded_only_that_far(world) -> None:
    """``status --at`` answers from the whole view (each lot's last step in the cut, the
    findings its steps carried): it must equal ``status`` on a view folded to that position."""
    world.register("LOT-1")
    world.handover("LOT-1", "STF-01", "STF-02")
    world.register("LOT-2")
    world.handover("LOT-1", "STF-02", "STF-03", team=TEAM[1:],  # one police officer short
                   acknowledge="POL-01 called away; the room's CCTV covers the handover")
    world.handover("LOT-2", "STF-01", "STF-04")
    world.handover("LOT-1", "STF-03", "STF-01", team=TEAM[1:], acknowledge="again short")
    app = world.app
    view = access.writable_view(app)
    catch_up(view, app.recorder)
    last = app.last_position()
    answered = {cut: queries.lots_at(view, position=cut) for cut in range(1, last + 1)}
    view.clear()
    for cut in range(1, last + 1):
        catch_up(view, app.recorder, until=cut)
        assert answered[cut] == [row for row, _ in queries.lots_now(view)], cut
    assert [(row.lot_id, row.holder, row.findings) for row in answered[last]] == [
        ("LOT-1", "STF-01", 2), ("LOT-2", "STF-04", 0)]
    assert [row.lot_id for row in answered[last - 5]] == ["LOT-1"]


def test_lots_packed_in_a_container_are_held_by_the_containers_holder(world) -> None:
    """``status`` reads only the containers the lots asked about are packed in: a packed lot
    is held by its container's holder, and ``--holder`` finds it through the container."""
    world.register("LOT-1")
    world.register("LOT-2")
    world.register("LOT-3")
    world.register("BOX-1", lot={"kind": "container", "seals": ["SB-1"], "count": 2})
    world.app.pack("BOX-1", ["LOT-1", "LOT-2"], False, "Secure room 1", world.clock.now,
                   world.sign(*TEAM))
    world.handover("BOX-1", "STF-01", "STF-02", seals=["SB-1"], count=2)
    view = access.writable_view(world.app)
    catch_up(view, world.app.recorder)

    def held(**filters: str) -> list[tuple[str, str | None]]:
        return [(row.lot_id, holder) for row, holder in queries.lots_now(view, **filters)]

    assert held() == [("BOX-1", "STF-02"), ("LOT-1", "STF-02"), ("LOT-2", "STF-02"),
                      ("LOT-3", "STF-01")]
    assert held(lot="LOT-2") == [("LOT-2", "STF-02")]
    assert held(holder="STF-02") == [("BOX-1", "STF-02"), ("LOT-1", "STF-02"),
                                     ("LOT-2", "STF-02")]
    assert held(holder="STF-01") == [("LOT-3", "STF-01")]


def test_verify_projections_reports_a_view_edited_in_the_database(world) -> None:
    world.register("LOT-1")
    world.handover("LOT-1", "STF-01", "STF-02")
    runner = CliRunner()
    built = runner.invoke(main, ["--db", str(world.db), "status", "--json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["lots"][0]["holder"] == "STF-02"
    clean = runner.invoke(main, ["--db", str(world.db), "verify", "--projections", "--json",
                                 "--workers", "1"])
    assert clean.exit_code == 0, clean.output
    _edit(str(world.db), "UPDATE view_lots SET holder = 'POL-01' WHERE lot = 'LOT-1'")

    report = runner.invoke(main, ["--db", str(world.db), "verify", "--projections", "--json",
                                  "--workers", "1"])

    assert report.exit_code == 1, report.output
    (finding,) = [f for f in json.loads(report.stdout)["findings"]]
    assert finding["code"] == "PROJECTION_MISMATCH"
    assert "view_lots: lot LOT-1 differs" in finding["message"]
    assert finding["evidence"]["stored"]["holder"] == "POL-01"
    assert finding["evidence"]["rebuilt"]["holder"] == "STF-02"


def _indexes(db: str) -> set[str]:
    """The view's secondary indexes that exist in the ledger's database."""
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db)) as connection:
            found = connection.execute("SELECT indexname FROM pg_indexes").fetchall()
    else:
        with closing(sqlite3.connect(db)) as connection:
            found = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'index'"
                                       ).fetchall()
    named = {statement.split(" EXISTS ")[1].split()[0] for statement in INDEXES}
    return {name for (name,) in found} & named


def test_a_rebuild_makes_the_secondary_indexes_once_it_reaches_the_head(world) -> None:
    """A rebuild folds into tables without their secondary indexes and makes them at the end;
    one stopped short of the head leaves them to the catch-up that reaches it."""
    exam_day(world)
    db, app = str(world.db), world.app
    assert len(_indexes(db)) == len(INDEXES)
    view = access.writable_view(app)
    view.clear()
    catch_up(view, app.recorder, until=app.last_position() - 2)

    assert _indexes(db) == set() and view.meta()["unindexed"] == 1
    assert catch_up(view, app.recorder) == 2
    assert len(_indexes(db)) == len(INDEXES) and "unindexed" not in view.meta()
    _view_equals_verifier(db)


def test_a_view_in_the_layout_of_an_older_version_is_made_anew_by_the_next_read(world) -> None:
    """Version 5 kept event hashes as hex text (and rowid tables on SQLite): the next read
    folds the log again into tables of this version's layout, which verify finds equal."""
    world.register("LOT-1")
    world.handover("LOT-1", "STF-01", "STF-02")
    db = str(world.db)
    if db.startswith("postgresql://"):
        older = ["ALTER TABLE view_steps ALTER COLUMN event_hash TYPE text "
                 "USING encode(event_hash, 'hex')"]
        layout = ("SELECT data_type FROM information_schema.columns WHERE table_name = "
                  "'view_steps' AND column_name = 'event_hash'")
    else:
        older = ["DROP TABLE view_attendees",
                 "CREATE TABLE view_attendees (position INTEGER, person TEXT, role TEXT, "
                 "counted INTEGER, PRIMARY KEY (position, person))"]
        layout = "SELECT sql LIKE '%WITHOUT ROWID' FROM sqlite_schema WHERE name = 'view_attendees'"
    for statement in [*older, "UPDATE view_meta SET value = '5' WHERE key = 'view_version'"]:
        _edit(db, statement)

    status = CliRunner().invoke(main, ["--db", db, "status", "--json"])

    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["lots"][0]["holder"] == "STF-02"
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db)) as connection:
            assert connection.execute(layout).fetchone() == ("bytea",)
    else:
        with closing(sqlite3.connect(db)) as connection:
            assert connection.execute(layout).fetchone() == (1,)
    _view_equals_verifier(db)


def test_verify_projections_says_a_view_that_lags_is_behind(world) -> None:
    world.register("LOT-1")
    runner = CliRunner()
    world.handover("LOT-1", "STF-01", "STF-02")
    # The recorder keeps the view at the head; fold it again, one event short of it.
    view = access.writable_view(world.app)
    view.clear()
    catch_up(view, world.app.recorder, until=world.app.last_position() - 1)

    report = runner.invoke(main, ["--db", str(world.db), "verify", "--projections", "--json",
                                  "--workers", "1"])

    assert report.exit_code == 0, report.output  # a lag is a warning: the next read fixes it
    codes = [f["code"] for f in json.loads(report.stdout)["findings"]]
    assert codes == ["PROJECTION_BEHIND"]


def test_presence_lists_every_attendee_with_the_rosters_role(world) -> None:
    world.register("LOT-1")
    runner = CliRunner()

    result = runner.invoke(main, ["--db", str(world.db), "presence", "--lot", "LOT-1", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (step,) = data["steps"]
    assert data["log_position"] == world.app.last_position()
    assert step["verdict"] == "met" and step["type"] == "lot.registered"
    assert {(a["person"], a["role"], a["counted"]) for a in step["attendees"]} == {
        ("POL-01", "police", True), ("POL-02", "police", True), ("STF-01", "staff", True),
        ("STF-02", "staff", True), ("STF-03", "staff", True), ("STF-04", "staff", True)}


def test_a_second_process_appending_while_a_reader_catches_up(world) -> None:
    """Another process records steps while this one catches the view up, again and again:
    every catch-up ends at a position the log held, and the last equals the verifier's."""
    world.register("LOT-1")
    db = str(world.db)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, db], cwd=os.getcwd())
    try:
        app = open_ledger(db)
        view = access.writable_view(app)
        while writer.poll() is None:
            catch_up(view, app.recorder, page=3)
            assert view.position() <= app.last_position()
        assert writer.returncode == 0
    finally:
        writer.kill()
    _view_equals_verifier(db)


_WRITER = """
import sys
from tests.conftest import Clock, World, fixed_key, AUTHORITY, PEOPLE
from ledger.application.custody import open_ledger
from ledger.application.keystore import Signer
from datetime import datetime, timezone
db = sys.argv[1]
clock = Clock(datetime(2026, 6, 6, 6, 0, tzinfo=timezone.utc))
app = open_ledger(db, clock=clock)
world = World(app, db, clock, {p: Signer(p, fixed_key(p)) for p in [AUTHORITY, *PEOPLE]})
holders = ["STF-01", "STF-02", "STF-03"]
for i in range(12):
    world.handover("LOT-1", holders[i % 3], holders[(i + 1) % 3])
"""


def test_a_rebuild_killed_midway_leaves_a_view_the_next_command_completes(world) -> None:
    exam_day(world)
    db = str(world.db)
    runner = CliRunner()
    assert runner.invoke(main, ["--db", db, "status"]).exit_code == 0
    # A rebuild in pages of one event, killed once it has written some of them.
    child = subprocess.Popen([sys.executable, "-c", _REBUILD, db], cwd=os.getcwd(),
                             stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()  # it has committed its first pages
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    status = runner.invoke(main, ["--db", db, "status", "--json"])
    report = runner.invoke(main, ["--db", db, "verify", "--projections", "--json",
                                  "--workers", "1"])

    assert status.exit_code == 0, status.output
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["findings"] == []
    _view_equals_verifier(db)


_REBUILD = """
import sys, time
from ledger.application.custody import open_ledger
from ledger.projections import access
from ledger.projections.projection import catch_up
from ledger.projections.view import INDEXES
app = open_ledger(sys.argv[1])
view = access.writable_view(app)
view.clear()
def progress(n, seen=[0]):
    seen[0] += n
    if seen[0] == 5:
        print("committed", flush=True)
        time.sleep(30)
catch_up(view, app.recorder, page=1, progress=progress)
"""


def _edit(db: str, statement: str) -> None:
    if db.startswith("postgresql://"):
        with closing(psycopg.connect(db, autocommit=True)) as connection:
            connection.execute(statement)
    else:
        with closing(sqlite3.connect(db)) as connection, connection:
            connection.execute(statement)


def _blob(db: str, data: bytes) -> str:
    """``data`` as an SQL literal of the backend's bytes type (an edit of a bytes column)."""
    return f"'\\x{data.hex()}'::bytea" if db.startswith("postgresql://") else f"X'{data.hex()}'"


_EXAMPLES = itertools.count(1)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([0, 1]),
                          st.sampled_from(["STF-01", "STF-02", "STF-03", "POL-01"]),
                          st.booleans()), max_size=6),
       st.booleans())
def test_the_view_equals_the_verifiers_rebuild_for_generated_steps(world, steps,
                                                                  catch_up_each) -> None:
    """Handovers between generated holders, some with only five people present (kept with an
    acknowledgement), the view caught up after each step or once: always the verifier's
    state. Each example adds lots of its own to the same ledger."""
    n = next(_EXAMPLES)
    lots = [f"LOT-{n}-A", f"LOT-{n}-B"]
    holders = {}
    view = access.writable_view(world.app)
    for lot_id in lots:
        world.register(lot_id)
        holders[lot_id] = "STF-01"
    for which, to, short in steps:
        lot_id = lots[which]
        if to == holders[lot_id]:
            continue
        team = TEAM[:5] if short else TEAM
        world.handover(lot_id, holders[lot_id], to, team=team,
                       **({"acknowledge": "two staff were at the gate"} if short else {}))
        holders[lot_id] = to
        if catch_up_each:
            catch_up(view, world.app.recorder)
    _view_equals_verifier(str(world.db))


def _rebuilt_tables(app) -> dict[str, list[tuple]]:
    access.rebuild(app)
    view = access.writable_view(app)
    return {table: list(view.rows(table)) for table in COMPARED}


def _dies_after_the_first_chunk(raws, *args):
    """A helper process that stops (as if killed) once past the log's first rows."""
    if raws[0][0] > 8:
        os._exit(1)
    return prepare_packed(raws, *args)


def test_a_rebuild_decoded_in_a_helper_process_equals_one_decoded_here(
        world, raw, monkeypatch) -> None:
    """A long rebuild decodes rows in a helper process (``RowStage``): every table of the
    view, a damaged row's error included, is what decoding in the folding process gives; and
    a helper that stops midway leaves the rest to be decoded here, with the same view."""
    exam_day(world)
    raw.set_state("person:STF-03", 1, b"\x81\xa4body\xc0")  # damaged: no valid event
    damaged = raw.position("person:STF-03", 1)
    app = world.app
    here = _rebuilt_tables(app)
    (step,) = [row for row in here["view_steps"] if row[0] == damaged]
    assert (step[3], step[13]) == ("", 1)  # no type read; one error

    pools = []

    class CountedPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:
            if kwargs.get("initializer") is not page_writer._open:  # not the page writer's
                pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(projection.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(projection, "POOLED_FROM", 1)
    monkeypatch.setattr(projection, "CHUNK", 16)
    assert _rebuilt_tables(app) == here
    assert len(pools) == 1

    monkeypatch.setattr("ledger.verify.packed.prepare_packed", _dies_after_the_first_chunk)
    assert _rebuilt_tables(app) == here
    assert len(pools) == 2


class _SlowView(SQLiteViewRecorder):
    """The view as a page writer's helper process opens it: each page written a little late
    (so a fold that read the view before the page is written would find it missing), and
    noted, with the helper's process id, in ``WRITTEN``; the third page is never written if
    ``STOP`` exists: the helper stops, as if killed."""

    def write(self, batch, start, end, meta):
        with open(self.noted, "a") as noted:
            noted.write(f"{os.getpid()}\n")
        if os.path.exists(self.stop) and sum(1 for _ in open(self.noted)) == 3:
            os._exit(1)
        time.sleep(0.05)
        return super().write(batch, start, end, meta)


def _slow_view_at(db_name, lock_timeout, noted, stop):
    view = _SlowView(datastore=ledger_datastore(db_name, lock_timeout))
    view.noted, view.stop = noted, stop
    return view


def test_a_rebuild_written_by_a_helper_process_equals_one_written_here(
        world, tmp_path, monkeypatch) -> None:
    """A long rebuild hands its pages to a helper process to write (``PageWriter``) while it
    folds the next. With pages of seven events and nothing kept cached between them, the
    fold reads back from the view what each page before wrote: every table is what writing
    in the folding process gives, though each page is written late. A helper that stops
    midway leaves the rest to the folding process, with the same view."""
    exam_day(world)
    app = world.app
    monkeypatch.setattr(projection, "FRESH_PAGE", 7)
    monkeypatch.setattr(projection, "resident_for", lambda available: 0)
    monkeypatch.setattr(projection, "WRITTEN_KEPT", 0)
    here = _rebuilt_tables(app)  # one core: no helper of any kind

    if str(world.db).startswith("postgresql://"):
        assert access.writable_view(app).opener() is None  # PostgreSQL: written in process
        return
    noted, stop = tmp_path / "written", tmp_path / "stop"
    monkeypatch.setattr(projection.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(projection, "POOLED_FROM", 1)
    monkeypatch.setattr(SQLiteViewRecorder, "opener", lambda self: functools.partial(
        _slow_view_at, self.datastore.pool.db_name, self.datastore.pool.lock_timeout,
        str(noted), str(stop)))
    assert _rebuilt_tables(app) == here
    writers = noted.read_text().split()
    pages = -(-app.last_position() // 7)
    assert len(writers) == pages > 3 and set(writers) != {str(os.getpid())}
    assert len(set(writers)) == 1

    noted.unlink()
    stop.touch()
    assert _rebuilt_tables(app) == here
    assert len(noted.read_text().split()) == 3  # the helper stopped at its third page


_VALUES = st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.text(), st.binary())


@settings(max_examples=200, deadline=None)
@given(inserts=st.dictionaries(st.sampled_from(["view_steps", "view_findings", "view_people"]),
                               st.lists(st.tuples(_VALUES, _VALUES, _VALUES), min_size=1)),
       upserts=st.lists(st.tuples(st.sampled_from(["view_lots", "view_fold"]),
                                  st.tuples(st.text(max_size=3), _VALUES, _VALUES))),
       ended=st.lists(st.tuples(st.text(), st.text(), st.text(), st.text())))
def test_a_page_handed_to_the_page_writer_comes_back_as_it_went(inserts, upserts, ended) -> None:
    """The page writer's helper gets each page packed with msgspec (``writer.packed``): every
    row comes back with the same values of the same types (ints, text, bytes, None), in the
    same order, an upserted row's last state once."""
    batch = Batch()
    for table, rows in inserts.items():
        for row in rows:
            batch.insert(table, row)
    for table, row in upserts:
        batch.upsert(table, row)
    batch.ended.extend(ended)

    back = page_writer.unpacked(page_writer.packed(batch))

    def typed(rows):
        return [tuple((type(value), value) for value in row) for row in rows]

    assert {t: typed(rows) for t, rows in back.inserts.items()} == {
        t: typed(rows) for t, rows in batch.inserts.items()}
    assert {t: (list(rows), typed(rows.values())) for t, rows in back.upserts.items()} == {
        t: (list(rows), typed(rows.values())) for t, rows in batch.upserts.items()}
    assert typed(back.ended) == typed(batch.ended)


def test_a_ctrl_c_reaching_the_page_writer_leaves_it_to_the_folding_process(tmp_path) -> None:
    """Ctrl-C reaches every process of the foreground group; the helper ignores it (the
    folding process alone stops, and stops it once the page in hand is written), so it
    neither prints a traceback of its own nor drops a page."""
    from tests.conftest import build_world

    world = build_world(tmp_path / "custody.db")
    try:
        view = access.writable_view(world.app)
        view.clear()
        writer = page_writer.PageWriter(view.opener())
        try:
            writer.write(Batch(), None, 1, {})
            writer.settle()
            (helper,) = writer._pool._processes  # noqa: SLF001 - its one process, by pid
            os.kill(helper, signal.SIGINT)
            time.sleep(0.2)
            writer.write(Batch(), 1, 2, {})
            writer.settle()  # written: the helper is still there
        finally:
            writer.close()
        assert view.position() == 2
    finally:
        world.app.close()
