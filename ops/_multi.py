"""Multi-output ops (batch-norm statistics, a loss and its gradient): a plan's chain marks the calls whose
outputs are results too, besides the chain's last one.

The op then defines `results(outputs)`, which builds its public tuple from the outputs in chain order
(kept ones, then the last); an op that writes all its results into one stacked output defines it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import Call


@dataclass(slots=True)
class KeepCall(Call):
    """A Call whose output the runtime copies back as one of the op's results (see Runtime.run)."""
