"""Identifier noise, vectorised: typos, other spellings, transposed dates, stale postcodes.

Every function takes the clean values and a random generator and returns noisy copies with
the same shape; rates are probabilities per record. No per-record Python loop: strings are
edited as fixed-width code-point arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Alternatives", "choose_alternative", "transpose_dates", "typo"]

_WIDTH = 24
_LOWER = np.frombuffer("abcdefghijklmnopqrstuvwxyz".encode("utf-32-le"), dtype=np.uint32)
# keyboard-neighbour substitutions are common in typed names; a random letter is a fair proxy


def typo(values: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Return ``values`` with one typing error in a ``rate`` share of the non-empty strings.

    The error is a substitution, deletion, insertion (doubled letter) or transposition of
    adjacent letters, each equally likely, at a position other than the first letter.
    """
    out = values.copy()
    hit = np.flatnonzero(rng.random(len(values)) < rate)
    if hit.size == 0:
        return out
    text = values[hit].astype(f"U{_WIDTH}")
    codes = text.view(np.uint32).reshape(len(hit), _WIDTH).copy()
    length = (codes != 0).sum(axis=1)
    ok = length >= 3
    rows = np.flatnonzero(ok)
    n = rows.size
    pos = 1 + (rng.random(n) * (length[rows] - 2)).astype(int)  # 1 .. len-2
    kind = rng.integers(0, 4, n)
    cols = np.arange(_WIDTH)

    sub = rows[kind == 0]
    if sub.size:
        letters = _LOWER[rng.integers(0, len(_LOWER), sub.size)]
        codes[sub, pos[kind == 0]] = letters

    dele = kind == 1
    if dele.any():
        r, p = rows[dele], pos[dele]
        src = np.where(cols[None, :] >= p[:, None], np.minimum(cols[None, :] + 1, _WIDTH - 1), cols)
        shifted = np.take_along_axis(codes[r], src, axis=1)
        shifted[:, -1] = 0
        codes[r] = shifted

    ins = kind == 2
    if ins.any():
        r, p = rows[ins], pos[ins]
        src = np.where(cols[None, :] > p[:, None], cols[None, :] - 1, cols)
        codes[r] = np.take_along_axis(codes[r], src, axis=1)

    swap = kind == 3
    if swap.any():
        r, p = rows[swap], pos[swap]
        a, b = codes[r, p].copy(), codes[r, p + 1].copy()
        codes[r, p], codes[r, p + 1] = b, a

    out[hit] = codes.view(f"U{_WIDTH}").ravel().astype(object)
    return out


class Alternatives:
    """Other forms of each name in a pool (nicknames, spellings), as flat arrays.

    ``start[i]`` and ``count[i]`` locate the forms of pool name ``i`` in ``forms``.
    """

    def __init__(self, pool: list[str], forms: dict[str, list[str]]) -> None:
        flat: list[str] = []
        self.start = np.zeros(len(pool), dtype=np.int64)
        self.count = np.zeros(len(pool), dtype=np.int64)
        for i, name in enumerate(pool):
            alternatives = forms.get(name, [])
            self.start[i], self.count[i] = len(flat), len(alternatives)
            flat.extend(alternatives)
        self.forms = np.asarray(flat or [""], dtype=object)


def choose_alternative(
    index: np.ndarray,
    values: np.ndarray,
    alternatives: Alternatives,
    rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Replace a ``rate`` share of names that have another form by one of those forms.

    ``index`` holds each record's position in the pool, ``values`` its current text.
    """
    out = values.copy()
    count = alternatives.count[index]
    hit = np.flatnonzero((count > 0) & (rng.random(len(index)) < rate))
    if hit.size:
        pick = alternatives.start[index[hit]] + (rng.random(hit.size) * count[hit]).astype(int)
        out[hit] = alternatives.forms[pick]
    return out


def transpose_dates(dates: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Swap day and month (where both are ≤ 12 and differ) or else the two digits of the day.

    ``dates`` is ``datetime64[D]``; a transposition that makes no valid date leaves it alone.
    """
    out = dates.copy()
    hit = np.flatnonzero(rng.random(len(dates)) < rate)
    if hit.size == 0:
        return out
    d = dates[hit]
    year = d.astype("datetime64[Y]")
    month = (d.astype("datetime64[M]") - year.astype("datetime64[M]")).astype(int) + 1
    day = (d - d.astype("datetime64[M]")).astype(int) + 1
    swap_dm = (day <= 12) & (day != month)
    new_month = np.where(swap_dm, day, month)
    new_day = np.where(swap_dm, month, (day % 10) * 10 + day // 10)
    first = year.astype("datetime64[M]") + (new_month - 1)
    candidate = first.astype("datetime64[D]") + (new_day - 1)
    days_in_month = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(
        int
    )
    valid = (new_day >= 1) & (new_day <= days_in_month)
    out[hit] = np.where(valid, candidate, d)
    return out
