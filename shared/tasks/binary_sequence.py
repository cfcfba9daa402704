"""Task `binary_sequence`: a yes/no outcome per asset, judged from its recent history.

Rows are readings (id + time columns); features look backwards over each asset's own
readings, labels are derived ("fails within H steps"), censored rows are not learned from,
and the service scores each asset's latest reading. Everything else is `binary`.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.core.usecase import UseCase
from shared.tasks.binary import BinaryTask
from shared.tasks.contract import HISTORY_CHECKS


class BinarySequenceTask(BinaryTask):
    name = "binary_sequence"

    def contract_checks(self, uc: UseCase) -> list[Callable[[UseCase], None]]:
        return list(HISTORY_CHECKS)


TASK = BinarySequenceTask()
