"""What an agency writes down about a person on a given day: names, birth date, sex, address.

Local identifiers (hospital number, UPN, local-authority child id, police nominal id) are stable
within one agency, as they are in life; the NHS number is shared by health and social care but
often missing from the latter. Noise rates come from :class:`training.generate.config.NoiseConfig`,
scaled per agency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.generate.city import City
from training.generate.noise import choose_alternative, transpose_dates, typo
from training.generate.population import Persons, Residences

__all__ = ["Identity", "identify", "nhs_numbers", "scrambled"]


@dataclass
class Identity:
    """Identifier columns for a batch of records (one entry per record)."""

    forename: np.ndarray
    surname: np.ndarray
    dob: np.ndarray  # datetime64[D]
    male: np.ndarray
    postcode: np.ndarray  # object, None where missing
    residence: np.ndarray  # row in Residences of the true address on the day


def identify(
    city: City,
    persons: Persons,
    residences: Residences,
    person: np.ndarray,
    day: np.ndarray,
    source: str,
    rng: np.random.Generator,
) -> Identity:
    """Noisy identifiers of ``person`` (chunk positions) as ``source`` records them on ``day``."""
    cfg = city.config.noise
    scale = cfg.source_multiplier[source]
    pools = city.names
    n = len(person)

    fidx = persons.forename[person]
    forename = pools.forenames[fidx]
    forename = choose_alternative(
        fidx, forename, pools.forename_alternatives, cfg.nickname * scale, rng
    )
    forename = choose_alternative(
        fidx, forename, pools.forename_variants, cfg.name_variant * scale, rng
    )
    forename = typo(forename, cfg.forename_typo * scale, rng)
    sidx = persons.surname_index[person]
    surname = persons.surname[person]
    plain = np.char.find(surname.astype(str), "-") < 0
    varied = choose_alternative(
        sidx, surname, pools.surname_variants, cfg.name_variant * scale, rng
    )
    surname = np.where(plain, varied, surname)
    surname = typo(surname, cfg.surname_typo * scale, rng)
    swap = rng.random(n) < cfg.names_swapped * scale
    forename[swap], surname[swap] = surname[swap], forename[swap].copy()

    dob = transpose_dates(
        persons.dob[person].astype("datetime64[D]"), cfg.dob_transposed * scale, rng
    )
    male = persons.male[person] ^ (rng.random(n) < cfg.sex_miscoded * scale)

    row = residences.at(persons.household[person], day)
    stale = rng.random(n) < cfg.stale_postcode * scale
    shown = np.where(stale, residences.previous(row), row)
    postcode = city.postcodes["postcode"].to_numpy()[residences.postcode[shown]].astype(object)
    postcode[rng.random(n) < cfg.postcode_missing * scale] = None
    return Identity(forename, surname, dob, male, postcode, row)


def scrambled(person_id: np.ndarray, salt: int, modulus: int = 10**8) -> np.ndarray:
    """A stable pseudo-random number per person and agency (a bijection below ``modulus``)."""
    return (person_id.astype(np.int64) * 7_919 * (2 * salt + 1) + 104_729 * salt) % modulus


def nhs_numbers(person_id: np.ndarray) -> np.ndarray:
    """Valid 10-digit NHS numbers (modulus 11 check digit), unique per person."""
    body = 400_000_000 + (person_id.astype(np.int64) * 7_919 + 12_345) % 500_000_000
    digits = (body[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    check = (11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11
    # check 10 is not allowed: those people take a body from a range the first draw never uses
    bad = check == 10
    body[bad] = 900_000_000 + (person_id[bad].astype(np.int64) * 7_919 + 12_345) % 100_000_000
    digits = (body[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    check = (11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11
    check[check == 10] = 0  # about 1 in 121 people: an invalid number, as real extracts have
    return np.char.add(body.astype(str), check.astype(str)).astype(object)
