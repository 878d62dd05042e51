"""prcomment.py: the sticky comment's body, digest and own-comment lookup (author AND marker).

Comments are the real `issue_comment.created` payload's comment object
(../shared/corpus/webhooks), with `user` and `body` adapted per case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.model import Conclusion, Counts, FailedTest, MeasuredState, Reason, Verdict
from bot.core.prcomment import MARKER, body, digest, digest_of, is_ours

BOT = "ci-truth[bot]"


@pytest.fixture
def comment(corpus: Path) -> dict[str, Any]:
    doc = json.loads((corpus / "webhooks/issue_comment.created.json").read_text())
    return dict(doc["comment"])


def result(total: int, failed: int = 0) -> tuple[MeasuredState, Verdict]:
    state = MeasuredState(totals=Counts(tests=total, passed=total - failed, failed=failed,
                                        duration=1.5),
                          failures=[FailedTest(id="@everyone <!-- x", kind="failure",
                                               message="see #1", report="r.xml")] * failed)
    if total == 0:
        return state, Verdict(Conclusion.FAILURE, [Reason("zero-tests", "0 testcases")])
    if failed:
        return state, Verdict(Conclusion.FAILURE, [Reason("failures", "@someone broke it")])
    return state, Verdict(Conclusion.SUCCESS)


def test_body_carries_marker_digest_and_counts() -> None:
    text = body(*result(0), check_url="https://github.com/o/r/runs/5")
    assert text.startswith(MARKER)
    assert "CI Truth: failure" in text and "0 tests ran" in text and "`zero-tests`" in text
    assert digest_of(text) == digest(*result(0), "https://github.com/o/r/runs/5")
    assert "[Details in the CI Truth check run](https://github.com/o/r/runs/5)" in text
    assert "javascript" not in body(*result(3), check_url="javascript:alert(1)")


def test_untrusted_text_never_reaches_the_comment() -> None:
    text = body(*result(4, failed=1))
    assert "@everyone" not in text and "@someone" not in text and "#1" not in text
    assert text.count("<!--") == 2           # our two markers, nothing injected


def test_digest_changes_only_with_verdict_or_counts() -> None:
    a_state, a_verdict = result(10)
    b_state, b_verdict = result(10)
    b_state.totals.duration = 99.0            # timing noise is not a change
    assert digest(a_state, a_verdict) == digest(b_state, b_verdict)
    assert digest(*result(10)) != digest(*result(11))
    assert digest(*result(10)) != digest(*result(10, failed=1))
    url = "https://github.com/o/r/runs/"         # a new head's check run: the link changes
    assert digest(*result(10), url + "5") != digest(*result(10), url + "6")


def test_own_comment_needs_author_and_marker(comment: dict[str, Any]) -> None:
    assert not is_ours(comment, BOT)                           # a human's comment
    forged = dict(comment, body=f"{MARKER} hijack")            # marker, wrong author
    assert not is_ours(forged, BOT)
    bot_user = {"login": BOT, "type": "Bot", "id": 1}
    unmarked = dict(comment, user=bot_user, body="hello")
    assert not is_ours(unmarked, BOT)
    ours = dict(comment, user=bot_user, body=body(*result(3)))
    assert is_ours(ours, BOT)
    impostor = dict(ours, user={"login": BOT, "type": "User"})
    assert not is_ours(impostor, BOT)
    deleted = dict(ours, user=None)                            # deleted user: never ours
    assert not is_ours(deleted, BOT)
    via_app = dict(ours, user={"login": "renamed[bot]", "type": "Bot"},
                   performed_via_github_app={"id": 42})
    assert is_ours(via_app, BOT, app_id=42) and not is_ours(via_app, BOT, app_id=43)
    assert [c for c in (forged, unmarked, ours) if is_ours(c, BOT)] == [ours]
