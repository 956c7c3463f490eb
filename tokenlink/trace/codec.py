"""Python values <-> HDF5 attributes and datasets of a trace (the encodings table of
``docs/traces.md``): None as a null dataspace, bools as h5py's enum, ints as int64."""

from __future__ import annotations

from typing import Any, Union

import h5py
import numpy as np

from .layout import TraceError, _one_line

__all__ = ["ParamValue", "attr_value", "from_attr", "json_value", "numeric_array", "check_name"]

#: What a parameter or an extra root attribute may hold.
ParamValue = Union[float, int, str, bool, None]


def attr_value(value: ParamValue, what: str) -> Any:
    """A parameter (or extra attribute) as an HDF5 attribute value; None -> null dataspace.

    :param what: the value's name in error messages, e.g. ``"parameter 'phy.snr_db'"``.
    """
    if value is None:
        return h5py.Empty("f8")
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        if not -2**63 <= int(value) < 2**63:
            raise TraceError(f"{what} = {value} does not fit in int64")
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return value
    raise TraceError(f"{what} must be float, int, str, bool or None, got {type(value).__name__}")


def from_attr(value: Any) -> Any:
    """Inverse of :func:`attr_value`: plain Python values, None for a null dataspace."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def json_value(value: ParamValue) -> Any:
    """A parameter as a JSON-serialisable value (numpy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def numeric_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a numeric (bool, int, float or complex) numpy array, or a TraceError."""
    try:
        arr = np.asarray(value)
    except Exception as err:  # e.g. a CUDA tensor
        raise TraceError(f"{what} cannot be converted to a numpy array ({_one_line(err)})") from None
    if arr.dtype.kind not in "biufc":
        raise TraceError(f"{what} must be numeric, got dtype {arr.dtype}")
    return arr


def check_name(name: Any, what: str) -> str:
    """A metric or raw array name: a non-empty string without ``/`` (HDF5's path separator)."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise TraceError(f"{what} name {name!r} must be a non-empty string without '/'")
    return name
