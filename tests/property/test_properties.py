"""Properties of the canonical codec and the verifier's sensitivity to stored bytes."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core import canonical
from ledger.core.errors import NonCanonical
from ledger.verify import Verifier
from tests.conftest import build_world

nfc_text = st.text(max_size=40).filter(lambda s: canonical.unicodedata.normalize("NFC", s) == s)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=canonical.INT_MIN, max_value=canonical.INT_MAX),
    nfc_text, st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(nfc_text, inner, max_size=6)),
    max_leaves=30,
)


@given(values)
def test_encode_then_decode_round_trips(value):
    assert canonical.decode(canonical.encode(value)) == value


@given(st.binary(max_size=64))
def test_any_bytes_either_are_rejected_or_are_the_canonical_encoding(data):
    try:
        value = canonical.decode(data)
    except NonCanonical:
        return
    assert canonical.encode(value) == data


@given(st.dictionaries(nfc_text, scalars, min_size=2, max_size=6))
def test_maps_with_keys_out_of_order_are_rejected(mapping):
    import msgpack

    ordered = sorted(mapping, key=lambda k: k.encode("utf-8"))
    reversed_map = {k: mapping[k] for k in reversed(ordered)}
    data = msgpack.packb(reversed_map, use_bin_type=True)
    try:
        canonical.decode(data)
    except NonCanonical:
        return
    raise AssertionError("a map with keys in reverse order decoded as canonical")


class RowsRecorder:
    """The verifier's view of a recorder, over notifications held in memory."""

    def __init__(self, notes):
        self.notes = notes

    def max_notification_id(self):
        return self.notes[-1].id

    def select_notifications(self, start, limit, **_):
        # As the library's: start=None is from the lowest position stored.
        return [n for n in self.notes if start is None or n.id >= start][:limit]


_LEDGER = {}


def stored_notes(tmp_path_factory):
    if "notes" not in _LEDGER:
        world = build_world(tmp_path_factory.mktemp("prop") / "custody.db")
        world.register()
        world.handover()
        _LEDGER["notes"] = world.app.recorder.select_notifications(start=1, limit=100)
        world.app.close()
    return _LEDGER["notes"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_any_byte_of_any_stored_event_is_reported(tmp_path_factory, data):
    notes = stored_notes(tmp_path_factory)
    assert Verifier(RowsRecorder(notes)).run().intact
    index = data.draw(st.integers(0, len(notes) - 1), label="event")
    state = bytearray(notes[index].state)
    offset = data.draw(st.integers(0, len(state) - 1), label="byte")
    state[offset] ^= data.draw(st.integers(1, 255), label="xor")
    tampered = list(notes)
    tampered[index] = replace(notes[index], state=bytes(state))
    report = Verifier(RowsRecorder(tampered)).run()
    if not report.intact:
        # A changed recorded_at may show as the next event's RECORDED_AT_REVERSED, naming it.
        assert any(f.position == notes[index].id
                   or f.evidence.get("previous_position") == notes[index].id
                   for f in report.errors)
        return
    # The one change nothing can catch before signed checkpoints exist: the ledger's own
    # recorded_at on the latest event of a stream (no signature and no later prev cover it).
    before, after = canonical.decode(notes[index].state), canonical.decode(bytes(state))
    latest_of_stream = all(n.originator_id != notes[index].originator_id for n in notes[index + 1:])
    assert latest_of_stream
    assert {k: v for k, v in before.items() if k != "timestamp"} == {
        k: v for k, v in after.items() if k != "timestamp"}
