"""Register-tile sizes of the GEMM-like microkernel (ops/_tiled.py), importable without TVM.

Plans use them to pack constant weights on the host in exactly the layout the kernels read.
"""

MR = 2  # output rows (channels) per tile
NR = 16  # output columns per tile: four v128 registers
