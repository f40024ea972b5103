"""Job ids in a fixed pseudo-random order, for ``list_order="shuffled"``."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence


class SortedIds:
    """Job ids in a fixed pseudo-random order: by a hash of the id, kept in sorted blocks so
    that adding one costs O(log n + block) and reading a page O(log n + page)."""

    _BLOCK = 512

    def __init__(self) -> None:
        self._blocks: list[list[tuple[bytes, str]]] = []
        self._lasts: list[tuple[bytes, str]] = []  # each block's last item, for bisecting

    @staticmethod
    def key(job_id: str) -> tuple[bytes, str]:
        digest = hashlib.blake2b(job_id.encode(), digest_size=8, person=b"fake-tf-order")
        return digest.digest(), job_id

    def add(self, job_id: str) -> None:
        item = self.key(job_id)
        if not self._blocks:
            self._blocks.append([item])
            self._lasts.append(item)
            return
        index = min(bisect.bisect_left(self._lasts, item), len(self._blocks) - 1)
        block = self._blocks[index]
        bisect.insort(block, item)
        if len(block) > 2 * self._BLOCK:
            halves = [block[: self._BLOCK], block[self._BLOCK :]]
            self._blocks[index : index + 1] = halves
            self._lasts[index : index + 1] = [half[-1] for half in halves]
        else:
            self._lasts[index] = block[-1]

    def extend(self, job_ids: Sequence[str]) -> None:
        """Add many at once: one sort of everything, O(n log n)."""
        items = sorted(
            [item for block in self._blocks for item in block]
            + [self.key(job_id) for job_id in job_ids]
        )
        self._blocks = [items[i : i + self._BLOCK] for i in range(0, len(items), self._BLOCK)]
        self._lasts = [block[-1] for block in self._blocks]

    def after(self, job_id: str | None) -> Iterator[str]:
        """The ids after ``job_id`` (all of them for ``None``), in order."""
        first, start = 0, 0
        if job_id is not None:
            item = self.key(job_id)
            first = bisect.bisect_right(self._lasts, item)
            if first < len(self._blocks):
                start = bisect.bisect_right(self._blocks[first], item)
        for index in range(first, len(self._blocks)):
            block = self._blocks[index]
            for position in range(start, len(block)):
                yield block[position][1]
            start = 0
