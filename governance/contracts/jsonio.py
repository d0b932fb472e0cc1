"""How governance writes JSON: one ``default`` for values :mod:`json` does not know.

The audit's sections are built from numpy arrays; a number that escaped as a numpy scalar,
or a tuple, must still be written as the plain JSON value it stands for. This module does
not import numpy (contracts may not): a numpy scalar is recognised by its ``item`` method
and zero dimensions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["json_default"]


def json_default(value: Any) -> Any:
    """The ``default`` of :func:`json.dumps` for governance's documents.

    Parameters
    ----------
    value : object
        A value :mod:`json` cannot write by itself.

    Returns
    -------
    object
        A numpy scalar as its Python number (``numpy.float64(0.5)`` as ``0.5``), a tuple as
        a list, anything else as its ``str``.
    """
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
