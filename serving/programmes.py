"""Published programme evaluations as the server holds them: verified, then read in words.

:class:`ProgrammeShelf` serves, for each programme, the newest publication in
``programmes_dir`` (by its signed ``created``), and only if it verifies
(:func:`governance.contracts.programme_schema.verify_programme_publication`: the release key's
signature, the file's signed SHA-256, no unlisted file, counts obeying the signed rules) and
its signed rules are no weaker than the server's ``disclosure_floor.min_count``. A programme
whose newest publication fails is not served at all (not an older one in its place: the newer
result superseded it); the reason goes to the server log, never to the caller.

The shelf re-reads when the directory's entries or their files' times change, so a new
publication, or a file edited in place, is checked again before anything is served from it.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from governance.contracts.programme_schema import (
    PROGRAMME_MANIFEST,
    ProgrammeManifest,
    ProgrammePublicationError,
    ProgrammeResult,
    PublishedEstimate,
    verify_programme_publication,
)
from serving.programme_schemas import ProgrammeDetail, ProgrammeList, ProgrammeSummary

__all__ = ["ProgrammeShelf", "Published", "ShelfDep", "headline_sentence", "interval_words"]

_log = logging.getLogger("serving")


@dataclass(frozen=True)
class Published:
    """One verified publication."""

    manifest: ProgrammeManifest
    result: ProgrammeResult

    def summary(self) -> ProgrammeSummary:
        """The listing's entry."""
        head = self.result.estimates[0]
        return ProgrammeSummary(
            name=self.result.programme,
            treated_wards=self.result.treated_wards,
            start_dates=self.result.start_dates,
            headline=head,
            verdict=headline_sentence(head),
            published=self.manifest.created,
        )

    def detail(self) -> ProgrammeDetail:
        """The programme in full."""
        r = self.result
        return ProgrammeDetail(
            **self.summary().model_dump(),
            comparison_wards=r.comparison_wards,
            periods=r.periods,
            recorded_before=r.recorded_before,
            recorded_after=r.recorded_after,
            estimates=r.estimates,
            placebos=r.placebos,
            event_study=r.event_study,
            event_study_method=r.event_study_method,
            withheld_event_points=r.withheld_event_points,
            assumptions=r.assumptions,
        )


def _pct(x: float) -> str:
    return f"{abs(100 * x):.0f}%"


def _change(e: PublishedEstimate) -> tuple[str, bool]:
    """The change in words, and whether its interval includes no change."""
    if e.effect is None or e.low is None or e.high is None or not math.isfinite(e.effect):
        return "could not be estimated" + (f" ({e.note})" if e.note else ""), False
    if e.high < 0:
        return (
            f"fell by about {_pct(e.effect)} (95% interval {_pct(e.high)} to {_pct(e.low)})",
            False,
        )
    if e.low > 0:
        return (
            f"rose by about {_pct(e.effect)} (95% interval {_pct(e.low)} to {_pct(e.high)})",
            False,
        )
    return (
        f"changed by about {100 * e.effect:+.0f}% (95% interval {100 * e.low:+.0f}% to "
        f"{100 * e.high:+.0f}%)"
    ), True


def interval_words(e: PublishedEstimate) -> str:
    """The estimate and interval as a change in words: 'fell by about 20% (95% ... )'."""
    words, unclear = _change(e)
    return words + (", which the data cannot tell from no change" if unclear else "")


def headline_sentence(e: PublishedEstimate) -> str:
    """The main estimate in one sentence, for planners."""
    words, unclear = _change(e)
    return f"Recorded violence in the wards reached {words} compared with what similar wards " + (
        "suggest; the data cannot tell this from no change." if unclear else "suggest."
    )


class ProgrammeShelf:
    """The verified programme publications in a directory, re-read when it changes."""

    def __init__(self, directory: Path, release_key_b64: str | None, min_count: int) -> None:
        self.directory = Path(directory)
        self.release_key_b64 = release_key_b64
        self.min_count = min_count
        self.refused: dict[str, str] = {}
        self._served: dict[str, Published] = {}
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.Lock()

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Every file of every publication with its change time and size: what a re-read needs."""
        if not self.directory.is_dir():
            return ()
        found = []
        for sub in self.directory.iterdir():
            if sub.name.startswith("."):  # a publication being staged
                continue
            try:
                for path in sub.iterdir():
                    stat = path.stat()
                    found.append((f"{sub.name}/{path.name}", stat.st_mtime_ns, stat.st_size))
            except OSError:  # not a directory, or removed meanwhile: the load judges it
                found.append((sub.name, -1, -1))
        return tuple(sorted(found))

    def served(self) -> dict[str, Published]:
        """Programme name -> its verified newest publication (re-read if anything changed)."""
        stamp = self._fingerprint()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._served, self.refused = self._load()
                    self._stamp = stamp
        return self._served

    def _load(self) -> tuple[dict[str, Published], dict[str, str]]:
        newest: dict[str, tuple[str, str, Path]] = {}
        refused: dict[str, str] = {}
        if self.directory.is_dir():
            for sub in sorted(self.directory.iterdir()):
                if not sub.is_dir() or sub.name.startswith("."):
                    continue
                try:
                    m = ProgrammeManifest.model_validate_json(
                        (sub / PROGRAMME_MANIFEST).read_bytes()
                    )
                except (OSError, ValueError) as err:
                    refused[sub.name] = (
                        f"{sub / PROGRAMME_MANIFEST}: unreadable ({type(err).__name__})"
                    )
                    continue
                if m.programme not in newest or (m.created, sub.name) > newest[m.programme][:2]:
                    newest[m.programme] = (m.created, sub.name, sub)
        served: dict[str, Published] = {}
        for name, (_, _, sub) in sorted(newest.items()):
            try:
                manifest, result = verify_programme_publication(sub, self.release_key_b64)
                least = int(manifest.disclosure["min_count"])
                if least < self.min_count:
                    raise ProgrammePublicationError(
                        f"{sub / PROGRAMME_MANIFEST}: signed min_count {least} is below this "
                        f"server's floor (disclosure_floor.min_count {self.min_count})"
                    )
            except ProgrammePublicationError as err:
                refused[name] = str(err)
                _log.warning("programme %s not served: %s", name, err)
                continue
            served[name] = Published(manifest, result)
        return served, refused

    def listing(self) -> ProgrammeList:
        """Every served programme's summary, by name."""
        return ProgrammeList(programmes=[p.summary() for _, p in sorted(self.served().items())])


async def _shelf(request: Request) -> ProgrammeShelf:
    shelf: ProgrammeShelf = request.app.state.programmes
    return shelf


ShelfDep = Annotated[ProgrammeShelf, Depends(_shelf)]
"""The verified programme publications (``app.state.programmes``), for a route."""
