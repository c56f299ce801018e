"""C2SP tlog-tiles, pure: paths against the spec's worked examples, parsing that refuses every
non-canonical path, bundles, and the tile reader that authenticates tiles against a root."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.tlog.merkle import (
    CompactRange,
    check_record,
    check_tree,
    leaf_hash,
    prove_record,
    prove_tree,
    stored_hash_index,
    tree_hash,
)
from ledger.tlog.tiles import (
    ENTRIES,
    Tile,
    TileReader,
    format_bundle,
    format_index,
    format_tile,
    hash_from_tile,
    levels_of,
    new_tiles,
    parse_bundle,
    parse_tile,
    tile_for_index,
    tiles_of,
)


class Log:
    """Every stored hash of a log of ``size`` leaves, kept in a list (as a store keeps them)."""

    def __init__(self, size: int) -> None:
        self.hashes: list[bytes] = []
        tree = CompactRange()
        for i in range(size):
            self.hashes += tree.append(leaf_hash(hashlib.sha256(b"%d" % i).digest()))
        self.size = size
        self.root = tree.root()

    def read(self, indexes: list[int]) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def tile(self, tile: Tile) -> bytes:
        return format_tile(self.read(tile.indexes()))


_LOGS: dict[int, Log] = {}


def log_70000() -> Log:
    """The size of the spec's example, built once (two levels of full tiles and a third)."""
    if 70_000 not in _LOGS:
        _LOGS[70_000] = Log(70_000)
    return _LOGS[70_000]


# --- paths ---------------------------------------------------------------------------------


def test_the_specs_worked_example_of_an_index_path() -> None:
    # tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    assert format_index(1234067) == "x001/x234/067"
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    # Go's tile.go: Tile{H: 3, L: 4, N: 1234067, W: 1} is tile/3/4/x001/x234/067.p/1 (with
    # the height, which C2SP paths leave out).
    assert Tile(4, 1234067, 1).path() == "tile/4/x001/x234/067.p/1"
    assert Tile(ENTRIES, 1234067, 1).path() == "tile/entries/x001/x234/067.p/1"
    assert Tile(0, 5).path() == "tile/0/005"
    assert Tile(0, 1000).path() == "tile/0/x001/000"
    assert Tile(63, 0, 255).path() == "tile/63/000.p/255"


def test_the_specs_worked_examples_of_which_tiles_a_tree_has() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1."
    level0, level1, level2 = (tiles_of(70_000, level) for level in levels_of(70_000))
    assert len(level0) == 274 and all(t.full for t in level0[:273])
    assert level0[-1] == Tile(0, 273, 112)
    assert level1 == [Tile(1, 0), Tile(1, 1, 17)]
    assert level2 == [Tile(2, 0, 1)]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1."
    assert [tiles_of(256, level) for level in levels_of(256)] == [[Tile(0, 0)], [Tile(1, 0, 1)]]
    assert list(levels_of(0)) == [] and tiles_of(0, 0) == []
    assert tiles_of(70_000, ENTRIES)[-1] == Tile(ENTRIES, 273, 112)


@pytest.mark.parametrize("path", [
    "tile/0/x001/x234/067", "tile/0/000", "tile/5/999.p/255", "tile/entries/x001/000.p/1",
    "tile/63/x999/x999/x999/x999/x999/x999/999",
])
def test_canonical_paths_parse_back_to_themselves(path: str) -> None:
    assert Tile.parse(path).path() == path


@pytest.mark.parametrize("path", [
    "tile/0/5",                # N not three digits
    "tile/0/0005",
    "tile/0/x000/005",         # a leading zero group: 5 has one path
    "tile/0/x001",             # the last group has no x
    "tile/0/001/002",          # the groups before the last need one
    "tile/00/000",             # leading zero in the level
    "tile/64/000",             # level out of range
    "tile/-1/000",
    "tile/0/000.p/256",        # a full tile is never named partial
    "tile/0/000.p/0",
    "tile/0/000.p/07",         # leading zero in the width
    "tile/0/000.p/",
    "tile/0/000.p/7/8",        # anything after the width
    "tile/0/000/",
    "tile//000",
    "tile/0",
    "tiles/0/000",
    "/tile/0/000",
    "tile/0/x001/x002/x003/x004/x005/x006/x007/008",  # more groups than any tree needs
    "tile/0/０００",            # not ASCII
    "tile/data/000",           # Go's sumdb data tiles are not C2SP's
    "tile/entries/000.p/256",
])
def test_a_non_canonical_path_is_refused(path: str) -> None:
    with pytest.raises(NonCanonical):
        Tile.parse(path)


@settings(max_examples=300)
@given(st.integers(-1, 63), st.integers(0, 10**18), st.integers(1, 256))
def test_every_tile_has_one_path_that_parses_back(level: int, n: int, width: int) -> None:
    tile = Tile(level, n, width)
    assert Tile.parse(tile.path()) == tile
    assert Tile.parse(tile.path("custody/events"), "custody/events") == Tile(ENTRIES, n, width)


@settings(max_examples=200)
@given(st.integers(0, 2**40), st.integers(0, 2**20), st.integers(-1, 5))
def test_new_tiles_are_exactly_the_tiles_the_newer_tree_adds(old: int, grown: int,
                                                             level: int) -> None:
    new = old + grown
    added = set(tiles_of(new, level)) - set(tiles_of(old, level)) if new < 2**22 else None
    fresh = new_tiles(old, new, level)
    assert len(set(fresh)) == len(fresh) and fresh == sorted(fresh)
    if added is not None:
        assert set(fresh) == added
    # Full tiles never change: none the older tree had is written again.
    assert not any(t.full and t.n < (old >> (8 * max(level, 0))) // 256 for t in fresh)


# --- data ----------------------------------------------------------------------------------


def test_a_tiles_hashes_are_the_stored_hashes_at_its_level() -> None:
    log = log_70000()
    level1 = parse_tile(log.tile(Tile(1, 0)), Tile(1, 0))
    level0 = [parse_tile(log.tile(Tile(0, n)), Tile(0, n)) for n in range(256)]
    from ledger.tlog.tiles import tile_hash
    assert level1 == [tile_hash(b"".join(hashes)) for hashes in level0]
    # Any stored hash, at any level, is in the tile tile_for_index names, or the wider one
    # the tree is served with.
    served = {(t.level, t.n): t for level in levels_of(70_000) for t in tiles_of(70_000, level)}
    for index in (0, 1, 2, 3, 7, 510, stored_hash_index(8, 3), stored_hash_index(13, 2),
                  stored_hash_index(16, 0), stored_hash_index(0, 69_999),
                  stored_hash_index(5, 2180)):
        tile, _, _ = tile_for_index(index)
        wide = served[(tile.level, tile.n)]
        assert wide.width >= tile.width
        assert hash_from_tile(wide, log.tile(wide), index) == log.hashes[index]


def test_tile_bytes_must_be_exactly_its_width() -> None:
    with pytest.raises(NonCanonical, match="not 3 hashes"):
        parse_tile(b"\0" * 95, Tile(0, 0, 3))
    with pytest.raises(NonCanonical):
        parse_tile(b"\0" * 97, Tile(0, 0, 3))


def test_an_entry_bundle_is_length_prefixed_and_parsed_strictly() -> None:
    entries = [b"\x01" * 32, b"", b"abc"]
    data = format_bundle(entries)
    assert data == b"\x00\x20" + b"\x01" * 32 + b"\x00\x00" + b"\x00\x03abc"
    assert parse_bundle(data, 3) == entries
    assert parse_bundle(format_bundle(entries, 4), 3, 4) == entries
    for bad, width, why in ((data[:-1], 3, "ends inside entry 2"),
                            (data + b"\x00", 3, "after its 3 entries"),
                            (data + b"\x00", 4, "inside the length of entry 3"),
                            (data, 4, "holds 3 entries, not 4"),
                            (b"", 1, "holds 0 entries")):
        with pytest.raises(NonCanonical, match=why):
            parse_bundle(bad, width)
    with pytest.raises(NonCanonical, match="claims 32 bytes, over 16"):
        parse_bundle(data, 3, max_entry=16)
    with pytest.raises(InputError):
        format_bundle([b"x" * 65536])


# --- reading through tiles -------------------------------------------------------------------


def fetcher(log: Log, fetched: list[Tile], damaged: Tile | None = None):
    def fetch(tiles: list[Tile]) -> list[bytes]:
        fetched.extend(tiles)
        out = []
        for tile in tiles:
            data = bytearray(log.tile(tile))
            if damaged is not None and (tile.level, tile.n) == (damaged.level, damaged.n):
                data[5] ^= 0x01
            out.append(bytes(data))
        return out
    return fetch


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 65_536, 70_000])
def test_proofs_read_through_tiles_are_the_proofs_read_from_the_store(size: int) -> None:
    log = log_70000() if size == 70_000 else Log(size)
    reader = TileReader(size, log.root, fetcher(log, []))
    assert tree_hash(size, reader) == log.root
    for n in {0, size // 3, size - 1}:
        proof = prove_record(size, n, reader)
        assert proof == prove_record(size, n, log.read)
        check_record(proof, size, log.root, n, log.hashes[stored_hash_index(0, n)])
    for old in {1, size // 2 or 1, size - 1 or 1}:
        proof = prove_tree(size, old, reader)
        assert proof == prove_tree(size, old, log.read)
        check_tree(proof, size, log.root, old, tree_hash(old, log.read))


def test_a_flipped_byte_in_a_tile_on_the_way_to_the_root_is_caught() -> None:
    log = Log(600)
    reader = TileReader(600, log.root, fetcher(log, [], damaged=Tile(0, 2, 88)))
    with pytest.raises(VerificationFailed, match="do not hash to the checkpoint's root"):
        reader([stored_hash_index(0, 599)])


def test_a_rewritten_full_tile_is_caught_by_its_parent_even_when_root_tiles_share_a_tile(
) -> None:
    # At size 300 the tree's subtree roots sit in two tiles for four roots: Go's loop (from
    # len(stx)) would skip tile/0/000 when it is fetched for leaf 5, and return its hash
    # unchecked. Here it is checked against tile/1/000.p/1.
    log = Log(300)
    fetched: list[Tile] = []
    reader = TileReader(300, log.root, fetcher(log, fetched, damaged=Tile(0, 0)))
    with pytest.raises(VerificationFailed, match="tile/0/000 does not hash to its entry in "
                                                 "tile/1/000.p/1"):
        reader([stored_hash_index(0, 5)])
    assert Tile(0, 0) in fetched


def test_tiles_that_checked_out_are_not_fetched_again() -> None:
    log = Log(1000)
    fetched: list[Tile] = []
    reader = TileReader(1000, log.root, fetcher(log, fetched))
    reader([stored_hash_index(0, i) for i in range(0, 256)])
    count = len(fetched)
    reader([stored_hash_index(0, i) for i in range(0, 256)])
    assert len(fetched) == count
    with pytest.raises(InputError, match="not in a tree of 1000"):
        reader([stored_hash_index(0, 1000)])
