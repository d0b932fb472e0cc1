"""Review, promotion and serving checks against a real MLflow registry (SQLite store).

Each refusal is tested for the condition it names: not audited, report changed, no
decision, rejected, unsigned, signed with another key, a decision replayed from another
version, a decision made on an older report, a failed gate not waived; and an alias moved by
hand with MLflow's own client is refused by the check that release and the server run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import mlflow
import pytest

from governance.board.approval import (
    REPORT_TAG,
    ApprovalError,
    approval_problems,
    decision_tags,
    promote,
    verify_serving_version,
)
from governance.board.audit_log import AuditLog
from governance.board.registry import CHAMPION, Registry
from governance.board.review import ReviewError, record_review, review_status
from governance.board.verdict import embed_verdict
from governance.contracts.signing import (
    Decision,
    artifacts_digest,
    generate_keypair,
    load_private_key,
    sign_decision,
)

NAME = "vru-risk"
#: the one member a config with only board_public_key_b64 has, and its tags
DECISION_TAG, SIGNATURE_TAG = decision_tags("board")
#: a stand-in for a logged model: what the board's decision must name, file by file
MODEL_FILES = {
    "MLmodel": b"flavors: {python_function: {}}\n",
    "python_model.pkl": b"wrapper bytes",
    "artifacts/calibrated_model.pkl": b"calibrated model bytes",
}


class Board:
    """A registry with versions, a board key pair and an audit log, all under tmp_path."""

    def __init__(self, root: Path) -> None:
        uri = f"sqlite:///{root / 'mlflow.db'}"
        self.registry = Registry(uri)
        client = self.registry.client
        self.experiment = client.create_experiment("t", artifact_location=(root / "art").as_uri())
        client.create_registered_model(NAME)
        self.key = root / "board.pem"
        self.public = generate_keypair(self.key, root / "board.pub")
        self.other_key = root / "other.pem"
        generate_keypair(self.other_key, root / "other.pub")
        self.log = AuditLog(root / "log" / "audit.jsonl")

    def new_version(self, gates_pass: bool = True, audited: bool = True) -> str:
        client = self.registry.client
        run = client.create_run(self.experiment)
        client.set_terminated(run.info.run_id)
        mv = client.create_model_version(
            NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        version = str(mv.version)
        self.registry.log_artifacts(
            self.registry.version(NAME, version), dict(MODEL_FILES), artifact_path="model"
        )
        if audited:
            self.audit(version, gates_pass)
        return version

    def audit(self, version: str, gates_pass: bool = True, text: str = "report") -> str:
        info = self.registry.version(NAME, version)
        gates = [
            {"name": "minimum test ROC AUC", "figure": "test_roc_auc", "passed": True},
            {
                "name": "maximum equalized odds difference",
                "figure": "equalized_odds_difference",
                "passed": gates_pass,
            },
        ]
        html = embed_verdict(
            f"<html><body><h1>{text}</h1></body></html>",
            {
                "model": NAME,
                "version": version,
                "gates": gates,
                "gates_passed": gates_pass,
                "model_artifacts_sha256": artifacts_digest(self.registry.model_files(info)),
            },
        )
        self.registry.log_artifacts(info, {"report.html": html.encode()})
        digest = hashlib.sha256(html.encode()).hexdigest()
        self.registry.set_tags(NAME, version, {REPORT_TAG: digest})
        return digest

    def review(self, version: str, decision: str = "approve", **kw: Any) -> Decision:
        signed, _ = record_review(
            self.registry,
            self.log,
            self.registry.version(NAME, version),
            decision=decision,  # type: ignore[arg-type]
            reasons=kw.pop("reasons", "Gaps within limits; drivers plausible."),
            signing_key=kw.pop("signing_key", self.key),
            board=kw.pop("board", self.public),
            **kw,
        )
        return signed

    def problems(self, version: str) -> list[str]:
        found, _ = approval_problems(
            self.registry, self.registry.version(NAME, version), self.public
        )
        return found

    def promote(self, version: str) -> None:
        promote(
            self.registry,
            self.log,
            self.registry.version(NAME, version),
            self.public,
            actor="test",
        )


@pytest.fixture
def board(tmp_path: Path) -> Board:
    return Board(tmp_path)


def _model_dir(board: Board, version: str) -> Path:
    """Where the artifact store keeps a version's model files (the attacker's target)."""
    location = board.registry.client.get_model_version_download_uri(NAME, version)
    return Path(location.removeprefix("file://"))


def _refused(board: Board, version: str, fragment: str) -> None:
    with pytest.raises(ApprovalError) as caught:
        board.promote(version)
    assert any(fragment in p for p in caught.value.problems), caught.value.problems
    assert board.registry.alias_version(NAME, CHAMPION) is None


def test_an_approved_version_is_promoted_and_logged(board: Board) -> None:
    version = board.new_version()
    board.review(version)
    assert board.problems(version) == []
    board.promote(version)
    assert board.registry.alias_version(NAME, CHAMPION) == version
    events = [e["event"] for e in board.log.entries()]
    assert events == ["review.decision", "model.promote"]
    assert board.log.verify().ok
    approval = verify_serving_version(board.registry, NAME, board.public)
    assert approval.decision.version == version


def test_each_missing_condition_is_named(board: Board) -> None:
    unaudited = board.new_version(audited=False)
    _refused(board, unaudited, "not audited")

    unreviewed = board.new_version()
    _refused(board, unreviewed, "no board decision")

    rejected = board.new_version()
    board.review(rejected, "reject", reasons="Calibration poor for the smallest group.")
    _refused(board, rejected, "rejected")

    failing = board.new_version(gates_pass=False)
    board.review(failing)
    _refused(
        board, failing, "gate(s) failed and not waived by the board: equalized_odds_difference"
    )

    waived = board.new_version(gates_pass=False)
    board.review(waived, waive=("equalized_odds_difference",))
    board.promote(waived)
    assert board.registry.alias_version(NAME, CHAMPION) == waived


def test_a_new_report_needs_a_new_decision(board: Board) -> None:
    version = board.new_version()
    board.review(version)
    board.audit(version, text="re-audited")
    _refused(board, version, "the board must review the current report")
    rows = {r["version"]: r for r in review_status(board.registry, NAME, board.public)}
    assert rows[version]["awaiting_review"] is True


def test_a_changed_report_is_refused(board: Board) -> None:
    version = board.new_version()
    board.review(version)
    info = board.registry.version(NAME, version)
    board.registry.log_artifacts(info, {"report.html": b"<html>edited</html>"})
    _refused(board, version, "changed after the audit")


def test_forged_replayed_and_unsigned_decisions_are_refused(board: Board) -> None:
    first = board.new_version()
    signed = board.review(first)
    second = board.new_version()
    tags = board.registry.version(NAME, first).tags

    # replay: the first version's signed decision copied onto the second
    board.registry.set_tags(
        NAME, second, {DECISION_TAG: tags[DECISION_TAG], SIGNATURE_TAG: tags[SIGNATURE_TAG]}
    )
    _refused(board, second, "copied from another version")

    # the copy edited to name the second version and its report: the signature breaks
    report = board.registry.version(NAME, second).tags[REPORT_TAG]
    edited = replace(signed, version=second, report_sha256=report)
    board.registry.set_tags(NAME, second, {DECISION_TAG: json.dumps(asdict(edited))})
    _refused(board, second, "signature does not verify")

    # signed, but with a key that is not the board's
    forged = sign_decision(edited, load_private_key(board.other_key))
    board.registry.set_tags(NAME, second, {SIGNATURE_TAG: forged})
    _refused(board, second, "signature does not verify")

    # no signature at all
    board.registry.delete_tags(NAME, second, [SIGNATURE_TAG])
    _refused(board, second, "not signed")

    # a decision tag that is not a JSON object is malformed, not a crash
    board.registry.set_tags(NAME, second, {DECISION_TAG: json.dumps([asdict(edited)])})
    _refused(board, second, "is malformed: expected a JSON object, got list")


def test_an_alias_moved_by_hand_achieves_nothing(board: Board) -> None:
    approved = board.new_version()
    board.review(approved)
    board.promote(approved)
    sneaky = board.new_version()
    mlflow.MlflowClient(
        board.registry.tracking_uri, registry_uri=board.registry.tracking_uri
    ).set_registered_model_alias(NAME, CHAMPION, sneaky)
    with pytest.raises(ApprovalError, match="moved by hand") as caught:
        verify_serving_version(board.registry, NAME, board.public)
    assert any("no board decision" in p for p in caught.value.problems)


def test_review_refuses_bad_requests_and_writes_nothing(board: Board) -> None:
    unaudited = board.new_version(audited=False)
    with pytest.raises(ReviewError, match="has no audit report"):
        board.review(unaudited)
    version = board.new_version()
    with pytest.raises(ReviewError, match="no gate named 'auc'"):
        board.review(version, waive=("auc",))
    with pytest.raises(ReviewError, match="not the key of any member of the board's roster"):
        board.review(version, signing_key=board.other_key)
    assert board.log.entries() == []
    assert DECISION_TAG not in board.registry.version(NAME, version).tags


def test_review_list_shows_decisions_and_signature_state(board: Board) -> None:
    approved = board.new_version()
    board.review(approved)
    waiting = board.new_version()
    rows = {r["version"]: r for r in review_status(board.registry, NAME, board.public)}
    assert rows[approved]["decision"] == "approve"
    assert rows[approved]["signature"] == "valid"
    assert rows[approved]["awaiting_review"] is False
    assert rows[waiting]["awaiting_review"] is True
    board.registry.set_tags(NAME, approved, {SIGNATURE_TAG: rows[approved]["report_sha256"][:4]})
    rows = {r["version"]: r for r in review_status(board.registry, NAME, board.public)}
    assert rows[approved]["signature"] == "INVALID"


# -- the decision binds the model's files ------------------------------------------------------


def test_the_signed_decision_names_every_model_file(board: Board) -> None:
    version = board.new_version()
    signed = board.review(version)
    expected = {p: hashlib.sha256(c).hexdigest() for p, c in MODEL_FILES.items()}
    assert signed.model_artifacts == dict(sorted(expected.items()))
    assert signed.model_artifacts_sha256 == artifacts_digest(expected)
    assert b"calibrated_model.pkl" in signed.payload()
    entry = board.log.entries()[-1]["details"]
    assert entry["model_artifacts_sha256"] == signed.model_artifacts_sha256


@pytest.mark.parametrize(
    ("attack", "named"),
    [
        ("flip", "changed: artifacts/calibrated_model.pkl"),
        ("add", "added: artifacts/extra.pkl"),
        ("remove", "missing: python_model.pkl"),
    ],
)
def test_a_model_file_changed_after_the_review_is_refused(
    board: Board, attack: str, named: str
) -> None:
    version = board.new_version()
    board.review(version)
    root = _model_dir(board, version)
    if attack == "flip":
        path = root / "artifacts" / "calibrated_model.pkl"
        path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))
    elif attack == "add":
        (root / "artifacts" / "extra.pkl").write_bytes(b"not approved")
    else:
        (root / "python_model.pkl").unlink()
    _refused(board, version, named)


def test_a_file_changed_after_promotion_stops_the_release_check(board: Board) -> None:
    version = board.new_version()
    board.review(version)
    board.promote(version)
    (_model_dir(board, version) / "MLmodel").write_bytes(b"flavors: {other: {}}\n")
    with pytest.raises(ApprovalError, match="moved by hand") as caught:
        verify_serving_version(board.registry, NAME, board.public)
    assert any("changed: MLmodel" in p for p in caught.value.problems), caught.value.problems


def test_a_decision_that_binds_no_model_cannot_promote(board: Board) -> None:
    """A decision signed before decisions named the files: genuine, but it binds nothing."""
    version = board.new_version()
    _sign_by_hand(board, version, bind_files=False)
    with pytest.raises(ApprovalError) as caught:
        board.promote(version)
    assert (
        "the board's decision does not name the model's files (it was signed before decisions "
        "bound the model): a decision that does not bind the model cannot promote; the board "
        f"must review {NAME} version {version} again (`vru review`)"
    ) in caught.value.problems


def test_stripping_the_files_from_a_signed_decision_breaks_its_signature(board: Board) -> None:
    version = board.new_version()
    signed = board.review(version)
    stripped = replace(signed, model_artifacts={}, model_artifacts_sha256="")
    board.registry.set_tags(NAME, version, {DECISION_TAG: json.dumps(asdict(stripped))})
    _refused(board, version, "signature does not verify")


def test_a_decision_made_for_another_report_is_refused(board: Board) -> None:
    version = board.new_version()
    board.review(version)
    other = board.new_version()
    signed_other = board.review(other)
    # the second version's report re-tagged onto the first: the decision no longer matches
    board.registry.set_tags(NAME, version, {REPORT_TAG: signed_other.report_sha256})
    _refused(board, version, "changed after the audit")


def test_promotion_without_a_board_key_is_refused(board: Board) -> None:
    version = board.new_version()
    board.review(version)
    with pytest.raises(ApprovalError) as caught:
        promote(board.registry, board.log, board.registry.version(NAME, version), None, actor="t")
    assert any("no board is configured" in p for p in caught.value.problems)
    assert board.registry.alias_version(NAME, CHAMPION) is None


def test_review_refuses_a_version_without_model_files(board: Board) -> None:
    version = board.new_version()
    for name in MODEL_FILES:
        (_model_dir(board, version) / name).unlink()
    with pytest.raises(ReviewError, match="has no logged model files to approve"):
        board.review(version)


# -- production needs a completed model card ---------------------------------------------------

PLACEHOLDER_CARD = [
    ("Data protection impact assessment (DPIA)", "Status: to be completed by the organisation"),
    ("Equality impact assessment", "Status: completed\nReference: EIA-12"),
    ("Other assessments", "TO BE COMPLETED BY THE ORGANISATION: consultation reports."),
]


def log_card(board: Board, version: str, items: list[tuple[str, str]]) -> None:
    """The version's audit document, holding a model card with these impact items."""
    card = {
        "title": "vru-risk",
        "sections": [
            {"heading": "Purpose", "items": [{"label": "Summary", "value": "TO BE COMPLETED"}]},
            {
                "heading": "Impact assessment",
                "items": [{"label": label, "value": value} for label, value in items],
            },
        ],
    }
    info = board.registry.version(NAME, version)
    board.registry.log_artifacts(info, {"audit.json": json.dumps({"model_card": card}).encode()})


@pytest.mark.parametrize("environment", ["production", "demo"])
def test_production_refuses_a_card_whose_impact_assessments_are_placeholders(
    board: Board, environment: str
) -> None:
    version = board.new_version()
    log_card(board, version, PLACEHOLDER_CARD)
    board.review(version)
    info = board.registry.version(NAME, version)
    if environment == "demo":
        promote(board.registry, board.log, info, board.public, actor="t", environment="demo")
        assert board.registry.alias_version(NAME, CHAMPION) == version
        return
    with pytest.raises(ApprovalError) as caught:
        promote(board.registry, board.log, info, board.public, actor="t", environment="production")
    assert caught.value.problems == [
        "environment: production needs a completed model card, but its impact assessment "
        "still reads as a placeholder in: Data protection impact assessment (DPIA), Other "
        "assessments; complete them in configs/model_card.yaml and audit the version again"
    ]
    assert board.registry.alias_version(NAME, CHAMPION) is None


def test_production_promotes_a_completed_card_and_refuses_a_missing_one(board: Board) -> None:
    done = board.new_version()
    log_card(board, done, [("Data protection impact assessment (DPIA)", "Status: completed")])
    board.review(done)
    promote(
        board.registry,
        board.log,
        board.registry.version(NAME, done),
        board.public,
        actor="t",
        environment="production",
    )
    assert board.registry.alias_version(NAME, CHAMPION) == done
    bare = board.new_version()
    board.review(bare)
    with pytest.raises(ApprovalError, match="the version's audit holds no model card"):
        promote(
            board.registry,
            board.log,
            board.registry.version(NAME, bare),
            board.public,
            actor="t",
            environment="production",
        )


def _sign_by_hand(board: Board, version: str, *, bind_files: bool = True) -> None:
    """A genuine board signature bypassing `vru review`: on the files the store holds now, or
    (``bind_files`` false) on none, as decisions were signed before they named the model."""
    info = board.registry.version(NAME, version)
    files = board.registry.model_files(info) if bind_files else {}
    decision = Decision(
        model=NAME,
        version=version,
        report_sha256=info.tags[REPORT_TAG],
        decision="approve",
        reviewer="board",
        reasons="Signed outside the review command.",
        decided_at="2025-01-01T00:00:00+00:00",
        model_artifacts=files,
        model_artifacts_sha256=artifacts_digest(files) if files else "",
        member="board",
        valid_until="2999-01-01",
    )
    signature = sign_decision(decision, load_private_key(board.key))
    board.registry.set_tags(
        NAME, version, {DECISION_TAG: json.dumps(asdict(decision)), SIGNATURE_TAG: signature}
    )


def test_a_model_changed_between_the_audit_and_the_review_is_neither_reviewed_nor_promoted(
    board: Board,
) -> None:
    """The audit names the files it scored; the board may only approve those very files."""
    version = board.new_version()
    path = _model_dir(board, version) / "artifacts" / "calibrated_model.pkl"
    path.write_bytes(b"tripled odds")  # after the audit, before the board decides
    with pytest.raises(ReviewError, match="are not the ones the audit scored"):
        board.review(version)
    _sign_by_hand(board, version)  # a signature on the changed files: still not audited
    _refused(board, version, "the model was changed after the audit")


def test_a_report_that_does_not_name_the_audited_files_is_refused(board: Board) -> None:
    version = board.new_version()
    info = board.registry.version(NAME, version)
    html = embed_verdict(
        "<html><body>old</body></html>", {"model": NAME, "version": version, "gates": []}
    )
    board.registry.log_artifacts(info, {"report.html": html.encode()})
    board.registry.set_tags(NAME, version, {REPORT_TAG: hashlib.sha256(html.encode()).hexdigest()})
    with pytest.raises(ReviewError, match="does not name the model files it audited"):
        board.review(version)
    _sign_by_hand(board, version)
    _refused(board, version, "does not name the model files it audited")
