"""Promotion's approval check attacked directly (found by mutation testing, `make mutation`).

The registry is a stand-in holding what MLflow would (tags, the report, the model's file
hashes, the aliases), so each attack on :mod:`governance.board.approval` runs in
milliseconds: a report or its tag changed, a report about another version, a decision moved
into another member's tag or left unsigned, a decision replayed from another version or
report, a failed gate not waived, a model file changed, a revocation in the tags, an alias
moved by hand, a placeholder impact assessment in production. Each refusal is asserted with
its message, and a refused promotion moves no alias and logs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.board.approval import (
    AUDIT_JSON_ARTIFACT,
    REPORT_ARTIFACT,
    REPORT_TAG,
    ApprovalError,
    approval_problems,
    as_roster,
    card_problems,
    decision_tags,
    promote,
    read_decision,
    read_decisions,
    revocation_tags,
    revocations_of,
    verify_serving_version,
)
from governance.board.audit_log import AuditLog
from governance.board.registry import CHAMPION, ModelVersionInfo, RegistryError
from governance.board.verdict import embed_verdict
from governance.contracts.revocation import Revocation, sign_revocation
from governance.contracts.roster import BoardMember, BoardSettings
from governance.contracts.signing import Decision, artifacts_digest, sign_decision

NAME = "vru-risk"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FILES = {"MLmodel": "02" * 32, "model.pkl": "01" * 32}
KEYS = {m: Ed25519PrivateKey.generate() for m in ("alice", "bob", "carol")}


def _public(member: str) -> str:
    raw = (
        KEYS[member]
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


ROSTER = BoardSettings(
    members=tuple(
        BoardMember(id=m, name=m.title(), public_key_b64=_public(m)) for m in ("alice", "bob")
    ),
    quorum=2,
)


@dataclass
class Store:
    """What the registry holds for version 3: tags, artifacts, model files, aliases."""

    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, str] | None = field(default_factory=lambda: dict(FILES))
    aliases: dict[str, str] = field(default_factory=dict)
    unreadable: bool = False

    def version(self, name: str, version: str) -> ModelVersionInfo:
        return ModelVersionInfo(name, version, "run", (), dict(self.tags), {}, {}, {})

    def read_artifact(self, info: ModelVersionInfo, path: str) -> bytes:
        if path not in self.artifacts:
            raise RegistryError(f"no artifact {path}")
        return self.artifacts[path]

    def read_json_artifact(self, info: ModelVersionInfo, path: str) -> Any:
        return json.loads(self.read_artifact(info, path))

    def model_files(self, info: ModelVersionInfo) -> dict[str, str]:
        if self.files is None:
            raise RegistryError("the store is down")
        return dict(self.files)

    def alias_version(self, name: str, alias: str) -> str | None:
        return self.aliases.get(alias)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[alias] = version


def _audit(store: Store, *, failed: str | None = None, **verdict: Any) -> str:
    gates = [{"figure": "test_roc_auc", "passed": True}]
    if failed:
        gates.append({"figure": failed, "passed": False})
    body = {
        "model": NAME,
        "version": "3",
        "gates": gates,
        "model_artifacts_sha256": artifacts_digest(FILES),
        **verdict,
    }
    html = embed_verdict("<html><body>report</body></html>", body).encode()
    store.artifacts[REPORT_ARTIFACT] = html
    store.tags[REPORT_TAG] = hashlib.sha256(html).hexdigest()
    return store.tags[REPORT_TAG]


def _decide(store: Store, member: str, decision: str = "approve", **changes: Any) -> Decision:
    fields: dict[str, Any] = {
        "model": NAME,
        "version": "3",
        "report_sha256": store.tags[REPORT_TAG],
        "decision": decision,
        "reviewer": member.title(),
        "reasons": "Gaps within limits.",
        "decided_at": "2026-02-01T09:00:00+00:00",
        "model_artifacts": FILES,
        "model_artifacts_sha256": artifacts_digest(FILES),
        "member": member,
        "valid_until": "2026-12-31",
    }
    key = KEYS[changes.pop("key", member)]
    made = Decision(**{**fields, **changes})
    tag, signature_tag = decision_tags(changes.get("member", member))
    store.tags[tag] = json.dumps(asdict(made))
    store.tags[signature_tag] = sign_decision(made, key)
    return made


@pytest.fixture
def store() -> Store:
    made = Store()
    _audit(made)
    return made


def _problems(store: Store, roster: BoardSettings = ROSTER, **kw: Any) -> list[str]:
    found, approval = approval_problems(store, store.version(NAME, "3"), roster, now=NOW, **kw)  # type: ignore[arg-type]
    assert approval is None or not found
    return found


def _approved(store: Store) -> None:
    _decide(store, "alice")
    _decide(store, "bob", decided_at="2026-02-02T09:00:00+00:00", valid_until="2026-06-30")


# -- approved ----------------------------------------------------------------------------------


def test_a_quorum_of_current_approvals_promotes_and_logs_who_and_what(
    store: Store, tmp_path: Path
) -> None:
    _approved(store)
    store.aliases[CHAMPION] = "2"
    log = AuditLog(tmp_path / "audit.jsonl")
    approval = promote(store, log, store.version(NAME, "3"), ROSTER, actor="ops", now=NOW)  # type: ignore[arg-type]
    assert store.aliases == {CHAMPION: "3"}
    assert approval.reviewers == ["Alice", "Bob"]
    assert approval.valid_until == "2026-06-30"
    assert approval.files == FILES
    assert approval.report_sha256 == store.tags[REPORT_TAG]
    (entry,) = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert entry["event"] == "model.promote"
    assert entry["actor"] == "ops"
    details = entry["details"]
    assert details["decided_by"] == ["Alice", "Bob"]
    assert details["members"] == ["alice", "bob"]
    assert details["decided_at"] == ["2026-02-01T09:00:00+00:00", "2026-02-02T09:00:00+00:00"]
    assert details["valid_until"] == "2026-06-30"
    assert details["model_artifacts_sha256"] == artifacts_digest(FILES)
    assert details["report_sha256"] == store.tags[REPORT_TAG]
    assert details["previous_champion"] == "2"
    assert details["waived_gates"] == []
    assert (details["model"], details["version"]) == (NAME, "3")


def test_the_serving_version_is_the_approved_champion(store: Store) -> None:
    _approved(store)
    store.aliases[CHAMPION] = "3"
    approval = verify_serving_version(store, NAME, ROSTER, now=NOW)  # type: ignore[arg-type]
    assert approval.info.version == "3"


def test_waived_gates_are_the_union_of_the_counted_decisions(store: Store) -> None:
    _audit(store, failed="equalized_odds_difference")
    waived = ("equalized_odds_difference",)
    _decide(store, "alice", waived_gates=waived)
    _decide(store, "bob", waived_gates=(*waived, "drift"))
    _, approval = approval_problems(store, store.version(NAME, "3"), ROSTER, now=NOW)  # type: ignore[arg-type]
    assert approval is not None
    assert approval.waived_gates == ["drift", "equalized_odds_difference"]


# -- refused -----------------------------------------------------------------------------------


def _refused_promotion(store: Store, tmp_path: Path, **kw: Any) -> ApprovalError:
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ApprovalError) as caught:
        promote(store, log, store.version(NAME, "3"), ROSTER, actor="ops", now=NOW, **kw)  # type: ignore[arg-type]
    assert store.aliases == {}
    assert not log.path.exists()
    return caught.value


def test_a_refusal_names_the_version_and_lists_every_problem(store: Store, tmp_path: Path) -> None:
    _decide(store, "alice")
    error = _refused_promotion(store, tmp_path)
    assert error.problems == ["2 of 2 board members must approve, have 1: alice"]
    assert str(error) == (
        "refused: vru-risk version 3 cannot become champion:\n"
        "  - 2 of 2 board members must approve, have 1: alice"
    )


def test_no_board_configured_refuses(store: Store) -> None:
    _approved(store)
    found, approval = approval_problems(store, store.version(NAME, "3"), None, now=NOW)  # type: ignore[arg-type]
    assert approval is None
    assert found[0].startswith("no board is configured (neither a roster `board` nor")


def test_a_bare_board_key_is_a_roster_of_one_and_an_empty_one_no_board() -> None:
    roster = as_roster(_public("alice"))
    assert roster is not None
    assert roster.ids == ["board"]
    assert as_roster("") is None
    assert as_roster(ROSTER) is ROSTER
    assert as_roster(None) is None


def test_an_unaudited_version_is_refused(store: Store) -> None:
    del store.tags[REPORT_TAG]
    _ = [store.tags.pop(k) for k in list(store.tags)]
    assert _problems(store) == [
        "not audited: run `vru audit --model vru-risk --version 3`",
        "no board decision: the board has not reviewed this version "
        "(`vru review --model vru-risk --version 3 ...`)",
    ]


def test_a_missing_report_is_refused(store: Store) -> None:
    _approved(store)
    del store.artifacts[REPORT_ARTIFACT]
    assert _problems(store) == [f"the audit report is missing: no artifact {REPORT_ARTIFACT}"]


def test_a_report_changed_after_the_audit_is_refused(store: Store) -> None:
    _approved(store)
    tagged = store.tags[REPORT_TAG]
    store.artifacts[REPORT_ARTIFACT] += b"<!-- edited -->"
    actual = hashlib.sha256(store.artifacts[REPORT_ARTIFACT]).hexdigest()
    assert _problems(store)[0] == (
        f"the logged report hashes to {actual}, not to the tagged {tagged}: the report or its "
        "tag was changed after the audit"
    )


def test_a_report_without_a_verdict_is_refused(store: Store) -> None:
    html = b"<html>no verdict</html>"
    store.artifacts[REPORT_ARTIFACT] = html
    store.tags[REPORT_TAG] = hashlib.sha256(html).hexdigest()
    _approved(store)
    assert _problems(store)[0].startswith("the report's verdict cannot be read: ")


@pytest.mark.parametrize("about", [{"version": "2"}, {"model": "other"}])
def test_a_report_about_another_version_is_refused(store: Store, about: dict[str, str]) -> None:
    _audit(store, **about)
    _approved(store)
    model, version = about.get("model", NAME), about.get("version", "3")
    assert _problems(store)[0] == (
        f"the report is about {model} version {version}, not vru-risk version 3"
    )


def test_a_decision_moved_into_another_members_tag_does_not_count(store: Store) -> None:
    _decide(store, "alice")
    tag, signature_tag = decision_tags("bob")
    store.tags[tag] = store.tags[decision_tags("alice")[0]]
    store.tags[signature_tag] = store.tags[decision_tags("alice")[1]]
    problems = _problems(store)
    assert problems[0] == (
        "the decision in tag board_decision/bob names member 'alice': a decision moved from "
        "another member's tag does not count"
    )
    assert problems[1] == "2 of 2 board members must approve, have 1: alice"


def test_an_unsigned_or_malformed_decision_is_named(store: Store) -> None:
    _decide(store, "alice")
    _decide(store, "bob")
    del store.tags[decision_tags("bob")[1]]
    store.tags["board_decision/carol"] = "{not json"
    problems = _problems(store)
    assert problems[0] == "bob's decision is not signed (no tag board_signature/bob)"
    assert problems[1].startswith("the recorded decision (tag board_decision/carol) is malformed")


def test_no_decision_at_all_is_refused(store: Store) -> None:
    assert _problems(store) == [
        "no board decision: the board has not reviewed this version "
        "(`vru review --model vru-risk --version 3 ...`)"
    ]


def test_a_forged_decision_is_refused(store: Store) -> None:
    _decide(store, "alice")
    _decide(store, "bob", key="alice")
    problems = _problems(store)
    assert problems[0].startswith("approval does not verify: the signature of Bob's decision")


def test_a_decision_replayed_from_another_version_is_refused(store: Store) -> None:
    _decide(store, "alice")
    _decide(store, "bob", version="2")
    problems = _problems(store)
    assert problems == [
        "2 of 2 board members must approve, have 1: alice",
        "the recorded decision is for vru-risk version 2, not vru-risk version 3 (a decision "
        "copied from another version)",
    ]


def test_a_decision_on_an_earlier_report_is_refused(store: Store) -> None:
    _approved(store)
    old = store.tags[REPORT_TAG]
    new = _audit(store, model_artifacts_sha256=artifacts_digest(FILES), note="re-run")
    problems = _problems(store)
    assert problems[0] == "2 of 2 board members must approve, have 0"
    assert problems[1] == (
        f"Alice's decision was made on report {old}, but the version's report is now {new}: "
        "the board must review the current report"
    )


def test_a_rejection_on_an_earlier_report_does_not_veto(store: Store) -> None:
    _decide(store, "alice", "reject")
    _audit(store, note="re-run")
    _approved(store)
    assert _problems(store) == []


def test_a_failed_gate_not_waived_by_each_member_is_refused(store: Store) -> None:
    _audit(store, failed="equalized_odds_difference")
    _decide(store, "alice", waived_gates=("equalized_odds_difference",))
    _decide(store, "bob")
    assert _problems(store)[1] == (
        "gate(s) failed and not waived by the board: equalized_odds_difference (in Bob's decision)"
    )


def test_a_model_file_changed_after_the_review_is_refused(store: Store) -> None:
    _approved(store)
    assert store.files is not None
    store.files["model.pkl"] = "ff" * 32
    store.files["extra.py"] = "ee" * 32
    assert _problems(store)[1] == (
        "the logged model is not the one the board approved (changed: model.pkl; added: "
        "extra.py): restore the approved files, or have the board review the version again"
    )


def test_a_model_the_store_cannot_read_is_refused(store: Store) -> None:
    _approved(store)
    store.files = None
    problems = _problems(store)
    assert "the logged model cannot be read: the store is down" in problems
    assert "the logged model cannot be read" in problems


def test_a_decision_binding_no_model_is_refused(store: Store) -> None:
    _decide(store, "alice")
    _decide(store, "bob", model_artifacts={}, model_artifacts_sha256="")
    assert _problems(store)[1] == (
        "the board's decision does not name the model's files (it was signed before decisions "
        "bound the model): a decision that does not bind the model cannot promote; the board "
        "must review vru-risk version 3 again (`vru review`)"
    )


def test_a_model_other_than_the_audited_one_is_refused(store: Store) -> None:
    _audit(store, model_artifacts_sha256="cc" * 32)
    _approved(store)
    assert "are not the ones the audit scored" in _problems(store)[1]


def test_a_lapsed_approval_stops_the_serving_version(store: Store) -> None:
    _approved(store)
    store.aliases[CHAMPION] = "3"
    later = datetime(2026, 7, 1, tzinfo=UTC)
    with pytest.raises(ApprovalError) as caught:
        verify_serving_version(store, NAME, ROSTER, now=later)  # type: ignore[arg-type]
    assert str(caught.value).startswith(
        "refused: champion points at vru-risk version 3, which is not approved (was the alias "
        "moved by hand, or has the approval lapsed?):\n  - the approval lapsed on 2026-06-30"
    )


def test_no_champion_is_refused(store: Store) -> None:
    with pytest.raises(ApprovalError) as caught:
        verify_serving_version(store, NAME, ROSTER, now=NOW)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "refused: model vru-risk has no champion\n"
        "  - promote an approved version first (`vru promote --model vru-risk --version V`)"
    )


# -- revocations -------------------------------------------------------------------------------


def _revoke_in_tags(store: Store, member: str, key: str | None = None) -> None:
    revocation = Revocation(
        NAME, "3", store.tags[REPORT_TAG], member, "withdrawn", "2026-02-10T00:00:00+00:00"
    )
    tag, signature_tag = revocation_tags(member)
    store.tags[tag] = json.dumps(asdict(revocation))
    store.tags[signature_tag] = sign_revocation(revocation, KEYS[key or member])


def test_a_revocation_in_the_tags_withdraws_the_approval(store: Store, tmp_path: Path) -> None:
    _approved(store)
    _revoke_in_tags(store, "bob")
    error = _refused_promotion(store, tmp_path)
    assert error.problems[0].startswith("the approval was revoked by Bob at 2026-02-10")
    revoked, ignored = revocations_of(store.version(NAME, "3"), ROSTER, None)
    assert revoked == [("2026-02-10T00:00:00+00:00", "bob", "withdrawn")]
    assert ignored == []


def test_a_forged_or_malformed_revocation_is_ignored_and_named(store: Store) -> None:
    _approved(store)
    _revoke_in_tags(store, "bob", key="alice")
    store.tags[revocation_tags("alice")[0]] = "{}"
    revoked, ignored = revocations_of(store.version(NAME, "3"), ROSTER, None)
    assert revoked == []
    assert ignored[0].startswith("the revocation in tag board_revocation/alice is malformed: ")
    assert ignored[0].endswith("; ignored")
    assert ignored[1] == (
        "a revocation of vru-risk version 3 by 'bob' does not verify with the member's key; ignored"
    )
    assert _problems(store) == []


def test_a_revocation_of_another_version_in_the_tags_is_not_this_ones(store: Store) -> None:
    _approved(store)
    revocation = Revocation(
        NAME, "2", store.tags[REPORT_TAG], "bob", "withdrawn", "2026-02-10T00:00:00+00:00"
    )
    tag, signature_tag = revocation_tags("bob")
    store.tags[tag] = json.dumps(asdict(revocation))
    store.tags[signature_tag] = sign_revocation(revocation, KEYS["bob"])
    assert revocations_of(store.version(NAME, "3"), ROSTER, None) == ([], [])


# -- reading decisions -------------------------------------------------------------------------


def test_read_decision_gives_the_newest(store: Store) -> None:
    _decide(store, "alice", decided_at="2026-02-03T09:00:00+00:00")
    newest = _decide(store, "bob", decided_at="2026-02-04T09:00:00+00:00")
    decision, signature, problem = read_decision(store.tags)
    assert decision == newest
    assert signature == store.tags["board_signature/bob"]
    assert problem is None
    assert read_decision({}) == (None, None, None)
    malformed = read_decision({"board_decision/x": '{"model": "m"}'})
    assert malformed[0] is None
    assert str(malformed[2]).startswith("the recorded decision (tag board_decision/x) is")


def test_decisions_keep_their_waived_gates_as_a_tuple(store: Store) -> None:
    _decide(store, "alice", waived_gates=("drift",))
    (signed,), problems = read_decisions(store.tags)
    assert problems == []
    assert signed.decision.waived_gates == ("drift",)
    assert replace(signed.decision).member == "alice"


# -- the model card in production ----------------------------------------------------------------


def _card(store: Store, items: list[dict[str, str]], heading: str = "Impact assessment") -> None:
    card = {"model_card": {"sections": [{"heading": heading, "items": items}]}}
    store.artifacts[AUDIT_JSON_ARTIFACT] = json.dumps(card).encode()


def test_production_refuses_placeholder_impact_assessments(store: Store, tmp_path: Path) -> None:
    _approved(store)
    _card(
        store,
        [
            {"label": "DPIA", "value": "To Be Completed by the DPO"},
            {"label": "Equality", "value": "to be confirmed"},
            {"label": "Scope", "value": "London, 16-24"},
        ],
    )
    error = _refused_promotion(store, tmp_path, environment="production")
    assert error.problems == [
        "environment: production needs a completed model card, but its impact assessment still "
        "reads as a placeholder in: DPIA, Equality; complete them in configs/model_card.yaml and "
        "audit the version again"
    ]
    log = AuditLog(tmp_path / "demo.jsonl")
    promote(store, log, store.version(NAME, "3"), ROSTER, actor="o", environment="demo", now=NOW)  # type: ignore[arg-type]
    assert store.aliases == {CHAMPION: "3"}


def test_production_refuses_a_missing_card_and_accepts_a_written_one(store: Store) -> None:
    info = store.version(NAME, "3")
    missing = (
        "environment: production needs a completed model card, but the version's audit holds "
        "no model card with an impact assessment (audit/audit.json); audit the version again"
    )
    assert card_problems(store, info) == [missing]  # type: ignore[arg-type]
    store.artifacts[AUDIT_JSON_ARTIFACT] = b"not json"
    assert card_problems(store, info) == [missing]  # type: ignore[arg-type]
    _card(store, [{"label": "DPIA", "value": "Done"}], heading="Other")
    assert card_problems(store, info) == [missing]  # type: ignore[arg-type]
    _card(store, [{"label": "DPIA", "value": "Signed off 2026-01-10"}])
    assert card_problems(store, info) == []  # type: ignore[arg-type]


# -- found by the second mutation run ------------------------------------------------------------

THREE = BoardSettings(
    members=tuple(
        BoardMember(id=m, name=m.title(), public_key_b64=_public(m))
        for m in ("alice", "bob", "carol")
    ),
    quorum=2,
)


def test_a_decision_that_no_longer_counts_is_not_reported_when_a_quorum_holds(
    store: Store,
) -> None:
    _decide(store, "carol", "reject")
    _audit(store, note="re-run")
    _approved(store)
    assert _problems(store, THREE) == []
    _decide(store, "bob", version="2")
    problems = _problems(store, THREE)
    assert problems[0] == "2 of 3 board members must approve, have 1: alice"
    assert "(a decision copied from another version)" in problems[1]
    assert "Carol's decision was made on report" in problems[2]


def test_only_a_malformed_decision_is_not_reported_as_no_decision(store: Store) -> None:
    store.tags["board_decision/alice"] = "{not json"
    problems = _problems(store)
    assert len(problems) == 1
    assert problems[0].startswith("the recorded decision (tag board_decision/alice) is malformed")


def test_a_recorded_decision_without_waived_gates_reads_as_none_waived(store: Store) -> None:
    _approved(store)
    fields = json.loads(store.tags["board_decision/alice"])
    del fields["waived_gates"]
    store.tags["board_decision/alice"] = json.dumps(fields)
    assert _problems(store) == []


def test_without_a_time_given_the_approval_is_judged_now(store: Store) -> None:
    _decide(store, "alice", valid_until="2999-12-31")
    _decide(store, "bob", valid_until="2999-12-31")
    info = store.version(NAME, "3")
    assert approval_problems(store, info, ROSTER)[0] == []  # type: ignore[arg-type]
    _decide(store, "bob", valid_until="2026-01-31")
    info = store.version(NAME, "3")
    problems, approval = approval_problems(store, info, ROSTER)  # type: ignore[arg-type]
    assert approval is None
    assert problems[0].startswith("the approval lapsed on 2026-01-31 (review date of Bob)")


def test_a_revocation_file_in_the_revocations_directory_withdraws_the_approval(
    store: Store, tmp_path: Path
) -> None:
    from governance.contracts.revocation import SignedRevocation, write_revocation_file

    _approved(store)
    revocation = Revocation(
        NAME, "3", store.tags[REPORT_TAG], "alice", "withdrawn", "2026-02-10T00:00:00+00:00"
    )
    signed = SignedRevocation(revocation, sign_revocation(revocation, KEYS["alice"]))
    write_revocation_file(tmp_path / "revocations", signed)
    problems = _problems(store, revocations_dir=tmp_path / "revocations")
    assert problems[0].startswith("the approval was revoked by Alice at 2026-02-10")
    error = _refused_promotion(store, tmp_path, revocations_dir=tmp_path / "revocations")
    assert error.problems == problems
    store.aliases[CHAMPION] = "3"
    with pytest.raises(ApprovalError, match="the approval was revoked by Alice"):
        verify_serving_version(
            store,  # type: ignore[arg-type]
            NAME,
            ROSTER,
            now=NOW,
            revocations_dir=tmp_path / "revocations",
        )


def test_an_impact_section_without_items_has_no_placeholder(store: Store) -> None:
    card = {"model_card": {"sections": [{"heading": "Impact assessment"}]}}
    store.artifacts[AUDIT_JSON_ARTIFACT] = json.dumps(card).encode()
    assert card_problems(store, store.version(NAME, "3")) == []  # type: ignore[arg-type]


def test_a_refusal_lists_each_problem_on_its_own_line(store: Store, tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ApprovalError) as caught:
        promote(store, log, store.version(NAME, "3"), None, actor="ops", now=NOW)  # type: ignore[arg-type]
    first, second = caught.value.problems
    assert str(caught.value) == (
        f"refused: vru-risk version 3 cannot become champion:\n  - {first}\n  - {second}"
    )


def test_every_reason_a_decision_does_not_count_is_kept(store: Store) -> None:
    _decide(store, "alice", version="2")
    _decide(store, "bob")
    store.files = None
    problems = _problems(store)
    assert "(a decision copied from another version)" in problems[1]
    assert "the logged model cannot be read: the store is down" in problems


def test_every_failed_gate_not_waived_is_named(store: Store) -> None:
    verdict_gates = [
        {"figure": "ece", "passed": False},
        {"figure": "equalized_odds_difference", "passed": False},
    ]
    _audit(store, gates=verdict_gates)
    _approved(store)
    assert _problems(store)[1] == (
        "gate(s) failed and not waived by the board: ece, equalized_odds_difference (in "
        "Alice's decision)"
    )
