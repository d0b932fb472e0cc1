"""The audit log's details read as words (issue 18: raw Python dicts and ``None``)."""

from __future__ import annotations

from serving.pages.detail_text import MISSING, detail_items


def test_nested_objects_nulls_and_flags_read_as_text() -> None:
    items = detail_items(
        {
            "model": "vru-risk",
            "version": "3",
            "approval": {"decision": "approve", "reviewer": "a.khan", "expires": None},
            "waived_gates": [],
            "gates": ["auc", "ece"],
            "dry_run": False,
            "signature": "c2lnbmF0dXJl",
            "counts": [{"level": "lsoa", "suppressed": 2}, {"level": "ward", "suppressed": 0}],
            "epsilon": 0.5,
        }
    )
    assert items == [
        ("model", "vru-risk"),
        ("version", "3"),
        ("approval › decision", "approve"),
        ("approval › reviewer", "a.khan"),
        ("approval › expires", MISSING),
        ("waived gates", "none"),
        ("gates", "auc; ece"),
        ("dry run", "no"),
        ("counts", "level: lsoa, suppressed: 2; level: ward, suppressed: 0"),
        ("epsilon", "0.5"),
    ]
    text = " ".join(f"{k} {v}" for k, v in items)
    assert "{" not in text and "None" not in text and "'" not in text
    assert "c2lnbmF0dXJl" not in text  # the signature is not shown


def test_long_values_are_cut_and_non_objects_give_nothing() -> None:
    ((_, text),) = detail_items({"reasons": "x" * 500})
    assert len(text) == 160 and text.endswith("…")
    assert detail_items(None) == [] and detail_items("text") == []
    assert detail_items({"empty": {}}) == [("empty", MISSING)]
