"""Registry (wasmops.registry): which frontend names map onto which ops, with attribute translation.

Frontends are only known here and in bindings; ops and kernels stay framework-free.
"""

from .numpy_names import NUMPY_NAMES, numpy_op

__all__ = ["NUMPY_NAMES", "numpy_op"]
