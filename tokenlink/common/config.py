"""The base of every validated configuration model of tokenlink.

Every layer (``phy``, ``bridge``, ``semantic`` and the runner's scenario
schema) builds its configuration from :class:`StrictConfig`, so that all of
them reject the same mistakes in the same way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictConfig"]


class StrictConfig(BaseModel):
    """A frozen pydantic v2 model that rejects unknown keys.

    A typo (``fft_sise``) fails at construction with an ``extra_forbidden``
    error naming the field; a built configuration cannot be changed
    (``model_copy(update=...)`` makes a new one), so it can be hashed,
    shared between blocks and written to a trace as it was used.

    Example::

        class GridConfig(StrictConfig):
            fft_size: PositiveInt = 76
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
