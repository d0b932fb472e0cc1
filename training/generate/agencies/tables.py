"""Turn an agency's records and the identifiers it holds into its extract table."""

from __future__ import annotations

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
    pid = persons.person_id[records.person]
    sex = np.where(ids.male, "M", "F").astype(object)
    event_date = records.day.astype("datetime64[D]")
    nhs_missing = city.config.noise.nhs_number_missing
    cols: dict[str, object]
    if source == "health":
        nhs = nhs_numbers(pid)
        nhs[rng.random(len(pid)) < nhs_missing["health"]] = None
        cols = {
            "nhs_number": nhs,
            "hospital_number": _code("RH", scrambled(pid, _SALT[source]), 8),
            "forename": ids.forename,
            "surname": ids.surname,
            "date_of_birth": ids.dob,
            "sex": sex,
            "postcode": ids.postcode,
            "arrival_date": event_date,
            "ethnic_category": _ethnicity(persons, records.person, pid, _NHS_ETHNIC, "Z", rng),
        }
    elif source == "education":
        cols = {
            "upn": _code("A", scrambled(pid, _SALT[source], 10**12), 12),
            "legal_forename": ids.forename,
            "legal_surname": ids.surname,
            "date_of_birth": ids.dob,
            "gender": sex,
            "home_postcode": ids.postcode,
            "ethnicity": _ethnicity(persons, records.person, pid, _DFE_ETHNIC, "NOBT", rng),
            "event_date": event_date,
        }
    elif source == "social_care":
        nhs = nhs_numbers(pid)
        digits = nhs.astype("U10")
        nhs = np.char.add(
            np.char.add(
                np.char.add(_part(digits, 0, 3), " "), np.char.add(_part(digits, 3, 6), " ")
            ),
            _part(digits, 6, 10),
        ).astype(object)
        nhs[rng.random(len(pid)) < nhs_missing["social_care"]] = None
        la = city.geography["borough_code"].to_numpy()[residences.lsoa[ids.residence]]
        borough = city.borough_of_lsoa[residences.lsoa[ids.residence]]
        cols = {
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
            "ethnicity": _ethnicity(persons, records.person, pid, _DFE_ETHNIC, "NOBT", rng),
            "event_date": event_date,
        }
    else:
        incident = incident_base + records.columns.pop("incident").astype(np.int64)
        dob = ids.dob.astype(str)
        nominal = _code("PN", scrambled(pid, _SALT[source]), 8)
        nominal[records.columns["role"] == "child_present"] = None
        cols = {
            "crime_reference": _code("CR", scrambled(incident, 5, 10**10), 10),
            "nominal_id": nominal,
            "forename": ids.forename,
            "surname": ids.surname,
            "date_of_birth": np.char.add(
                np.char.add(
                    np.char.add(_part(dob, 8, 10), "/"), np.char.add(_part(dob, 5, 7), "/")
                ),
                _part(dob, 0, 4),
            ).astype(object),
            "sex": sex,
            "address_postcode": ids.postcode,
            "incident_date": event_date,
        }
    cols.update(records.columns)
    cols["source"] = np.full(len(records), source, dtype=object)
    cols["record_id"] = record_ids
    schema = arrow_schema(source)
    arrays = [
        pa.array(cols[name], type=schema.field(name).type, from_pandas=True)
        for name in schema.names
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


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
