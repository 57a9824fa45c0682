"""`wasmops run --input`: reading feeds from .npy / .npz files, and the opt-in random feeds.

Every failure is a UsageError naming the argument and what would work; nothing is guessed silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: ONNX tensor type names (NodeArg.type) -> numpy dtypes, for random feeds
_DTYPES = {
    "float": np.float32,
    "float16": np.float16,
    "double": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "int64": np.int64,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "bool": np.bool_,
}


def _usage(message: str) -> Exception:
    from .cli import UsageError

    return UsageError(message)


def _read(path: str, what: str) -> np.ndarray | dict[str, np.ndarray]:
    file = Path(path)
    if not path or not file.is_file():
        raise _usage(f"{what}: no file {path!r}")
    try:
        data = np.load(file, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise _usage(f"{what}: {path} is not a .npy or .npz file numpy can read ({exc})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            return {k: data[k] for k in data.files}
    return data


def load_inputs(items: Sequence[str], inputs: Sequence) -> dict[str, np.ndarray]:
    """Feeds from `--input` values: NAME=x.npy, NAME=d.npz (array NAME or its only one), d.npz, or x.npy
    when the model has one input. `inputs` are the session's NodeArgs."""
    names = [a.name for a in inputs]
    feeds: dict[str, np.ndarray] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or (name not in names and Path(item).is_file()):  # a bare file (even one with '=' in it)
            name, path = "", item
        what = f"--input {item}"
        if name and name not in names:
            raise _usage(f"{what}: the model has no input {name!r}; its inputs are {names}")
        data = _read(path, what)
        if isinstance(data, dict):  # an .npz
            if name:
                if name in data:
                    feeds[name] = data[name]
                elif len(data) == 1:
                    feeds[name] = next(iter(data.values()))
                else:
                    raise _usage(f"{what}: {path} holds {sorted(data)}, none named {name!r}")
            else:
                unknown = sorted(set(data) - set(names))
                if unknown:
                    raise _usage(f"{what}: arrays {unknown} in {path} are not model inputs {names}")
                feeds.update(data)
        elif name:
            feeds[name] = data
        elif len(names) == 1:
            feeds[names[0]] = data
        else:
            raise _usage(f"{what}: the model has inputs {names}: say which one, as --input NAME={path}")
    return feeds


def random_inputs(inputs: Sequence, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random data of each input's declared shape (symbolic dims: 1) and dtype."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in inputs:
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in arg.shape)
        kind = arg.type.removeprefix("tensor(").removesuffix(")")
        dtype = _DTYPES.get(kind)
        if dtype is None:
            raise _usage(f"input {arg.name} is {arg.type}: no random data for it; give --input {arg.name}=FILE")
        if dtype is np.bool_:
            feeds[arg.name] = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.integer):
            feeds[arg.name] = rng.integers(0, 4, shape).astype(dtype)
        else:
            feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
    return feeds
