"""A channel layer that drops, repeats and reorders what server processes tell each other.

Test hook only: a server started with ``COLLAB_TEST_CHANNEL_LAYER=tests.faults.faulty_layer.FaultyRedisChannelLayer``
(see collab/settings.py) uses it instead of channels-redis' own layer. ``COLLAB_TEST_LAYER_FAULTS``
sets the odds, e.g. ``drop=0.2,repeat=0.2,delay=0.3,seed=5``: each message sent is lost,
sent twice, or held back for up to 0.3 s (so later ones overtake it) with those odds.
With ``COLLAB_TEST_LAYER_COUNTS=path`` each process keeps its counts of each in
``path.<pid>`` (JSON), so a test can tell that the faults did happen.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

from channels_redis.core import RedisChannelLayer


def faults_from_env() -> dict[str, float]:
    spec = os.environ.get("COLLAB_TEST_LAYER_FAULTS", "")
    faults = {"drop": 0.0, "repeat": 0.0, "delay": 0.0, "seed": 0.0}
    for part in filter(None, spec.split(",")):
        name, _, value = part.partition("=")
        if name not in faults:
            raise ValueError(f"unknown fault {name!r} in COLLAB_TEST_LAYER_FAULTS")
        faults[name] = float(value)
    return faults


class FaultyRedisChannelLayer(RedisChannelLayer):
    """channels-redis with lost, repeated and late messages between processes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.faults = faults_from_env()
        self.rng = random.Random(self.faults["seed"] + os.getpid())
        self.counts = {"sent": 0, "dropped": 0, "repeated": 0, "delayed": 0}
        self._late: set[asyncio.Task] = set()

    async def send(self, channel, message):
        await self._faulty(super().send, channel, message)

    async def group_send(self, group, message):
        await self._faulty(super().group_send, group, message)

    async def _faulty(self, deliver, to, message) -> None:
        self.counts["sent"] += 1
        try:
            if self.rng.random() < self.faults["drop"]:
                self.counts["dropped"] += 1
                return
            if self.rng.random() < self.faults["repeat"]:
                self.counts["repeated"] += 1
                await deliver(to, message)
            if self.rng.random() < self.faults["delay"]:
                self.counts["delayed"] += 1
                task = asyncio.get_running_loop().create_task(self._later(deliver, to, message))
                self._late.add(task)
                task.add_done_callback(self._late.discard)
                return
            await deliver(to, message)
        finally:
            self._write_counts()

    def _write_counts(self) -> None:
        path = os.environ.get("COLLAB_TEST_LAYER_COUNTS")
        if path:
            Path(f"{path}.{os.getpid()}").write_text(json.dumps(self.counts))

    async def _later(self, deliver, to, message) -> None:
        await asyncio.sleep(self.rng.uniform(0, 0.3))
        try:
            await deliver(to, message)
        except Exception:  # as lost as a dropped one
            pass
