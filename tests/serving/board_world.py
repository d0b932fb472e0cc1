"""A server's world for the board pages: a model registry with versions, a release, keys.

The registry (MLflow, SQLite) holds an audited candidate whose fairness gate failed and a
version not yet audited (as tests/governance/test_approval.py builds them); the board's key
pair signs the release the planners read, so one governance config serves both sides.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.board.approval import REPORT_TAG
from governance.board.audit_log import AuditLog
from governance.board.registry import Registry as ModelRegistry
from governance.board.verdict import embed_verdict
from governance.contracts.signing import artifacts_digest
from serving.config import ServingConfig
from serving.keys import create_key
from tests.governance.test_approval import NAME
from tests.governance.test_approval import Board as Registry
from tests.helpers import copy_tree
from tests.serving.city import london_rows
from tests.serving.release_factory import T0, Board, serving_config, write_release


@dataclass
class BoardWorld:
    """Everything under ``root``: registry, board key, releases, keys and the config."""

    root: Path
    registry: Registry
    config: ServingConfig
    candidate: str
    unaudited: str
    tokens: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def audit_log(self) -> AuditLog:
        return AuditLog(self.root / "audit" / "audit-log.jsonl")

    @property
    def private_key_pem(self) -> str:
        return self.registry.key.read_text()


GATES = [
    {"name": "minimum test ROC AUC", "figure": "test_roc_auc", "value": 0.7812,
     "limit": 0.70, "direction": "at least", "passed": True},
    {"name": "maximum calibration error (ECE)", "figure": "test_ece", "value": 0.0081,
     "limit": 0.02, "direction": "at most", "passed": True},
    {"name": "maximum equalized odds difference", "figure": "equalized_odds_difference",
     "value": 0.1340, "limit": 0.10, "direction": "at most", "passed": False},
]  # fmt: skip
REPORT = """<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Audit report</title>
<style>body{{font:15px/1.5 sans-serif;margin:24px;color:#1b1f24}}td,th{{border:1px solid #ccc;
padding:4px 8px}}table{{border-collapse:collapse}}.fail{{color:#a01a1a}}</style></head><body>
<h1>report</h1><p>{model} version {version}: audit of a model of generated data.</p>
<h2>Promotion gates</h2><table><tr><th>gate</th><th>value</th><th>limit</th><th>result</th></tr>
{rows}</table><h2>Fairness at the operating point</h2>
<p>Equalized odds difference by ethnicity 0.134 (95% interval 0.08 to 0.19), above the limit
of 0.10; small groups flagged.</p><h2>Explainability</h2>
<p>Top drivers: domestic abuse, persistent absence, child in need.</p></body></html>"""


def audit_version(registry: Registry, version: str) -> str:
    """Log a small report with a failed fairness gate on ``version``; its hash as the tag."""
    rows = "".join(
        f"<tr><td>{g['name']}</td><td>{g['value']}</td><td>{g['direction']} {g['limit']}</td>"
        f'<td class="{"pass" if g["passed"] else "fail"}">'
        f"{'passed' if g['passed'] else 'failed'}</td></tr>"
        for g in GATES
    )
    info = registry.registry.version(NAME, version)
    html = embed_verdict(
        REPORT.format(model=NAME, version=version, rows=rows),
        {
            "model": NAME,
            "version": version,
            "gates": GATES,
            "gates_passed": False,
            "model_artifacts_sha256": artifacts_digest(registry.registry.model_files(info)),
        },
    )
    registry.registry.log_artifacts(info, {"report.html": html.encode()})
    digest = hashlib.sha256(html.encode()).hexdigest()
    registry.registry.set_tags(
        NAME,
        version,
        {
            REPORT_TAG: digest,
            "audit_gates_passed": "false",
            "audit_failed_gates": GATES[2]["figure"],
        },
    )
    return digest


def make_board_world(root: Path, *, london: bool = False, **overrides: Any) -> BoardWorld:
    """The world; ``london`` serves two releases of the London-shaped city (else the small one)."""
    registry = Registry(root)
    candidate = registry.new_version(audited=False)
    audit_version(registry, candidate)
    unaudited = registry.new_version(audited=False)
    board = Board(registry.key, registry.public)
    if london:
        write_release(
            root / "releases", board, release_id="r0", rows=london_rows(), as_of="2024-03-31"
        )
        write_release(
            root / "releases",
            board,
            release_id="r1",
            rows=london_rows(shift=0.002),
            as_of="2025-03-31",
            created=T0.replace(year=2025),
            previous="r0",
        )
    else:
        write_release(root / "releases", board, release_id="r1")
    config = serving_config(
        root, board, tracking_uri=f"sqlite:///{root / 'mlflow.db'}", **overrides
    )
    world = BoardWorld(root, registry, config, candidate, unaudited, overrides=overrides)
    for role, name in (("planner", "Hackney VRU planner"), ("board", "A. Khan (chair)")):
        key, token = create_key(config.keys_file, role=role, name=name)
        world.tokens[role], world.key_ids[role] = token, key.key_id
    return world


def copy_board_world(world: BoardWorld, root: Path) -> BoardWorld:
    """The same world under ``root``, for one test to change: a copy of ``world.root``.

    Building a world takes seconds (a new MLflow store); copying one, a fraction of that. The
    registry, the governance YAML and the serving config are made again for the new root; the
    keys file is copied, so the tokens stay valid.
    """
    copy_tree(world.root, root)
    registry = copy.copy(world.registry)
    registry.registry = ModelRegistry(f"sqlite:///{root / 'mlflow.db'}")
    registry.key, registry.other_key = root / "board.pem", root / "other.pem"
    registry.log = AuditLog(root / "log" / "audit.jsonl")
    config = serving_config(
        root,
        Board(registry.key, registry.public),
        tracking_uri=registry.registry.tracking_uri,
        **world.overrides,
    )
    return BoardWorld(
        root,
        registry,
        config,
        world.candidate,
        world.unaudited,
        tokens=dict(world.tokens),
        key_ids=dict(world.key_ids),
        overrides=world.overrides,
    )
