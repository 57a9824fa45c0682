"""The short profile of the differential fuzz (tests/fuzz): every op, five generated examples against its
numpy reference, under a fixed seed. `make fuzz` runs 10,000 per op."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis", reason="the fuzz needs hypothesis (the [dev] extra)")

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from .fuzz.check import check  # noqa: E402
from .fuzz.strategies import ops, strategy_for  # noqa: E402


@pytest.mark.parametrize("op", ops(), ids=lambda op: op.name)
def test_op_fuzz_short(op, runtime):
    @seed(14)
    @settings(
        max_examples=5,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is replayed with `make fuzz -k OP`
    )
    @given(strategy_for(op))
    def run(ex):
        check(op.name, ex)

    run()
