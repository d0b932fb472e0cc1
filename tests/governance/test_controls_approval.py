"""The board's approval judged on records built in code, each condition attacked in turn.

:func:`governance.board.approval.judge_approval` decides from what the registry held about a
version (:class:`VersionRecord`: its tags, its report's bytes, its model files' hashes, the
revocation files naming it), so every attack an operator with write access to one store
could make is a change to that record: a report rewritten or its tag moved, a verdict about
another version, a decision copied from another version, member or report, a forged or
outsider's signature, a model file swapped after the review, a gate failed and not waived,
a revocation, a lapsed review date, a quorum short by one. Each test starts from a record
that is approved, makes one change, and asserts the refusal and the words that name it. The
same checks against a real MLflow registry are in ``test_approval.py`` and
``test_board_roster.py``; these run in milliseconds, so mutation testing can use them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import (
    AUDIT_JSON_ARTIFACT,
    REPORT_TAG,
    Approval,
    ApprovalError,
    VersionRecord,
    as_roster,
    card_problems_in,
    decision_tags,
    judge_approval,
    read_decision,
    read_decisions,
    revocation_tags,
    revocations_in,
)
from governance.board.registry import ModelVersionInfo
from governance.board.verdict import embed_verdict
from governance.contracts.revocation import Revocation, SignedRevocation, sign_revocation
from governance.contracts.roster import BoardMember, BoardSettings
from governance.contracts.signing import Decision, artifacts_digest, sign_decision

NAME, VERSION = "vru-risk", "3"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEYS = {m: Ed25519PrivateKey.generate() for m in ("alice", "bob", "carol", "mallory")}
FILES = {
    "MLmodel": hashlib.sha256(b"flavors").hexdigest(),
    "artifacts/calibrated_model.pkl": hashlib.sha256(b"model").hexdigest(),
}
FAILED_GATE = "equalized_odds_difference"


def _public(member: str) -> str:
    raw = (
        KEYS[member]
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def _roster(quorum: int = 2) -> BoardSettings:
    members = tuple(
        BoardMember(id=m, name=m.title(), public_key_b64=_public(m))
        for m in ("alice", "bob", "carol")
    )
    return BoardSettings(members=members, quorum=quorum)


def _report(*, gate_passes: bool = False, **verdict: Any) -> bytes:
    fields: dict[str, Any] = {
        "model": NAME,
        "version": VERSION,
        "gates": [
            {"name": "minimum test ROC AUC", "figure": "test_roc_auc", "passed": True},
            {"name": "maximum equalized odds", "figure": FAILED_GATE, "passed": gate_passes},
        ],
        "model_artifacts_sha256": artifacts_digest(FILES),
    }
    fields.update(verdict)
    return embed_verdict("<html><body><h1>report</h1></body></html>", fields).encode()


REPORT = _report()
REPORT_SHA = hashlib.sha256(REPORT).hexdigest()


def _decision(member: str, decision: str = "approve", **changes: Any) -> Decision:
    fields: dict[str, Any] = {
        "model": NAME,
        "version": VERSION,
        "report_sha256": REPORT_SHA,
        "decision": decision,
        "reviewer": member.title(),
        "reasons": "Gaps within limits; the failed gate is understood.",
        "decided_at": "2026-02-01T09:00:00+00:00",
        "waived_gates": (FAILED_GATE,),
        "model_artifacts": dict(FILES),
        "model_artifacts_sha256": artifacts_digest(FILES),
        "member": member,
        "valid_until": "2026-12-31",
    }
    return Decision(**{**fields, **changes})


def _tags(*decisions: Decision, key: str | None = None) -> dict[str, str]:
    """The version's tags: its report hash and each decision signed by its member (or ``key``)."""
    tags = {REPORT_TAG: REPORT_SHA}
    for d in decisions:
        tag, signature_tag = decision_tags(d.member)
        tags[tag] = json.dumps(asdict(d), sort_keys=True)
        tags[signature_tag] = sign_decision(d, KEYS[key or d.member])
    return tags


def _record(tags: dict[str, str] | None = None, **changes: Any) -> VersionRecord:
    info = ModelVersionInfo(
        name=changes.pop("name", NAME),
        version=changes.pop("version", VERSION),
        run_id="r1",
        aliases=(),
        tags=_tags(_decision("alice"), _decision("bob")) if tags is None else tags,
        metrics={},
        params={},
        run_tags={},
    )
    fields: dict[str, Any] = {"report": REPORT, "model_files": dict(FILES)}
    return VersionRecord(info, **{**fields, **changes})


def _judge(record: VersionRecord, quorum: int = 2, now: datetime = NOW) -> list[str]:
    problems, approval = judge_approval(record, _roster(quorum), now)
    assert (approval is None) == bool(problems), "an approval comes with no problem, and only so"
    return problems


def _only(record: VersionRecord, *words: str, quorum: int = 2) -> str:
    """The refusal's text, asserting it names each of ``words``."""
    problems = _judge(record, quorum)
    assert problems, "the attacked record was approved"
    text = "\n".join(problems)
    for word in words:
        assert word in text, f"{word!r} not in {problems}"
    return text


def _revocation(member: str, revoked_at: str = "2026-02-10T09:00:00+00:00") -> SignedRevocation:
    made = Revocation(NAME, VERSION, REPORT_SHA, member, "New evidence of harm.", revoked_at)
    return SignedRevocation(made, sign_revocation(made, KEYS[member]))


# -- the approved record, and what the approval carries ----------------------------------------


def test_the_untouched_record_is_approved_with_what_it_was_approved_on() -> None:
    late = _decision("bob", valid_until="2027-06-30", waived_gates=(FAILED_GATE, "ece"))
    problems, approval = judge_approval(_record(_tags(_decision("alice"), late)), _roster(), NOW)
    assert problems == []
    assert isinstance(approval, Approval)
    assert (approval.info.name, approval.info.version) == (NAME, VERSION)
    assert approval.report_sha256 == REPORT_SHA
    assert sorted(approval.reviewers) == ["Alice", "Bob"]
    assert approval.valid_until == "2026-12-31", "the earliest review date governs"
    assert approval.waived_gates == ["ece", FAILED_GATE]
    assert approval.files == FILES
    assert approval.decision in (s.decision for s in approval.decisions)


def test_no_roster_refuses_everything() -> None:
    problems, approval = judge_approval(_record(), None, NOW)
    assert approval is None
    assert any("no board is configured" in p for p in problems)


def test_a_bare_key_is_a_roster_of_one_and_an_empty_one_is_none() -> None:
    assert as_roster("") is None
    assert as_roster(None) is None
    roster = _roster()
    assert as_roster(roster) is roster
    single = as_roster(_public("alice"))
    assert single is not None
    assert [m.public_key_b64 for m in single.members] == [_public("alice")]
    assert single.quorum == 1


def test_tags_are_named_per_member() -> None:
    assert decision_tags("alice") == ("board_decision/alice", "board_signature/alice")
    assert revocation_tags("bob") == ("board_revocation/bob", "board_revocation_signature/bob")


# -- the report -----------------------------------------------------------------------------


def test_a_version_never_audited_is_refused() -> None:
    tags = _tags(_decision("alice"), _decision("bob"))
    del tags[REPORT_TAG]
    _only(_record(tags), "not audited", f"vru audit --model {NAME} --version {VERSION}")


def test_a_report_that_cannot_be_read_is_refused() -> None:
    _only(
        _record(report=None, report_error="no artifact report.html"),
        "report is missing",
        "no artifact report.html",
    )


def test_a_rewritten_report_is_refused_by_its_hash() -> None:
    forged = REPORT.replace(b"<h1>report</h1>", b"<h1>all gates pass</h1>")
    actual = hashlib.sha256(forged).hexdigest()
    _only(_record(report=forged), f"hashes to {actual}", f"not to the tagged {REPORT_SHA}")


def test_a_report_without_a_readable_verdict_is_refused() -> None:
    bare = b"<html><body>no verdict</body></html>"
    tags = _tags(
        _decision("alice", report_sha256=hashlib.sha256(bare).hexdigest()),
        _decision("bob", report_sha256=hashlib.sha256(bare).hexdigest()),
    )
    tags[REPORT_TAG] = hashlib.sha256(bare).hexdigest()
    _only(_record(tags, report=bare), "verdict cannot be read")


def _rereported(report: bytes, **decision: Any) -> VersionRecord:
    sha = hashlib.sha256(report).hexdigest()
    tags = _tags(
        _decision("alice", report_sha256=sha, **decision),
        _decision("bob", report_sha256=sha, **decision),
    )
    tags[REPORT_TAG] = sha
    return _record(tags, report=report)


@pytest.mark.parametrize(("field", "value"), [("model", "other-model"), ("version", "2")])
def test_a_report_about_another_version_is_refused(field: str, value: str) -> None:
    text = _only(_rereported(_report(**{field: value})), f"not {NAME} version {VERSION}")
    assert value in text


def test_a_verdict_naming_the_version_as_a_number_is_still_this_version() -> None:
    assert _judge(_rereported(_report(version=3))) == []


# -- decisions as recorded ------------------------------------------------------------------


def test_no_decision_is_refused_and_says_how_to_review() -> None:
    _only(
        _record({REPORT_TAG: REPORT_SHA}),
        "no board decision",
        f"vru review --model {NAME} --version {VERSION}",
    )


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"model": "vru-risk"}'])
def test_a_malformed_decision_tag_is_named_and_does_not_count(text: str) -> None:
    tags = _tags(_decision("alice"), _decision("bob"))
    tags["board_decision/bob"] = text
    found, problems = read_decisions(tags)
    assert [s.decision.member for s in found] == ["alice"]
    assert problems and "board_decision/bob" in problems[0] and "malformed" in problems[0]
    refusal = _only(_record(tags), "board_decision/bob", "malformed")
    assert "no board decision" not in refusal


def test_a_decision_moved_to_another_members_tag_does_not_count() -> None:
    tags = _tags(_decision("alice"))
    tags["board_decision/bob"] = tags["board_decision/alice"]
    tags["board_signature/bob"] = tags["board_signature/alice"]
    found, problems = read_decisions(tags)
    assert [s.decision.member for s in found] == ["alice"]
    assert "names member 'alice'" in problems[0]
    _only(_record(tags), "board_decision/bob", "moved from another member")


def test_an_unsigned_decision_does_not_count() -> None:
    tags = _tags(_decision("alice"), _decision("bob"))
    del tags["board_signature/bob"]
    _only(_record(tags), "bob's decision is not signed", "board_signature/bob")


def test_a_decision_whose_tags_only_resemble_a_decision_is_ignored() -> None:
    tags = _tags(_decision("alice"), _decision("bob"))
    tags["board_decisions"] = "not a decision tag"
    assert _judge(_record(tags)) == []


def test_the_newest_decision_is_the_summary_one() -> None:
    newer = _decision("bob", "reject", decided_at="2026-02-02T09:00:00+00:00")
    decision, signature, problem = read_decision(_tags(_decision("alice"), newer))
    assert decision == newer
    assert signature == _tags(newer)["board_signature/bob"]
    assert problem is None
    tags = {"board_decision/bob": "{"}
    assert read_decision(tags)[:2] == (None, None)
    assert "malformed" in str(read_decision(tags)[2])
    assert read_decision({}) == (None, None, None)


# -- signatures -----------------------------------------------------------------------------


def test_a_decision_signed_with_another_members_key_does_not_count() -> None:
    tags = _tags(_decision("alice"))
    tags.update(_tags(_decision("bob"), key="alice"))
    tags[REPORT_TAG] = REPORT_SHA
    _only(_record(tags), "Bob")


def test_an_outsiders_signature_does_not_count() -> None:
    tags = _tags(_decision("alice"), _decision("bob"))
    tags.update(_tags(_decision("bob"), key="mallory"))
    _only(_record(tags), "Bob")


def test_an_edited_signed_decision_does_not_count() -> None:
    tags = _tags(_decision("alice"), _decision("bob"))
    edited = json.loads(tags["board_decision/bob"])
    edited["valid_until"] = "2036-01-01"
    tags["board_decision/bob"] = json.dumps(edited)
    _only(_record(tags), "Bob")


# -- decisions about something else ---------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("model", "other-model"), ("version", "2")])
def test_a_decision_copied_from_another_version_is_refused(field: str, value: str) -> None:
    tags = _tags(_decision("alice"), _decision("bob", **{field: value}))
    text = _only(_record(tags), "copied from another version", f"not {NAME} version {VERSION}")
    assert value in text


def test_a_decision_on_an_older_report_is_refused() -> None:
    older = "cd" * 32
    tags = _tags(_decision("alice"), _decision("bob", report_sha256=older))
    _only(
        _record(tags),
        f"Bob's decision was made on report {older}",
        f"the version's report is now {REPORT_SHA}",
    )


def test_an_old_rejection_on_another_report_is_no_veto() -> None:
    older = "cd" * 32
    tags = _tags(
        _decision("alice"), _decision("bob"), _decision("carol", "reject", report_sha256=older)
    )
    assert _judge(_record(tags)) == []


# -- the model's files ----------------------------------------------------------------------


def test_a_model_file_swapped_after_the_review_is_refused() -> None:
    swapped = {**FILES, "artifacts/calibrated_model.pkl": hashlib.sha256(b"x3").hexdigest()}
    _only(
        _record(model_files=swapped),
        "not the one the board approved",
        "artifacts/calibrated_model.pkl",
    )


@pytest.mark.parametrize("change", ["added", "missing"])
def test_a_model_file_added_or_removed_is_refused(change: str) -> None:
    files = dict(FILES)
    if change == "added":
        files["artifacts/extra.pkl"] = "00" * 32
    else:
        del files["MLmodel"]
    _only(_record(model_files=files), "not the one the board approved")


def test_a_model_that_cannot_be_read_is_refused_once() -> None:
    text = _only(
        _record(model_files=None, model_files_error="store offline"),
        "the logged model cannot be read: store offline",
    )
    assert text.count("store offline") == 1


def test_a_decision_that_names_no_files_binds_no_model() -> None:
    tags = _tags(
        _decision("alice"), _decision("bob", model_artifacts={}, model_artifacts_sha256="")
    )
    _only(_record(tags), "does not name the model's files", f"{NAME} version {VERSION}")


def test_an_approval_of_files_the_audit_did_not_score_is_refused() -> None:
    """The model changed between audit and review: both decisions name the new files."""
    new = {**FILES, "MLmodel": "11" * 32}
    tags = _tags(
        _decision("alice", model_artifacts=new, model_artifacts_sha256=artifacts_digest(new)),
        _decision("bob", model_artifacts=new, model_artifacts_sha256=artifacts_digest(new)),
    )
    _only(_record(tags, model_files=new), "not the ones the audit scored")


def test_a_report_that_names_no_audited_files_is_refused() -> None:
    _only(_rereported(_report(model_artifacts_sha256="")), "does not name the model files")


def test_rejections_need_no_files() -> None:
    """A rejection vetoes whatever the store holds; reading the files is not needed for it."""
    tags = _tags(_decision("alice"), _decision("bob"), _decision("carol", "reject"))
    text = _only(_record(tags, model_files=None, model_files_error="offline"), "Carol rejected")
    assert "cannot be read: offline" in text


# -- gates, quorum, veto, lapse, revocation --------------------------------------------------


def test_a_failed_gate_not_waived_is_refused_naming_it_and_the_member() -> None:
    tags = _tags(_decision("alice"), _decision("bob", waived_gates=()))
    _only(_record(tags), f"not waived by the board: {FAILED_GATE}", "Bob's decision")


def test_a_passed_gate_needs_no_waiver() -> None:
    report = _report(gate_passes=True)
    assert _judge(_rereported(report, waived_gates=())) == []


def test_one_approval_is_short_of_a_quorum_of_two() -> None:
    tags = _tags(_decision("alice"))
    _only(_record(tags), "2 of 3 board members must approve, have 1: alice")
    assert _judge(_record(tags), quorum=1) == []


def test_notes_on_decisions_that_do_not_count_accompany_a_short_quorum() -> None:
    tags = _tags(_decision("alice"), _decision("bob", waived_gates=()))
    text = _only(_record(tags), "must approve, have 1", "not waived")
    assert _judge(_record(tags), quorum=1) == [], "the note alone refuses nothing"
    assert "not waived" in text


def test_one_rejection_vetoes_a_quorum() -> None:
    tags = _tags(_decision("alice"), _decision("bob"), _decision("carol", "reject"))
    _only(_record(tags), "Carol rejected this version", "veto")


def test_a_lapsed_approval_is_refused() -> None:
    record = _record()
    assert _judge(record, now=datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == []
    problems = _judge(record, now=datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert any("lapsed on 2026-12-31" in p for p in problems)


def test_a_revocation_file_withdraws_the_approval() -> None:
    _only(_record(revocation_files=(_revocation("carol"),)), "revoked by Carol")


def test_a_revocation_in_the_tags_withdraws_the_approval() -> None:
    signed = _revocation("carol")
    tags = _tags(_decision("alice"), _decision("bob"))
    tag, signature_tag = revocation_tags("carol")
    tags[tag] = json.dumps(asdict(signed.revocation), sort_keys=True)
    tags[signature_tag] = signed.signature
    _only(_record(tags), "revoked by Carol")


def test_a_revocation_of_another_version_withdraws_nothing() -> None:
    other = Revocation(
        NAME, "2", REPORT_SHA, "carol", "Other version.", "2026-02-10T09:00:00+00:00"
    )
    signed = SignedRevocation(other, sign_revocation(other, KEYS["carol"]))
    assert _judge(_record(revocation_files=(signed,))) == []
    tags = _tags(_decision("alice"), _decision("bob"))
    tag, signature_tag = revocation_tags("carol")
    tags[tag] = json.dumps(asdict(other), sort_keys=True)
    tags[signature_tag] = signed.signature
    assert _judge(_record(tags)) == []


def test_forged_or_malformed_revocations_withdraw_nothing() -> None:
    made = _revocation("carol").revocation
    forged = SignedRevocation(made, sign_revocation(made, KEYS["mallory"]))
    tags = _tags(_decision("alice"), _decision("bob"))
    tags["board_revocation/carol"] = "{not json"
    assert _judge(_record(tags, revocation_files=(forged,))) == []
    unsigned = _tags(_decision("alice"), _decision("bob"))
    unsigned["board_revocation/carol"] = json.dumps(asdict(made), sort_keys=True)
    assert _judge(_record(unsigned)) == []


def test_decisions_made_after_a_revocation_approve_again() -> None:
    later = "2026-02-20T09:00:00+00:00"
    tags = _tags(_decision("alice", decided_at=later), _decision("bob", decided_at=later))
    assert _judge(_record(tags, revocation_files=(_revocation("carol"),))) == []


def test_the_approval_is_judged_on_the_record_not_a_copy_of_another() -> None:
    """A record of version 2 carrying version 3's tags approves nothing."""
    record = _record(version="2")
    _only(record, "copied from another version", "report is about")
    assert replace(record, info=replace(record.info, version=VERSION)) == _record()


# -- the model card (production) ------------------------------------------------------------


def _audit(*values: str) -> dict[str, Any]:
    items = [{"label": f"field {i}", "value": v} for i, v in enumerate(values)]
    return {"model_card": {"sections": [{"heading": "Impact assessment", "items": items}]}}


def test_a_written_model_card_passes() -> None:
    assert card_problems_in(_audit("DPIA signed 2026-01-05", "EIA published")) == []


@pytest.mark.parametrize("marker", ["TO BE COMPLETED", "to be confirmed by the DPO"])
def test_a_placeholder_in_the_impact_assessment_is_named(marker: str) -> None:
    problems = card_problems_in(_audit("DPIA signed", marker))
    assert len(problems) == 1
    assert "field 1" in problems[0] and "field 0" not in problems[0]


@pytest.mark.parametrize(
    "audit",
    [
        None,
        [],
        {"model_card": "text"},
        {"model_card": {"sections": "x"}},
        {"model_card": {"sections": [{"heading": "Intended use", "items": []}]}},
    ],
)
def test_an_audit_without_an_impact_assessment_is_refused(audit: Any) -> None:
    problems = card_problems_in(audit)
    assert len(problems) == 1 and AUDIT_JSON_ARTIFACT in problems[0]


# -- the exact words of each refusal (a data scientist acts on them) ---------------------------


def test_the_refusals_read_in_full() -> None:
    assert _judge(_record({REPORT_TAG: REPORT_SHA})) == [
        "no board decision: the board has not reviewed this version "
        f"(`vru review --model {NAME} --version {VERSION} ...`)"
    ]
    forged = REPORT + b" "
    assert _judge(_record(report=forged))[0] == (
        f"the logged report hashes to {hashlib.sha256(forged).hexdigest()}, not to the tagged "
        f"{REPORT_SHA}: the report or its tag was changed after the audit"
    )
    tags = _tags(_decision("alice"))
    tags["board_decision/bob"] = tags["board_decision/alice"]
    assert read_decisions(tags)[1] == [
        "the decision in tag board_decision/bob names member 'alice': a decision moved from "
        "another member's tag does not count"
    ]
    assert read_decisions({"board_decision/bob": "[1, 2]"})[1] == [
        "the recorded decision (tag board_decision/bob) is malformed: expected a JSON object, "
        "got list"
    ]


def test_every_changed_file_and_every_unwaived_gate_is_listed() -> None:
    two = {
        "MLmodel": "11" * 32,
        "artifacts/calibrated_model.pkl": "22" * 32,
    }
    text = _only(_record(model_files=two), "not the one the board approved")
    assert "MLmodel" in text and "calibrated_model.pkl" in text
    listed = text.split("approved (", 1)[1].split("): restore", 1)[0]
    assert listed.count("; ") == 1 and "XX" not in listed
    report = _report(
        gates=[
            {"name": "a", "figure": "gap_a", "passed": False},
            {"name": "b", "figure": "gap_b", "passed": False},
        ]
    )
    problems = _judge(_rereported(report, waived_gates=()))
    assert "not waived by the board: gap_a, gap_b (in Alice's decision)" in "\n".join(problems)


def test_a_model_that_cannot_be_read_is_one_line_naming_why() -> None:
    problems = _judge(_record(model_files=None, model_files_error="store offline"))
    assert problems.count("the logged model cannot be read: store offline") == 1
    assert [p for p in problems if "cannot be read" in p] == [
        "the logged model cannot be read: store offline"
    ]


def test_a_malformed_tag_does_not_hide_the_decisions_after_it() -> None:
    """Tags are read in order; a broken first one must not end the reading."""
    tags = _tags(_decision("bob"), _decision("carol"))
    tags["board_decision/alice"] = "{"
    found, problems = read_decisions(tags)
    assert [s.decision.member for s in found] == ["bob", "carol"]
    assert len(problems) == 1


def test_a_decision_recorded_without_waivers_counts_when_no_gate_failed() -> None:
    report = _report(gate_passes=True)
    sha = hashlib.sha256(report).hexdigest()
    tags = _tags(
        _decision("alice", report_sha256=sha, waived_gates=()),
        _decision("bob", report_sha256=sha, waived_gates=()),
    )
    for member in ("alice", "bob"):
        fields = json.loads(tags[f"board_decision/{member}"])
        del fields["waived_gates"]
        tags[f"board_decision/{member}"] = json.dumps(fields)
    tags[REPORT_TAG] = sha
    assert read_decisions(tags)[1] == []
    assert _judge(_record(tags, report=report)) == []


def test_revocations_are_read_past_a_malformed_one_and_the_ignored_named() -> None:
    signed = _revocation("carol")
    tags = _tags(_decision("alice"), _decision("bob"))
    tags["board_revocation/alice"] = "{"
    tag, signature_tag = revocation_tags("carol")
    tags[tag] = json.dumps(asdict(signed.revocation), sort_keys=True)
    tags[signature_tag] = signed.signature
    tags["board_revocation/bob"] = json.dumps(asdict(_revocation("bob").revocation))
    record = _record(tags)
    revoked, ignored = revocations_in(record.info, (), _roster())
    assert [member for _, member, _ in revoked] == ["carol"]
    assert len(ignored) == 2
    assert "board_revocation/alice is malformed" in ignored[0]
    assert ignored[1] == (
        "the revocation in tag board_revocation/bob is not signed "
        "(no tag board_revocation_signature/bob); ignored"
    )
    _only(record, "revoked by Carol")


def test_an_approval_error_lists_every_problem() -> None:
    err = ApprovalError("refused: v3 cannot become champion:", ["not audited", "no decision"])
    assert err.problems == ["not audited", "no decision"]
    assert str(err) == "refused: v3 cannot become champion:\n  - not audited\n  - no decision"
    assert isinstance(err, PermissionError)


def test_placeholders_are_listed_by_label_and_empty_items_are_unwritten() -> None:
    audit = _audit("TO BE COMPLETED", "written", "To be confirmed")
    assert "field 0, field 2" in card_problems_in(audit)[0]
    audit["model_card"]["sections"][0]["items"].append({"label": "field 3"})
    assert "field 0, field 2, field 3" in card_problems_in(audit)[0]
    empty = {"model_card": {"sections": [{"heading": "Impact assessment", "items": []}]}}
    assert AUDIT_JSON_ARTIFACT in card_problems_in(empty)[0]
    no_items = {"model_card": {"sections": [{"heading": "Impact assessment"}]}}
    assert AUDIT_JSON_ARTIFACT in card_problems_in(no_items)[0]
