"""What mapping needs from a model, and a per-process cache of loaded bundles.

Mapping depends only on :class:`AbundancePredictor`; :class:`sunet.bundle.Predictor` implements
it, and so can any object with the same four members (tests use a small colour-based one). A
predictor may also say how scenes must be scaled to uint8 for it (a ``radiometry`` attribute,
:class:`sunet.geo.raster.Radiometry`); without one, the default scaling is used.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["AbundancePredictor", "load_predictor"]


@runtime_checkable
class AbundancePredictor(Protocol):
    """A model that turns image windows into LCZ abundance vectors.

    Attributes:
        patch_size: window side in pixels (ground pixels, before any model resize).
        gsd: metres per pixel the model was trained at.
        bands: names of the input bands, in input order (e.g. ``["red", "green", "blue"]``);
            mapping reads as many scene bands (``MapConfig.bands``, default 1, 2, 3 ...).
    """

    @property
    def patch_size(self) -> int: ...

    @property
    def gsd(self) -> float: ...

    @property
    def bands(self) -> Sequence[str]: ...

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        """uint8 ``(B, len(bands), P, P)`` -> float32 ``(B, 17)``, each row >= 0 and summing to 1, in
        :data:`sunet.lcz.CLASSES` order."""
        ...


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load(path: str) -> AbundancePredictor:
    # Imported here so that mapping code that is handed a predictor never imports torch.
    from sunet.bundle import Predictor, load_bundle

    return Predictor(load_bundle(path))


def load_predictor(path: str | Path) -> AbundancePredictor:
    """The :class:`sunet.bundle.Predictor` of a bundle file, loaded once per process.

    Dask workers call this for every task; the cache (keyed by the resolved path) means each
    worker process reads the weights once. The lock keeps two threads of one worker from loading
    the same bundle twice.

    Raises:
        FileNotFoundError: if the bundle does not exist.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model bundle")
    with _LOCK:
        return _load(str(path))
