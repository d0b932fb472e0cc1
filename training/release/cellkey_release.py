"""Cell keys of every area's cells for a release under the cell-key method.

:mod:`governance.cellkey` gives each young person a record key per release period (the
release's as-of date) from the secret seed and their pseudonymous ``person_key``. Here the
record keys are summed to LSOAs, per cell: ``population`` (every young person in the LSOA)
and each ``count_F`` (those with factor ``F``, by the same flags as the counts). The keys go
no further than those sums, as the risks go no further than the LSOA sums of scoring. The
LSOA sums then add up to every level (a parent's key is the sum of its members' keys), and a
cell's key is its sum modulo 256 (:func:`area_cell_keys`), so the same young people give the
same key, hence the same perturbation, in every level, table and re-run of the release.

The cohort is read once more for this (``person_key``, ``lsoa_code`` and the factor flags at
the as-of date): scoring never reads an identifier, and it does not here either beyond the
hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from numpy.typing import NDArray

from governance.cellkey import DEMO_SEED, CellKeyConfig, cell_keys, record_keys
from governance.contracts.errors import ExtractError
from governance.contracts.levels import LEVELS
from governance.contracts.release_schema import ReleaseError
from governance.disclosure import DisclosureConfig
from training.release.aggregate import factor_present

__all__ = [
    "PERSON_KEY",
    "area_cell_keys",
    "check_seed",
    "lsoa_key_sums",
    "release_cell_keys",
]

#: the pseudonymous person key of the features table (the linkage's cluster key)
PERSON_KEY = "person_key"

_DEMO_SEED_IN_PRODUCTION = (
    "disclosure config: cellkey.seed is the demo's public seed; a production release under "
    "method cellkey needs its own secret seed (anyone with the seed can undo the perturbation)"
)
_NO_PERSON_KEY = (
    "{path}: no column {column!r}; the cell-key method needs the pseudonymous person key to "
    "give each young person a record key (rebuild the features)"
)
_UNKNOWN_LSOA = "{path}: {n} young people live in LSOA code(s) not in the geography"


def check_seed(rules: DisclosureConfig, environment: str) -> None:
    """Refuse the demo's public seed outside a demo, when the method is ``cellkey``.

    Raises
    ------
    ReleaseError
        If ``environment`` is ``production``, the method ``cellkey`` and its seed
        :data:`DEMO_SEED`.
    """
    demo_seed = rules.cellkey.seed.get_secret_value() == DEMO_SEED
    if rules.method == "cellkey" and environment == "production" and demo_seed:
        raise ReleaseError(_DEMO_SEED_IN_PRODUCTION)


def lsoa_key_sums(
    geography: pd.DataFrame,
    lsoa_codes: Sequence[str] | NDArray[np.object_] | pd.Series,
    keys: NDArray[np.int64],
    present: NDArray[np.bool_],
    factors: Sequence[str],
) -> pd.DataFrame:
    """Sums of record keys per LSOA of ``geography`` (its order), per cell.

    Returns a frame indexed by LSOA code with ``population`` (the sum of every young
    person's key) and ``count_F`` (the sum over those with ``F``; ``present`` is rows x
    factors), as whole numbers. An LSOA with nobody sums to 0.

    Raises
    ------
    ExtractError
        If a young person lives in an LSOA that is not in the geography.
    """
    lsoas = pd.Index(geography["lsoa_code"].astype(str))
    index = lsoas.get_indexer(pd.Index(np.asarray(lsoa_codes, dtype=object).astype(str)))
    if (index < 0).any():
        raise ExtractError(_UNKNOWN_LSOA.format(path="features", n=int((index < 0).sum())))
    size = len(lsoas)
    sums = {"population": np.bincount(index, weights=keys, minlength=size)}
    for j, factor in enumerate(factors):
        weights = np.where(present[:, j], keys, 0)
        sums[f"count_{factor}"] = np.bincount(index, weights=weights, minlength=size)
    return pd.DataFrame({k: v.astype(np.int64) for k, v in sums.items()}, index=lsoas)


def area_cell_keys(
    areas: pd.DataFrame, geography: pd.DataFrame, by_lsoa: pd.DataFrame
) -> pd.DataFrame:
    """The cell key of every cell of every area: the sum of its members' keys, modulo 256.

    Parameters
    ----------
    areas
        ``level`` and ``code`` of every area (:func:`.aggregate.area_table`).
    geography
        One row per LSOA with ``lsoa_code``, ``ward_code``, ``borough_code``, ``bcu_code``.
    by_lsoa
        :func:`lsoa_key_sums`.

    Returns
    -------
    pandas.DataFrame
        Indexed by area code, the columns of ``by_lsoa``, each a key in ``[0, 255]``.
    """
    codes = geography.set_index(geography["lsoa_code"].astype(str))
    frames: list[pd.DataFrame] = []
    for level in LEVELS:
        wanted = areas.loc[areas["level"] == level, "code"].astype(str)
        if level == "lsoa":
            frame = by_lsoa
        elif level == "city":
            frame = pd.DataFrame([by_lsoa.sum()], index=pd.Index(wanted.tolist()))
        else:
            groups = codes.loc[by_lsoa.index, f"{level}_code"].astype(str).to_numpy()
            frame = by_lsoa.groupby(groups).sum()
        frames.append(frame.reindex(wanted, fill_value=0))
    stacked = pd.concat(frames)
    return stacked.apply(lambda column: cell_keys(column.to_numpy()))


def release_cell_keys(
    features: Path,
    as_of: str,
    geography: pd.DataFrame,
    areas: pd.DataFrame,
    present_when: Mapping[str, Sequence[str]],
    rules: CellKeyConfig,
) -> pd.DataFrame:
    """Every area's cell keys for the release at ``as_of`` (the period of the record keys).

    Reads ``person_key``, ``lsoa_code`` and the factor flags of the cohort at ``as_of``
    from the features table; the record keys end in the LSOA sums.

    Raises
    ------
    ExtractError
        If the features table has no ``person_key`` or a young person's LSOA is unknown.
    """
    flags = sorted({c for columns in present_when.values() for c in columns})
    if PERSON_KEY not in pq.read_schema(features).names:
        raise ExtractError(_NO_PERSON_KEY.format(path=features, column=PERSON_KEY))
    cohort = pq.read_table(
        features,
        columns=[PERSON_KEY, "lsoa_code", *flags],
        filters=[("as_of_date", "=", dt.date.fromisoformat(as_of))],
    ).to_pandas()
    keys = record_keys(cohort[PERSON_KEY].astype(str), as_of, rules.seed_bytes())
    present = factor_present(cohort, present_when)
    if present.size == 0:
        present = np.zeros((len(cohort), 0), dtype=bool)
    by_lsoa = lsoa_key_sums(geography, cohort["lsoa_code"], keys, present, list(present_when))
    return area_cell_keys(areas, geography, by_lsoa)
