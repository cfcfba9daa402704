"""Task `binary_sequence`: a yes/no outcome per asset, judged from its recent history.

Rows are readings (id + time columns); features look backwards over each asset's own
readings, labels are derived ("fails within H steps"), censored rows are not learned from,
and the service scores each asset's latest reading. Everything else is `binary` (its training
part: shared/tasks/binary_training.py's `BinarySequenceTraining`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.tasks.binary import BinaryTask

if TYPE_CHECKING:
    from shared.tasks.binary_training import BinarySequenceTraining


class BinarySequenceTask(BinaryTask):
    name = "binary_sequence"

    @cached_property
    def training(self) -> BinarySequenceTraining:
        """As `binary`'s, with the history use cases' contract checks."""
        # why: serving never loads the training stack
        from shared.tasks.binary_training import BinarySequenceTraining

        return BinarySequenceTraining(self)


TASK = BinarySequenceTask()
