"""Small array helpers shared by the stats modules (private)."""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri

FloatArray: TypeAlias = NDArray[np.float64]
IntArray: TypeAlias = NDArray[np.int64]
RngLike: TypeAlias = np.random.Generator | int

#: z = Φ⁻¹(0.975), the value STATS.md §1.3 fixes for 95% intervals.
Z_95 = 1.959963984540054


def z_value(confidence: float = 0.95) -> float:
    """Two-sided normal critical value for ``confidence`` (1.959963984540054 at 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(ndtri(0.5 + confidence / 2.0))


def as_float_array(x: ArrayLike) -> FloatArray:
    """``x`` as a float64 array (0-d for scalars)."""
    return np.asarray(x, dtype=np.float64)


def as_counts(x: ArrayLike, name: str) -> IntArray:
    """Non-negative integer counts as an int64 array; rejects fractions and negatives."""
    arr = np.asarray(x)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer counts, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def resolve_rng(rng: RngLike | None) -> np.random.Generator:
    """A Generator from a Generator or an integer seed; global state is never used."""
    if rng is None:
        raise ValueError("pass rng= (a numpy Generator or an integer seed) for resampling")
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def float_or_none(x: float | np.floating | None) -> float | None:
    """A plain float, or None for None / NaN."""
    if x is None:
        return None
    value = float(x)
    return None if math.isnan(value) else value
