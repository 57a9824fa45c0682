"""max_pool2d / avg_pool2d / global_avg_pool2d: every attribute (stride, padding forms, dilation, ceil_mode,
count_include_pad), widths not a multiple of 16, size-1 planes, and the ResNet-50 layer shapes."""

from . import Case, rand


def _pool(op, shape, seed=0, rtol=1e-5, atol=1e-6, **attrs):
    return Case(op, (rand(*shape, seed=seed),), attrs, rtol=rtol, atol=atol, id=f"{shape}{attrs}")


MAX = [
    ((1, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),  # ResNet-50 stem max pool
    ((2, 3, 8, 8), dict(kernel_size=2)),  # stride defaults to kernel_size
    ((1, 1, 1, 1), dict(kernel_size=1)),
    ((1, 2, 5, 37), dict(kernel_size=3, stride=1, padding=1)),  # "same" pooling, odd width
    ((2, 3, 9, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0))),
    ((1, 2, 10, 10), dict(kernel_size=3, stride=2, dilation=2)),
    ((1, 2, 11, 13), dict(kernel_size=(2, 3), stride=1, padding=1, dilation=(3, 2))),
    ((1, 3, 6, 6), dict(kernel_size=3, stride=2, ceil_mode=True)),  # ceil adds a clipped last window
    ((1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),  # last window dropped
    ((1, 2, 7, 9), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)),
    ((1, 2, 6, 6), dict(kernel_size=4, stride=3, padding=1, ceil_mode=True)),  # overhang past the padding
    ((1, 2, 8, 8), dict(kernel_size=3, stride=2, padding=(1, 0, 0, 1))),  # ONNX (top, left, bottom, right)
    ((1, 2, 7, 20), dict(kernel_size=(4, 3), stride=(1, 2), padding=(2, 1, 1, 0), ceil_mode=True)),
    ((2, 1, 40, 33), dict(kernel_size=2, stride=1)),
    ((3, 5, 3), dict(kernel_size=2, stride=1)),  # unbatched (C, H, W)
    ((0, 3, 4, 4), dict(kernel_size=2)),  # empty batch
    ((1, 1, 2, 3), dict(kernel_size=2, stride=1, padding=1, dilation=3)),  # some windows are all padding
]

AVG = [
    ((1, 64, 56, 56), dict(kernel_size=3, stride=1, padding=1)),
    ((1, 256, 56, 56), dict(kernel_size=2, stride=2)),  # ResNet-D style downsampling shortcut
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((1, 1, 1, 1), dict(kernel_size=1)),
    ((1, 2, 5, 37), dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ((2, 3, 9, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0))),
    ((2, 3, 9, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), count_include_pad=False)),
    ((1, 3, 6, 6), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ((1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((1, 2, 6, 6), dict(kernel_size=4, stride=3, padding=1, ceil_mode=True)),  # overhang past the padding
    ((1, 2, 6, 6), dict(kernel_size=4, stride=3, padding=1, ceil_mode=True, count_include_pad=False)),
    ((1, 2, 8, 8), dict(kernel_size=3, stride=2, padding=(1, 0, 0, 1))),
    ((1, 2, 8, 8), dict(kernel_size=3, stride=2, padding=(1, 0, 0, 1), count_include_pad=False)),
    ((1, 2, 7, 20), dict(kernel_size=(4, 3), stride=(1, 2), padding=(2, 1, 1, 0), ceil_mode=True)),
    ((3, 5, 3), dict(kernel_size=2, stride=1)),
    ((0, 3, 4, 4), dict(kernel_size=2)),
]

GLOBAL = [(1, 2048, 7, 7), (2, 3, 1, 1), (1, 4, 4, 4), (2, 5, 3, 17), (1, 3, 32, 32), (0, 3, 2, 2)]

CASES = [_pool("max_pool2d", s, seed=i, **a) for i, (s, a) in enumerate(MAX)]
CASES += [_pool("avg_pool2d", s, seed=i, **a) for i, (s, a) in enumerate(AVG)]
CASES += [Case("global_avg_pool2d", (rand(*s, seed=i),), id=f"{s}") for i, s in enumerate(GLOBAL)]
