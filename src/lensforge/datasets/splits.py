"""Train/val/test splits: the split config, the 3-level priority, and the assignment itself.

Priority (the plan's, implemented only here): a training job's override, else the dataset
version's own split config, else the platform default.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SplitName = Literal["train", "val", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "val", "test")


class SplitConfig(BaseModel):
    """`source`: keep the splits the source data came with (items without one are assigned by
    ratio). `ratio`: assign every item by ratio, seeded, stratified by class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["source", "ratio"] = "source"
    train: float = Field(default=0.8, ge=0.0, le=1.0)
    val: float = Field(default=0.1, ge=0.0, le=1.0)
    test: float = Field(default=0.1, ge=0.0, le=1.0)
    seed: int = 0
    stratify: bool = True

    @model_validator(mode="after")
    def _ratios_sum_to_one(self) -> SplitConfig:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1.0, got {total:g}")
        if self.train <= 0:
            raise ValueError("train must be greater than 0")
        return self


PLATFORM_DEFAULT = SplitConfig()


def resolve_split_config(
    job_override: SplitConfig | None,
    version_config: SplitConfig | None,
    platform_default: SplitConfig = PLATFORM_DEFAULT,
) -> SplitConfig:
    """The one place the 3-level priority is decided."""
    if job_override is not None:
        return job_override
    if version_config is not None:
        return version_config
    return platform_default


class SplitCandidate(BaseModel):
    """What the assignment needs of an item: a stable key, its source split, its classes."""

    model_config = ConfigDict(frozen=True)

    key: str
    source_split: SplitName | None
    class_ids: tuple[int, ...]


def assign_splits(items: Sequence[SplitCandidate], config: SplitConfig) -> dict[str, SplitName]:
    """Deterministic: the same items and config always give the same assignment, whatever order
    the items come in. Stratified by each item's rarest class, so small classes reach every
    split."""
    result: dict[str, SplitName] = {}
    to_assign: list[SplitCandidate] = []
    for item in items:
        if config.mode == "source" and item.source_split is not None:
            result[item.key] = item.source_split
        else:
            to_assign.append(item)
    if not to_assign:
        return result
    class_frequency: dict[int, int] = defaultdict(int)
    for item in to_assign:
        for class_id in set(item.class_ids):
            class_frequency[class_id] += 1
    groups: dict[int, list[SplitCandidate]] = defaultdict(list)
    for item in sorted(to_assign, key=lambda i: i.key):
        if config.stratify and item.class_ids:
            stratum = min(set(item.class_ids), key=lambda c: (class_frequency[c], c))
        else:
            stratum = -1
        groups[stratum].append(item)
    ratios = {"train": config.train, "val": config.val, "test": config.test}
    for stratum in sorted(groups):
        members = groups[stratum]
        # Reproducibility, not secrecy: a seeded PRNG is exactly what is wanted here.
        random.Random(f"{config.seed}:{stratum}").shuffle(members)  # noqa: S311
        counts = _allocate(len(members), ratios)
        index = 0
        for split in SPLIT_NAMES:
            for item in members[index : index + counts[split]]:
                result[item.key] = split
            index += counts[split]
    return result


def _allocate(n: int, ratios: dict[str, float]) -> dict[SplitName, int]:
    """Largest-remainder rounding, so counts always add up to n."""
    exact = {split: n * ratios[split] for split in SPLIT_NAMES}
    counts: dict[SplitName, int] = {split: int(exact[split]) for split in SPLIT_NAMES}
    remainder = n - sum(counts.values())
    order = sorted(SPLIT_NAMES, key=lambda s: (-(exact[s] - counts[s]), SPLIT_NAMES.index(s)))
    for split in order[:remainder]:
        counts[split] += 1
    return counts
