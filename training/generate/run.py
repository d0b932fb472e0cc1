"""Generate a city chunk by chunk and write it, truth apart, with a manifest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from governance.contracts.config import config_hash
from governance.contracts.layout import SOURCES, DataLayout
from training.config import PipelineConfig
from training.extracts.schemas import EXTRACT_SCHEMA_VERSION, validate_extract
from training.generate.agencies.common import AgencyRecords
from training.generate.agencies.education import education_records
from training.generate.agencies.health import health_records
from training.generate.agencies.identifiers import identify
from training.generate.agencies.police import police_records
from training.generate.agencies.social_care import social_care_records
from training.generate.agencies.tables import extract_table
from training.generate.city import City
from training.generate.config import ETHNIC_GROUPS, FACTOR_ORDER, GenerateConfig
from training.generate.geography import (
    generate_geography,
    london_geography,
    make_postcodes,
    read_ons_geography,
)
from training.generate.names import load_name_pools
from training.generate.outcomes import Violence, draw_violence, outcome_score
from training.generate.population import Persons, Residences, draw_population
from training.generate.programmes import (
    ProgrammePlan,
    apply_to_factors,
    apply_to_violence,
    plan_programmes,
    programme_wards_table,
)
from training.generate.risk import Risks, draw_risks
from training.storage import ParquetSink, file_sha256, staged_directory, write_json_atomic

__all__ = ["GenerateResult", "run_generate"]

logger = logging.getLogger("vru.generate")

GENERATOR_SCHEMA_VERSION = "1.0"
_PREFIX = {"health": "HE", "education": "ED", "social_care": "SC", "police": "PO"}
# the truth directory is named here and in training.evaluation only (a test keeps it so)
_TRUTH = "truth"
# police incidents are numbered per chunk from chunk * this, so references never collide
_INCIDENTS_PER_CHUNK = 10**7

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerateResult:
    """What was written: the manifest's content and where it lives."""

    data_dir: Path
    manifest: dict[str, object]


def run_generate(
    config: PipelineConfig,
    data_dir: Path,
    *,
    validate: bool = True,
    progress: Progress | None = None,
) -> GenerateResult:
    """Generate ``config.generate.persons`` people and write every file under ``data_dir``.

    ``progress(done, total)`` is called with persons generated so far.
    """
    gen = config.generate
    seeds = _Seeds(config.seed)
    places = _build_city(gen, seeds)
    layout = DataLayout(data_dir)
    with staged_directory(data_dir) as stage:
        sink = ParquetSink(stage)
        done = _generate_people(gen, places, seeds, sink, validate, progress)
        sink.close()
        _write_places(stage, layout, places)
        files = _files(stage)
        manifest = {
            "stage": "generate",
            "schema_version": GENERATOR_SCHEMA_VERSION,
            "seed": config.seed,
            "config_hash": config_hash(config.generate),
            "persons": done,
            "geography_source": gen.geography.source,
            "period": {"start": str(gen.start_date), "end": str(gen.end_date)},
            "files": files,
        }
        write_json_atomic(stage / layout.manifest.name, manifest)
    logger.info("wrote %d files to %s", len(files), data_dir)
    return GenerateResult(data_dir=data_dir, manifest=manifest)


@dataclass(frozen=True)
class _Places:
    """The city the people are drawn into."""

    city: City
    postcodes: pd.DataFrame  # as written to ``postcodes.parquet``
    policing: np.ndarray  # each LSOA's policing intensity (truth only)
    programmes: list[ProgrammePlan]  # where and when each programme runs (truth only)


def _build_city(gen: GenerateConfig, seeds: _Seeds) -> _Places:
    """The city's areas, postcodes and names, and each LSOA's policing intensity."""
    if gen.geography.source == "ons":
        geography = read_ons_geography(gen.geography, seeds.rng("geography"))
    elif gen.geography.source == "london":
        geography = london_geography(gen.geography)
    else:
        geography = generate_geography(gen.geography, gen.persons, seeds.rng("geography"))
    postcodes = make_postcodes(geography, seeds.rng("postcodes"))
    city = City.build(gen, geography, postcodes, load_name_pools())
    rec = gen.recording
    policing = rec.policing_intensity_per_deprivation_sd * city.deprivation + seeds.rng(
        "policing"
    ).normal(0.0, rec.policing_intensity_sd, len(geography))
    logger.info(
        "geography: %d LSOAs, %d wards, %d boroughs",
        len(geography),
        geography["ward_code"].nunique(),
        geography["borough_code"].nunique(),
    )
    programmes = plan_programmes(gen, geography)
    return _Places(city=city, postcodes=postcodes, policing=policing, programmes=programmes)


def _generate_people(
    gen: GenerateConfig,
    places: _Places,
    seeds: _Seeds,
    sink: ParquetSink,
    validate: bool,
    progress: Progress | None,
) -> int:
    """Generate the people chunk by chunk into ``sink``; how many were generated."""
    city, policing = places.city, places.policing
    counters = dict.fromkeys(SOURCES, 0)
    done, chunk, households_done = 0, 0, 0
    while done < gen.persons:
        rng = seeds.rng("chunk", chunk)
        remaining = gen.persons - done
        n_households = int(min(gen.households_per_chunk, remaining / 1.6 + 50))
        households, persons, residences = draw_population(city, n_households, done, rng)
        if len(persons) > remaining:
            persons = _head(persons, remaining)
        risks = draw_risks(gen.risk, households, persons, rng)
        if places.programmes:  # their own stream: without effect, the city is unchanged
            programme_rng = seeds.rng("programme", chunk)
            risks, reached = apply_to_factors(
                places.programmes, persons, residences, risks, programme_rng
            )
        deprivation = households.deprivation[persons.household]
        score = outcome_score(gen, persons, risks, deprivation)
        violence = draw_violence(gen, persons, residences, score, policing, rng)
        if places.programmes:
            violence, prevented = apply_to_violence(
                places.programmes, reached, persons, residences, violence, programme_rng
            )
            sink.write(f"{_TRUTH}/programme_prevented.parquet", _prevented_table(prevented))
        batches = {
            "health": health_records(city, persons, risks, violence, rng),
            "education": education_records(city, persons, risks, rng),
            "social_care": social_care_records(city, persons, risks, rng),
            "police": police_records(
                city, persons, residences, risks, violence, score, policing, rng
            ),
        }
        for source, records in batches.items():
            chunk_of = _Chunk(index=chunk, first_record=counters[source], validate=validate)
            counters[source] += _write_extract(
                sink, city, persons, residences, source, records, chunk_of, rng
            )
        sink.write(
            f"{_TRUTH}/persons.parquet",
            _persons_table(city, persons, residences, risks, score, violence, households_done),
        )
        sink.write(
            f"{_TRUTH}/violence.parquet", _violence_table(city, persons, residences, violence)
        )
        done += len(persons)
        households_done += n_households
        chunk += 1
        if progress is not None:
            progress(done, gen.persons)
        logger.info("chunk %d: %d persons so far", chunk, done)
    return done


@dataclass(frozen=True)
class _Chunk:
    """Where one agency's records of one chunk go."""

    index: int  # the chunk's number
    first_record: int  # the agency's records written before this chunk
    validate: bool  # check the extract against its schema


def _write_extract(
    sink: ParquetSink,
    city: City,
    persons: Persons,
    residences: Residences,
    source: str,
    records: AgencyRecords,
    chunk: _Chunk,
    rng: np.random.Generator,
) -> int:
    """Shuffle, identify and write one agency's records of a chunk, with their truth; a count."""
    records = _shuffled(records, rng)
    ids = identify(city, persons, residences, records.person, records.day, source, rng)
    record_ids = _record_ids(source, chunk.first_record, len(records))
    table = extract_table(
        city,
        records,
        persons,
        residences,
        ids,
        record_ids,
        chunk.index * _INCIDENTS_PER_CHUNK,
        rng,
    )
    if chunk.validate:
        validate_extract(
            table.to_pandas(), source, f"{source} extract (generated, chunk {chunk.index})"
        )
    sink.write(f"extracts/{source}.parquet", table)
    sink.write(
        f"{_TRUTH}/record_person.parquet",
        pa.table(
            {
                "source": pa.array(np.full(len(records), source), pa.string()),
                "record_id": pa.array(record_ids, pa.string()),
                "person_id": pa.array(persons.person_id[records.person], pa.int64()),
            }
        ),
    )
    return len(records)


def _write_places(stage: Path, layout: DataLayout, places: _Places) -> None:
    """Write the geography and postcodes, and (in the truth) each LSOA's policing intensity."""
    geography = places.city.geography
    _write_table(
        stage / layout.geography.name, pa.Table.from_pandas(geography, preserve_index=False)
    )
    _write_table(
        stage / "postcodes.parquet", pa.Table.from_pandas(places.postcodes, preserve_index=False)
    )
    areas = pa.table(
        {"lsoa_code": geography["lsoa_code"].to_numpy(), "policing_intensity": places.policing}
    )
    (stage / _TRUTH).mkdir(exist_ok=True)
    _write_table(stage / _TRUTH / "areas.parquet", areas)
    if places.programmes:
        wards = programme_wards_table(places.programmes, places.city)
        _write_table(
            stage / _TRUTH / "programmes.parquet", pa.Table.from_pandas(wards, preserve_index=False)
        )


def _files(stage: Path) -> dict[str, dict[str, object]]:
    """Every Parquet file written: rows, schema version and SHA-256, by relative path."""
    files = {}
    for path in sorted(p for p in stage.rglob("*.parquet")):
        rel = path.relative_to(stage).as_posix()
        files[rel] = {
            "rows": pa.parquet.ParquetFile(path).metadata.num_rows,
            "schema_version": EXTRACT_SCHEMA_VERSION
            if rel.startswith("extracts/")
            else GENERATOR_SCHEMA_VERSION,
            "sha256": file_sha256(path),
        }
    return files


class _Seeds:
    """Independent random streams per named step, all derived from the one configured seed."""

    _STEPS: ClassVar[dict[str, int]] = {
        "geography": 1,
        "postcodes": 2,
        "policing": 3,
        "chunk": 4,
        "programme": 5,
    }

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def rng(self, step: str, index: int = 0) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self._STEPS[step], index]))


def _head(persons: Persons, n: int) -> Persons:
    return Persons(**{k: v[:n] for k, v in vars(persons).items()})


def _shuffled(records: AgencyRecords, rng: np.random.Generator) -> AgencyRecords:
    order = rng.permutation(len(records))
    return AgencyRecords(
        source=records.source,
        person=records.person[order],
        day=records.day[order],
        columns={k: v[order] for k, v in records.columns.items()},
        date_column=records.date_column,
    )


def _record_ids(source: str, start: int, n: int) -> np.ndarray:
    numbers = np.arange(start, start + n).astype(str)
    return np.char.add(_PREFIX[source], np.char.zfill(numbers, 10)).astype(object)


def _persons_table(
    city: City,
    persons: Persons,
    residences: Residences,
    risks: Risks,
    score: np.ndarray,
    violence: Violence,
    first_household: int,
) -> pa.Table:
    n = len(persons)
    first_true = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_true, violence.person, violence.day)
    # recorded means: in an extract (inside the period), as an assault at A&E or a proven offence
    recorded = (violence.at_ae | (violence.recorded_offence & (violence.outcome <= 1))) & (
        (violence.day >= city.start_day) & (violence.day <= city.end_day)
    )
    first_rec = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_rec, violence.person[recorded], violence.day[recorded])
    role = np.full(n, None, dtype=object)
    role[violence.person[violence.victim & violence.perpetrator]] = "both"
    role[violence.person[violence.victim & ~violence.perpetrator]] = "victim"
    role[violence.person[~violence.victim & violence.perpetrator]] = "perpetrator"
    last = residences.at(persons.household, np.full(n, city.end_day))
    geo = city.geography
    cols: dict[str, pa.Array] = {
        "person_id": pa.array(persons.person_id),
        "household_id": pa.array(first_household + persons.household.astype(np.int64)),
        "date_of_birth": pa.array(persons.dob.astype("datetime64[D]")),
        "sex": pa.array(np.where(persons.male, "M", "F")),
        "ethnicity": pa.array(np.asarray(ETHNIC_GROUPS)[persons.ethnicity]),
        "forename": pa.array(city.names.forenames[persons.forename].astype(str)),
        "surname": pa.array(persons.surname.astype(str)),
        "lsoa_code_at_end": pa.array(
            geo["lsoa_code"].to_numpy()[residences.lsoa[last]].astype(str)
        ),
        "deprivation_score": pa.array(city.deprivation[residences.lsoa[last]]),
        "outcome_probability": pa.array(1.0 / (1.0 + np.exp(-score))),
    }
    for factor in FACTOR_ORDER:
        cols[factor] = pa.array(risks.factors[factor])
    never = first_true == np.iinfo(np.int64).max
    cols["true_involved"] = pa.array(~never)
    cols["true_role"] = pa.array(role, pa.string())
    cols["true_first_date"] = pa.array(
        np.where(never, np.datetime64("NaT"), first_true.astype("datetime64[D]"))
    )
    never_rec = first_rec == np.iinfo(np.int64).max
    cols["recorded_involved"] = pa.array(~never_rec)
    cols["recorded_first_date"] = pa.array(
        np.where(never_rec, np.datetime64("NaT"), first_rec.astype("datetime64[D]"))
    )
    return pa.table(cols)


def _violence_table(
    city: City, persons: Persons, residences: Residences, violence: Violence
) -> pa.Table:
    lsoa = residences.lsoa[residences.at(persons.household[violence.person], violence.day)]
    return pa.table(
        {
            "person_id": pa.array(persons.person_id[violence.person]),
            "date": pa.array(violence.day.astype("datetime64[D]")),
            # where the young person lived that day (the area an evaluation places it in)
            "lsoa_code": pa.array(city.geography["lsoa_code"].to_numpy()[lsoa].astype(str)),
            "victim": pa.array(violence.victim),
            "perpetrator": pa.array(violence.perpetrator),
            "at_ae": pa.array(violence.at_ae),
            "reported_victim": pa.array(violence.reported_victim),
            "recorded_offence": pa.array(violence.recorded_offence),
            "outcome": pa.array(
                np.asarray(["charge", "caution", "community_resolution", "nfa"])[violence.outcome]
            ),
        }
    )


def _write_table(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")


def _prevented_table(prevented: pd.DataFrame) -> pa.Table:
    """Truth: each incident a programme prevented (it appears in no record)."""
    return pa.table(
        {
            "programme": pa.array(prevented["programme"].astype(str), pa.string()),
            "person_id": pa.array(prevented["person_id"].to_numpy(np.int64), pa.int64()),
            "date": pa.array(prevented["day"].to_numpy(np.int64).astype("datetime64[D]")),
        }
    )
