"""C2SP tlog-tiles: a log as static files — tiles of Merkle tree hashes and bundles of
entries — pure.

c2sp.org/tlog-tiles, "Merkle Tree": the n-th tile at level l holds the hashes
MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]) for i from 0 to its width − 1: at level 0
the leaf hashes, at level l the roots of the full tiles of level l − 1. A full tile is 256
hashes (8,192 bytes); the rightmost tile of each level is partial (1 to 255 hashes) and is
named with its width. Its path is ``tile/<L>/<N>[.p/<W>]``: L in decimal (0 to 63), N in
zero-padded three-digit groups, every group but the last prefixed with ``x`` (1234067 is
``x001/x234/067``), W in decimal (1 to 255), all without extra leading zeroes. Entry
bundles are ``tile/entries/<N>[.p/<W>]``: the entries of the level-0 tile of the same N and
width, each prefixed by its length as a big-endian uint16 ("Log entries").

The tiles are Go's ``sumdb/tlog`` tiles of height 8 (its paths carry the height:
``tile/8/<L>/<N>``), and the functions here follow ``tile.go``: :func:`tile_for_index`,
:func:`hash_from_tile`, :func:`tile_hash`, and :class:`TileReader`, which is
``TileHashReader``: it serves any stored hash of a tree from tiles fetched by the caller,
each tile authenticated against the tree's root (the signed checkpoint's) before a hash from
it is returned.

Every format has a ``format``/``parse`` pair; a parser accepts only what ``format`` writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ledger.core.errors import InputError, NonCanonical, VerificationFailed
from ledger.tlog.merkle import (
    HASH_SIZE,
    _sub_tree_index,
    node_hash,
    split_stored_hash_index,
    stored_hash_index,
)

HEIGHT = 8
WIDTH = 1 << HEIGHT  # hashes in a full tile
MAX_LEVEL = 63
ENTRIES = -1  # the level of an entry bundle: tile/entries/<N>
MAX_GROUPS = 7  # three-digit groups of N: 256**64 leaves need no more than 2**56 tiles
_GROUP = re.compile(r"x[0-9]{3}", re.ASCII)
_LAST = re.compile(r"[0-9]{3}", re.ASCII)
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,2}", re.ASCII)


def format_index(n: int) -> str:
    """N as the spec's path groups: ``x001/x234/067`` for 1234067, ``005`` for 5."""
    groups = [f"{n % 1000:03d}"]
    while n >= 1000:
        n //= 1000
        groups.append(f"x{n % 1000:03d}")
    return "/".join(reversed(groups))


@dataclass(frozen=True, order=True)
class Tile:
    """A tile's coordinates: its ``level`` (0 to 63, or :data:`ENTRIES` for an entry bundle),
    its number ``n`` within the level, and its ``width`` (256 when full)."""

    level: int
    n: int
    width: int = WIDTH

    def __post_init__(self) -> None:
        if not isinstance(self.level, int) or not ENTRIES <= self.level <= MAX_LEVEL:
            raise InputError(f"tile level {self.level!r} is not in 0 .. {MAX_LEVEL}")
        if not isinstance(self.n, int) or not 0 <= self.n < 1000 ** MAX_GROUPS:
            raise InputError(f"tile number {self.n!r} is out of range")
        if not isinstance(self.width, int) or not 1 <= self.width <= WIDTH:
            raise InputError(f"tile width {self.width!r} is not in 1 .. {WIDTH}")

    @property
    def full(self) -> bool:
        return self.width == WIDTH

    @property
    def base(self) -> str:
        """The path before N: ``tile/<L>``, or ``tile/entries``."""
        return "tile/entries" if self.level == ENTRIES else f"tile/{self.level}"

    def path(self, base: str | None = None) -> str:
        """The tile's path, ``<base>/<N>[.p/<W>]`` (``base``: :attr:`base` unless given, for
        other files laid out as entry bundles are)."""
        suffix = "" if self.full else f".p/{self.width}"
        return f"{base or self.base}/{format_index(self.n)}{suffix}"

    @classmethod
    def parse(cls, path: str, base: str | None = None) -> "Tile":
        """Parse a tile path (or, with ``base``, a path under it laid out as entry bundles
        are); refuse any path :meth:`path` would not write: leading zeroes, a missing or
        extra ``x``, a full width written as partial, anything after the width."""
        if not isinstance(path, str) or not path.isascii() or len(path) > 128:
            raise NonCanonical("a tile path is short ASCII text")
        if base is not None:
            if not path.startswith(base + "/"):
                raise NonCanonical(f"{path!r} is not under {base}/")
            level, rest = ENTRIES, path[len(base) + 1:].split("/")
        else:
            parts = path.split("/")
            if len(parts) < 3 or parts[0] != "tile":
                raise NonCanonical(f"{path!r} is not a tile path 'tile/<L>/<N>[.p/<W>]'")
            if parts[1] == "entries":
                level = ENTRIES
            elif _DECIMAL.fullmatch(parts[1]) and int(parts[1]) <= MAX_LEVEL:
                level = int(parts[1])
            else:
                raise NonCanonical(f"tile path {path!r}: level {parts[1]!r} is not 0 .. "
                                   f"{MAX_LEVEL} without leading zeroes")
            rest = parts[2:]
        width = WIDTH
        if len(rest) >= 2 and rest[-2].endswith(".p"):
            if not _DECIMAL.fullmatch(rest[-1]) or not 1 <= int(rest[-1]) < WIDTH:
                raise NonCanonical(f"tile path {path!r}: width {rest[-1]!r} is not 1 .. "
                                   f"{WIDTH - 1} without leading zeroes")
            width = int(rest[-1])
            rest = [*rest[:-2], rest[-2][:-len(".p")]]
        if not 1 <= len(rest) <= MAX_GROUPS or not _LAST.fullmatch(rest[-1]) or not all(
                _GROUP.fullmatch(group) for group in rest[:-1]):
            raise NonCanonical(f"tile path {path!r}: N is not written in three-digit groups, "
                               "each but the last starting with 'x'")
        n = 0
        for group in rest:
            n = n * 1000 + int(group.lstrip("x"))
        tile = cls(level, n, width)
        if tile.path(base) != path:  # e.g. x000/005 for 5: one N, one path
            raise NonCanonical(f"tile path {path!r} is not canonical; it is {tile.path(base)!r}")
        return tile

    def indexes(self) -> list[int]:
        """The stored hash indexes (``ledger.tlog.merkle``) of the tile's hashes, in order."""
        if self.level == ENTRIES:
            raise InputError("an entry bundle holds entries, not hashes")
        start = self.n * WIDTH
        return [stored_hash_index(HEIGHT * self.level, start + i) for i in range(self.width)]

    def leaves(self) -> range:
        """The leaf indexes a level-0 tile or an entry bundle holds, in order."""
        if self.level not in (0, ENTRIES):
            raise InputError(f"a level-{self.level} tile holds no leaves")
        return range(self.n * WIDTH, self.n * WIDTH + self.width)


def tiles_of(size: int, level: int) -> list[Tile]:
    """The tiles of ``level`` (or :data:`ENTRIES`) a tree of ``size`` leaves is served as:
    every full one, then the partial one if the level's count is not a multiple of 256."""
    count = size >> (HEIGHT * max(level, 0))
    tiles = [Tile(level, n) for n in range(count // WIDTH)]
    if count % WIDTH:
        tiles.append(Tile(level, count // WIDTH, count % WIDTH))
    return tiles


def new_tiles(old_size: int, new_size: int, level: int) -> list[Tile]:
    """The tiles of ``level`` a tree of ``new_size`` has and one of ``old_size`` has not: the
    full tiles completed since (the old partial one among them) and the new partial one.
    Full tiles never change, so these are the only files an export of ``new_size`` writes
    after one of ``old_size``."""
    if not 0 <= old_size <= new_size:
        raise InputError(f"no tiles from size {old_size} to size {new_size}")
    shift = HEIGHT * max(level, 0)
    old, new = old_size >> shift, new_size >> shift
    if old == new:
        return []
    tiles = [Tile(level, n) for n in range(old // WIDTH, new // WIDTH)]
    if new % WIDTH:
        tiles.append(Tile(level, new // WIDTH, new % WIDTH))
    return tiles


def levels_of(size: int) -> range:
    """The hash tile levels a tree of ``size`` leaves has (none for the empty tree)."""
    level = 0
    while size >> (HEIGHT * level):
        level += 1
    return range(level)


# --- tile data ---------------------------------------------------------------------------------


def format_tile(hashes: Sequence[bytes]) -> bytes:
    """A tile's bytes: its hashes, concatenated."""
    if not 1 <= len(hashes) <= WIDTH or any(len(h) != HASH_SIZE for h in hashes):
        raise InputError(f"a tile holds 1 to {WIDTH} hashes of {HASH_SIZE} bytes")
    return b"".join(hashes)


def parse_tile(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of ``tile`` from its bytes, which must be exactly ``width`` hashes."""
    if len(data) != tile.width * HASH_SIZE:
        raise NonCanonical(f"{tile.path()} is {len(data)} bytes, not {tile.width} hashes of "
                           f"{HASH_SIZE} bytes")
    return [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def format_bundle(entries: Sequence[bytes], prefix: int = 2) -> bytes:
    """An entry bundle: each entry preceded by its length, big-endian, in ``prefix`` bytes
    (2 for tlog-tiles' entry bundles)."""
    limit = (1 << (8 * prefix)) - 1
    if not 1 <= len(entries) <= WIDTH:
        raise InputError(f"a bundle holds 1 to {WIDTH} entries, not {len(entries)}")
    out = []
    for entry in entries:
        if len(entry) > limit:
            raise InputError(f"an entry of {len(entry)} bytes does not fit a {prefix}-byte "
                             "length")
        out.append(len(entry).to_bytes(prefix, "big") + entry)
    return b"".join(out)


def parse_bundle(data: bytes, width: int, prefix: int = 2,
                 max_entry: int | None = None) -> list[bytes]:
    """The entries of a bundle of ``width`` entries (lengths in ``prefix`` bytes, each at
    most ``max_entry``); refuse a short, long or truncated bundle."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == width:
            raise NonCanonical(f"the bundle holds bytes after its {width} entries")
        if offset + prefix > len(data):
            raise NonCanonical(f"the bundle ends inside the length of entry {len(entries)}")
        size = int.from_bytes(data[offset:offset + prefix], "big")
        if max_entry is not None and size > max_entry:
            raise NonCanonical(f"entry {len(entries)} of the bundle claims {size} bytes, over "
                               f"{max_entry}")
        offset += prefix
        if offset + size > len(data):
            raise NonCanonical(f"the bundle ends inside entry {len(entries)}")
        entries.append(data[offset:offset + size])
        offset += size
    if len(entries) != width:
        raise NonCanonical(f"the bundle holds {len(entries)} entries, not {width}")
    return entries


# --- hashes from tiles (tlog.TileForIndex, HashFromTile, TileHashReader) ---------------------


def tile_for_index(index: int) -> tuple[Tile, int, int]:
    """The tile of least width holding stored hash ``index``, and the byte range of the tile
    hashes that :func:`tile_hash` folds into it (a hash between tile levels is not stored in
    any tile: it is the root of a run of the level below)."""
    level, n = split_stored_hash_index(index)
    tile_level = level // HEIGHT
    level -= tile_level * HEIGHT  # the level within the tile
    tile_n = (n << level) >> HEIGHT
    n -= (tile_n << HEIGHT) >> level  # n within the tile, at that level
    width = (n + 1) << level
    return (Tile(tile_level, tile_n, width), (n << level) * HASH_SIZE,
            ((n + 1) << level) * HASH_SIZE)


def tile_hash(data: bytes) -> bytes:
    """The root of the subtree whose leaves are the 2^k hashes in ``data``."""
    if len(data) == HASH_SIZE:
        return data
    if not data or len(data) % HASH_SIZE:
        raise InputError("tile data is a whole number of hashes")
    half = len(data) // 2
    return node_hash(tile_hash(data[:half]), tile_hash(data[half:]))


def hash_from_tile(tile: Tile, data: bytes, index: int) -> bytes:
    """Stored hash ``index`` from ``tile``'s ``data``: ``tile`` must be the tile
    :func:`tile_for_index` names for it, or a wider one of the same level and number."""
    if len(data) < tile.width * HASH_SIZE:
        raise InputError(f"{len(data)} bytes are too few for {tile.path()}")
    want, start, end = tile_for_index(index)
    if (tile.level, tile.n) != (want.level, want.n) or tile.width < want.width:
        raise InputError(f"stored hash {index} is in {want.path()}, not {tile.path()}")
    return tile_hash(data[start:end])


def _parent(tile: Tile, k: int, size: int) -> Tile | None:
    """The k-th parent of ``tile`` among the tiles of a tree of ``size`` (``tileParent``)."""
    level = tile.level + k
    n = tile.n >> (k * HEIGHT)
    count = size >> (level * HEIGHT)
    width = WIDTH
    if (n << HEIGHT) + width >= count:
        if n << HEIGHT >= count:
            return None
        width = count - (n << HEIGHT)
    return Tile(level, n, width)


Fetch = Callable[[list[Tile]], Sequence[bytes]]
"""Given tiles, return each one's bytes (checked here: a fetcher need not trust them)."""


class TileReader:
    """The stored hashes of the tree (``size``, ``root``) read from tiles (Go's
    ``TileHashReader``): a :data:`ledger.tlog.merkle.Reader`.

    For each request it fetches the tiles that hold the tree's own subtree roots and
    checks that they hash to ``root``; each other tile it needs is checked against its
    parent tile, parents first. Only then is a hash returned, so every hash it gives is
    proven to be in the tree; a tile that was rewritten raises :class:`VerificationFailed`
    naming the tiles. Tiles that checked out are kept and not fetched again.
    """

    def __init__(self, size: int, root: bytes, fetch: Fetch) -> None:
        self.size = size
        self.root = root
        self.fetch = fetch
        self.checked: dict[Tile, bytes] = {}

    def __call__(self, indexes: list[int]) -> list[bytes]:
        if self.size == 0:
            raise InputError("the empty tree has no stored hashes")
        order: dict[Tile, int] = {}
        tiles: list[Tile] = []

        def want(tile: Tile) -> int:
            if tile not in order:
                order[tile] = len(tiles)
                tiles.append(tile)
            return order[tile]

        # The tiles needed to recompute the tree's root: checking them checks them all.
        roots = _sub_tree_index(0, self.size, [])
        root_tiles = []
        for index in roots:
            tile = _parent(tile_for_index(index)[0], 0, self.size)
            assert tile is not None
            root_tiles.append(want(tile))
        # The tiles holding the indexes, and the parents that check them. (Go's loop below
        # starts at len(stx); several subtree roots can share one tile, so the first tile
        # added here can sit before that and would go unchecked: count the tiles instead.)
        first = len(tiles)
        index_tiles = []
        limit = stored_hash_index(0, self.size)
        for index in indexes:
            if not 0 <= index < limit:
                raise InputError(f"stored hash {index} is not in a tree of {self.size}")
            tile = tile_for_index(index)[0]
            k = 0
            while (parent := _parent(tile, k, self.size)) not in order:
                k += 1
            chain = [p for j in range(k - 1, -1, -1) if (p := _parent(tile, j, self.size))]
            for parent in chain:
                if not parent.full:
                    raise InputError(f"bad math reading stored hash {index}: {parent.path()}")
                want(parent)
            bottom = _parent(tile, 0, self.size)
            assert bottom is not None
            index_tiles.append(order[bottom])
        data = self._read(tiles)
        # The root tiles against the signed root.
        h = hash_from_tile(tiles[root_tiles[-1]], data[root_tiles[-1]], roots[-1])
        for i in range(len(roots) - 2, -1, -1):
            h = node_hash(hash_from_tile(tiles[root_tiles[i]], data[root_tiles[i]], roots[i]),
                          h)
        if h != self.root:
            names = ", ".join(tiles[i].path() for i in sorted(set(root_tiles)))
            raise VerificationFailed(f"the tiles {names} do not hash to the checkpoint's root "
                                     f"{self.root.hex()[:16]}… (one was rewritten)")
        # Every other tile against its parent, parents first.
        for i in range(first, len(tiles)):
            tile = tiles[i]
            if tile in self.checked:
                continue
            parent = _parent(tile, 1, self.size)
            assert parent is not None and parent in order
            j = order[parent]
            expected = hash_from_tile(parent, data[j], stored_hash_index(
                parent.level * HEIGHT, tile.n))
            if tile_hash(data[i]) != expected:
                raise VerificationFailed(f"{tile.path()} does not hash to its entry in "
                                         f"{parent.path()} (one of them was rewritten)")
        for tile, tile_data in zip(tiles, data):
            self.checked[tile] = tile_data
        return [hash_from_tile(tiles[j], data[j], index)
                for j, index in zip(index_tiles, indexes)]

    def _read(self, tiles: list[Tile]) -> list[bytes]:
        missing = [t for t in tiles if t not in self.checked]
        fetched = list(self.fetch(missing)) if missing else []
        if len(fetched) != len(missing):
            raise InputError(f"{len(fetched)} tiles fetched for {len(missing)}")
        got = dict(zip(missing, fetched))
        data = []
        for tile in tiles:
            tile_data = self.checked.get(tile, got.get(tile))
            assert tile_data is not None
            if len(tile_data) != tile.width * HASH_SIZE:
                raise VerificationFailed(f"{tile.path()} is {len(tile_data)} bytes, not "
                                         f"{tile.width * HASH_SIZE}")
            data.append(tile_data)
        return data
