"""Turn an agency's records and the identifiers it holds into its extract table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from training.extracts.schemas import arrow_schema
from training.generate.agencies.common import AgencyRecords
from training.generate.agencies.identifiers import Identity, nhs_numbers, scrambled
from training.generate.city import City
from training.generate.population import Persons, Residences

__all__ = ["extract_table"]

# NHS ethnic category codes and DfE major ethnicity codes, in the order of ETHNIC_GROUPS
_NHS_ETHNIC = (
    ("A", "B", "C"),
    ("D", "E", "F", "G"),
    ("H", "J", "K", "L"),
    ("M", "N", "P"),
    ("R", "S"),
)
_DFE_ETHNIC = (("WHIT",), ("MIXD",), ("ASIA",), ("BLAC",), ("OOEG",))
_ETHNICITY_NOT_RECORDED = 0.05
_SALT = {"health": 1, "education": 2, "social_care": 3, "police": 4}


def extract_table(
    city: City,
    records: AgencyRecords,
    persons: Persons,
    residences: Residences,
    ids: Identity,
    record_ids: np.ndarray,
    incident_base: int,
    rng: np.random.Generator,
) -> pa.Table:
    """The extract rows of ``records`` in the agency's own schema, ids attached."""
    source = records.source
    rows = _Rows(
        city=city,
        records=records,
        persons=persons,
        residences=residences,
        ids=ids,
        pid=persons.person_id[records.person],
        sex=np.where(ids.male, "M", "F").astype(object),
        event_date=records.day.astype("datetime64[D]"),
        incident_base=incident_base,
    )
    cols = _AGENCY_COLUMNS[source](rows, rng)
    cols.update(records.columns)
    cols["source"] = np.full(len(records), source, dtype=object)
    cols["record_id"] = record_ids
    schema = arrow_schema(source)
    arrays = [
        pa.array(cols[name], type=schema.field(name).type, from_pandas=True)
        for name in schema.names
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class _Rows:
    """What an agency's own columns are made from: its records and the identifiers it holds."""

    city: City
    records: AgencyRecords
    persons: Persons
    residences: Residences
    ids: Identity
    pid: np.ndarray  # the true person id of each record
    sex: np.ndarray  # "M" or "F", as recorded
    event_date: np.ndarray
    incident_base: int  # police incidents of this chunk are numbered from here


def _health_columns(rows: _Rows, rng: np.random.Generator) -> dict[str, object]:
    """A&E and admissions: NHS number (sometimes missing), hospital number, NHS ethnic code."""
    ids, pid = rows.ids, rows.pid
    nhs = nhs_numbers(pid)
    nhs[rng.random(len(pid)) < rows.city.config.noise.nhs_number_missing["health"]] = None
    return {
        "nhs_number": nhs,
        "hospital_number": _code("RH", scrambled(pid, _SALT["health"]), 8),
        "forename": ids.forename,
        "surname": ids.surname,
        "date_of_birth": ids.dob,
        "sex": rows.sex,
        "postcode": ids.postcode,
        "arrival_date": rows.event_date,
        "ethnic_category": _ethnicity(
            rows.persons, rows.records.person, pid, _NHS_ETHNIC, "Z", rng
        ),
    }


def _education_columns(rows: _Rows, rng: np.random.Generator) -> dict[str, object]:
    """School census and exclusions: UPN, legal names, DfE ethnicity code."""
    ids, pid = rows.ids, rows.pid
    return {
        "upn": _code("A", scrambled(pid, _SALT["education"], 10**12), 12),
        "legal_forename": ids.forename,
        "legal_surname": ids.surname,
        "date_of_birth": ids.dob,
        "gender": rows.sex,
        "home_postcode": ids.postcode,
        "ethnicity": _ethnicity(rows.persons, rows.records.person, pid, _DFE_ETHNIC, "NOBT", rng),
        "event_date": rows.event_date,
    }


def _social_care_columns(rows: _Rows, rng: np.random.Generator) -> dict[str, object]:
    """Social care events: the authority's own child id, a spaced NHS number, DfE ethnicity."""
    ids, pid, residences = rows.ids, rows.pid, rows.residences
    nhs = nhs_numbers(pid)
    digits = nhs.astype("U10")
    nhs = np.char.add(
        np.char.add(np.char.add(_part(digits, 0, 3), " "), np.char.add(_part(digits, 3, 6), " ")),
        _part(digits, 6, 10),
    ).astype(object)
    nhs[rng.random(len(pid)) < rows.city.config.noise.nhs_number_missing["social_care"]] = None
    la = rows.city.geography["borough_code"].to_numpy()[residences.lsoa[ids.residence]]
    borough = rows.city.borough_of_lsoa[residences.lsoa[ids.residence]]
    return {
        "la_code": la,
        # each authority numbers its children its own way
        "la_child_id": np.char.add(
            la.astype(str), _code("-", scrambled(pid, 10 + borough), 8).astype(str)
        ).astype(object),
        "nhs_number": nhs,
        "first_name": ids.forename,
        "last_name": ids.surname,
        "dob": ids.dob,
        "gender": np.where(ids.male, "1", "2").astype(object),
        "postcode": ids.postcode,
        "ethnicity": _ethnicity(rows.persons, rows.records.person, pid, _DFE_ETHNIC, "NOBT", rng),
        "event_date": rows.event_date,
    }


def _police_columns(rows: _Rows, rng: np.random.Generator) -> dict[str, object]:
    """Police records: crime reference per incident, nominal id (none for a child present)."""
    ids, pid, columns = rows.ids, rows.pid, rows.records.columns
    incident = rows.incident_base + columns.pop("incident").astype(np.int64)
    dob = ids.dob.astype(str)
    nominal = _code("PN", scrambled(pid, _SALT["police"]), 8)
    nominal[columns["role"] == "child_present"] = None
    return {
        "crime_reference": _code("CR", scrambled(incident, 5, 10**10), 10),
        "nominal_id": nominal,
        "forename": ids.forename,
        "surname": ids.surname,
        "date_of_birth": np.char.add(
            np.char.add(np.char.add(_part(dob, 8, 10), "/"), np.char.add(_part(dob, 5, 7), "/")),
            _part(dob, 0, 4),
        ).astype(object),
        "sex": rows.sex,
        "address_postcode": ids.postcode,
        "incident_date": rows.event_date,
    }


_AGENCY_COLUMNS: dict[str, Callable[[_Rows, np.random.Generator], dict[str, object]]] = {
    "health": _health_columns,
    "education": _education_columns,
    "social_care": _social_care_columns,
    "police": _police_columns,
}


def _ethnicity(
    persons: Persons,
    person: np.ndarray,
    pid: np.ndarray,
    codes: tuple[tuple[str, ...], ...],
    missing: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """An agency's ethnicity code: one per person within the group, sometimes not recorded."""
    group = persons.ethnicity[person]
    sizes = np.array([len(c) for c in codes])
    flat = np.asarray([c for group_codes in codes for c in group_codes], dtype=object)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = flat[offsets[group] + scrambled(pid, 7) % sizes[group]]
    out[rng.random(len(pid)) < _ETHNICITY_NOT_RECORDED] = missing
    return out


def _code(prefix: str, number: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(number.astype(str), width)).astype(object)


def _part(text: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Characters ``start:stop`` of each fixed-width string, without a Python loop."""
    chars = text.astype(f"U{stop}").view("U1").reshape(len(text), stop)
    return np.ascontiguousarray(chars[:, start:stop]).view(f"U{stop - start}").ravel()
