"""Register-tile sizes of the GEMM-like microkernel (ops/_tiled.py), importable without TVM.

MR x NR is the hand tile and the unit of every host-packed weight: plans pack constant weights in MR-row or
NR-column panels, whatever tile a kernel was built with. The tunable kernels (dense, matmul, the direct and
im2col convs) are also built with other tiles: the op library holds one dispatch entry per shape class
(`tiled`), each compiled with the tile `wasmops tune --ops` measured best for that class on that ISA build
(kernels/tune/op_tune.py), the hand tile where no record says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

MR = 2  # output rows (channels) per tile
NR = 16  # output columns per tile: four v128 registers


@dataclass(frozen=True, order=True)
class Tile:
    """A register tile: `rows` broadcast rows x `cols` vector columns (cols a multiple of 4 lanes)."""

    rows: int
    cols: int

    @property
    def name(self) -> str:
        return f"r{self.rows}c{self.cols}"

    @classmethod
    def parse(cls, name: str) -> Tile:
        """'r4c8' -> Tile(4, 8); ValueError for anything else."""
        rows, sep, cols = name.removeprefix("r").partition("c")
        if not (name.startswith("r") and sep and rows.isdigit() and cols.isdigit()):
            raise ValueError(f"not a tile name: {name!r} (expected r<rows>c<cols>, e.g. r2c16)")
        return cls(int(rows), int(cols))


HAND = Tile(MR, NR)

#: every tile a tunable kernel may be built with: rows x cols / 4 accumulators + cols / 4 column vectors + a
#: broadcast within wasmtime's 16 x86 vector registers, give or take a spill the search may still find faster
TILES = (Tile(1, 16), Tile(1, 32), Tile(2, 8), Tile(2, 16), Tile(3, 8), Tile(3, 16), Tile(4, 8), Tile(6, 8))
#: kernels whose column operand is host-packed in NR-wide panels read at most one panel per tile
PANEL_TILES = tuple(t for t in TILES if NR % t.cols == 0)

#: the shape classes a tunable kernel has a dispatch entry for (see `shape_class`)
SHAPE_CLASSES = ("few", "narrow", "bulk")


def shape_class(rows: int, cols: int) -> str:
    """The class of a call's output tile grid: `few` rows (a decoder step, a small batch: tall tiles waste
    rows), `narrow` (under two hand tiles of columns: wide tiles waste lanes), else `bulk`."""
    if rows <= 4:
        return "few"
    if cols < 2 * NR:
        return "narrow"
    return "bulk"


def tiled(kernel: str, rows: int, cols: int) -> str:
    """The dispatch entry of tunable `kernel` for an output of `rows` x `cols` (see `shape_class`)."""
    return f"{kernel}__{shape_class(rows, cols)}"
