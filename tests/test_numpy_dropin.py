"""The numpy face (issue 15, point 6): numpy's signatures for the functions wasmops.numpy has, the functions
a newcomer reaches for first, dtype errors that say how to cast, an explicit casting opt-in, and the numpy
fallback covering dtypes and arguments too. References: numpy itself, in float64 (rtol 1e-5, atol 1e-5)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import wasmops
import wasmops.numpy as wnp

RNG = np.random.default_rng(11)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((4, 5)).astype(np.float32)
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _ref(fn, *args, **kwargs):
    cast = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a for a in args]
    return fn(*cast, **kwargs)


def test_float64_and_int64_errors_say_how_to_cast():
    with pytest.raises(
        TypeError, match=r"x has dtype float64; expected float32: cast it with x\.astype\(np\.float32\)"
    ):
        wasmops.conv2d(np.random.rand(1, 3, 8, 8), np.ones((2, 3, 3, 3), np.float32))
    with pytest.raises(TypeError, match=r"int64.*astype\(np\.int32\)"):
        wnp.add(np.arange(4), np.arange(4))


def test_allow_casting_casts_logs_and_checks_the_range():
    x64 = np.random.default_rng(0).random((5, 6))
    with wnp.allow_casting() as log:
        total = wnp.sum(np.arange(10))
        y = wnp.exp(x64)
    assert int(total) == 45 and total.dtype == np.int32
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np.exp(x64), rtol=1e-5)
    assert [name for name, _ in log.calls] == ["sum", "exp"] and "int64 -> int32" in log.calls[0][1]
    with wnp.allow_casting(), pytest.raises(OverflowError, match="outside int32"):
        wnp.sum(np.array([2**40], np.int64))
    with pytest.raises(TypeError):  # outside the block: refused again
        wnp.exp(x64)


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((-0.5, 0.5), {}),
        ((None, 0.3), {}),
        ((-0.2, None), {}),
        ((), {"min": -0.1, "max": 0.2}),
        ((), {"a_min": -0.3, "a_max": 0.1}),
    ],
)
def test_clip_takes_numpys_forms(args, kwargs):
    np.testing.assert_allclose(wnp.clip(A, *args, **kwargs), np.clip(A, *args, **kwargs))


def test_reductions_take_dtype_out_and_keepdims():
    np.testing.assert_allclose(wnp.sum(A, axis=1, dtype=np.float32), A.sum(axis=1), **TOL)
    out = np.empty((1, 4), np.float32)
    assert wnp.mean(A, axis=0, keepdims=True, out=out) is out
    np.testing.assert_allclose(out, A.mean(axis=0, keepdims=True), **TOL)
    with pytest.raises(TypeError, match="dtype=float64"):
        wnp.sum(A, dtype=np.float64)
    with pytest.raises(TypeError, match="initial="):
        wnp.max(A, initial=3.0)


def test_ufuncs_take_out_and_dtype():
    out = np.empty_like(A)
    assert wnp.maximum(A, 0.25, out=out) is out
    np.testing.assert_array_equal(out, np.maximum(A, np.float32(0.25)))
    assert wnp.add(A, A, out) is out  # numpy takes out positionally too
    np.testing.assert_allclose(wnp.multiply(A, A, dtype=np.float32), A * A)
    with pytest.raises(TypeError, match="where="):
        wnp.exp(A, where=A > 0)


def test_reshape_order():
    np.testing.assert_array_equal(wnp.reshape(A, (4, 3), order="C"), A.reshape(4, 3))
    np.testing.assert_array_equal(wnp.reshape(A, shape=(2, 6)), A.reshape(2, 6))
    with pytest.raises(TypeError, match="order='F'"):
        wnp.reshape(A, (4, 3), order="F")


def test_take_defaults_to_the_flattened_array_as_numpy():
    idx = np.array([0, 5, 11], np.int32)
    np.testing.assert_array_equal(wnp.take(A, idx), np.take(A, idx))
    np.testing.assert_array_equal(wnp.take(A, [0, 3], axis=1), np.take(A, [0, 3], axis=1))


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [((4,), (4,)), ((3, 4), (4,)), ((3, 4), (4, 5)), ((4,), (4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5))],
)
def test_dot(a_shape, b_shape):
    a = RNG.standard_normal(a_shape).astype(np.float32)
    b = RNG.standard_normal(b_shape).astype(np.float32)
    got = wnp.dot(a, b)
    want = _ref(np.dot, a, b)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize(
    "equation,shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("ij->ji", [(3, 4)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ii->i", [(4, 4)]),
        ("i,i->", [(6,), (6,)]),
        ("...ij,jk", [(2, 3, 4), (4, 2)]),
    ],
)
def test_einsum(equation, shapes):
    ops = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    got, want = wnp.einsum(equation, *ops), _ref(np.einsum, equation, *ops)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_var_std(axis, ddof):
    np.testing.assert_allclose(wnp.var(A, axis=axis, ddof=ddof), _ref(np.var, A, axis=axis, ddof=ddof), **TOL)
    np.testing.assert_allclose(wnp.std(A, axis=axis, ddof=ddof), _ref(np.std, A, axis=axis, ddof=ddof), **TOL)


def test_the_other_first_hour_functions():
    np.testing.assert_allclose(wnp.square(A), A * A, **TOL)
    for axis in (0, 1, -1, 2):
        np.testing.assert_array_equal(wnp.stack([A, A + 1], axis=axis), np.stack([A, A + 1], axis=axis))
    np.testing.assert_array_equal(wnp.expand_dims(A, 1), np.expand_dims(A, 1))
    np.testing.assert_array_equal(wnp.squeeze(A[None, :, None]), A)
    np.testing.assert_array_equal(wnp.min(A, axis=1), A.min(axis=1))
    np.testing.assert_array_equal(wnp.amin(A), A.min())
    assert wnp.argmax(A, axis=1).tolist() == A.argmax(axis=1).tolist()
    assert int(wnp.argmax(A)) == int(np.argmax(A))


def test_fallback_covers_dtypes_and_arguments_too():
    x64 = np.linspace(0, 1, 5)
    with wnp.allow_numpy_fallback() as log:
        y = wnp.exp(x64)  # an unsupported dtype
        s = wnp.sum(A, dtype=np.float64)  # an unsupported argument value
        c = wnp.cbrt(A)  # a missing function
    assert y.dtype == np.float64 and s.dtype == np.float64
    np.testing.assert_allclose(y, np.exp(x64))
    np.testing.assert_allclose(c, np.cbrt(A))
    reasons = [why for _, why in log.calls]
    assert [n for n, _ in log.calls] == ["exp", "sum", "cbrt"]
    assert "dtype" in reasons[0] and "dtype=float64" in reasons[1] and "not in the op library" in reasons[2]


def _numpy_params(name: str) -> list[str] | None:
    try:
        return [p for p in inspect.signature(getattr(np, name)).parameters if p not in ("kwargs",)]
    except (TypeError, ValueError):
        return None


def test_every_function_numpy_also_has_accepts_numpys_parameters():
    missing = {}
    for name in wnp.__all__:
        np_fn = getattr(np, name, None)
        if not callable(np_fn) or name in ("FallbackLog",):
            continue
        ours = inspect.signature(getattr(wnp, name)).parameters
        if isinstance(np_fn, np.ufunc):
            wanted = ["out", "dtype", "where", "casting", "order"]
        else:
            wanted = _numpy_params(name)
            if wanted is None:
                continue
            wanted = wanted[1:]  # the first operand's name differs (x / a / array) and is positional anyway
        lacking = [p for p in wanted if p not in ours and not any(q.kind is q.VAR_KEYWORD for q in ours.values())]
        if lacking:
            missing[name] = lacking
    assert not missing, f"numpy parameters wasmops.numpy does not take: {missing}"
