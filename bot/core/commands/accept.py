"""Re-judging without `test-drop` once a maintainer accepted the drop (pure)."""

from __future__ import annotations

from bot.core.model import Conclusion, Reason, Rule, Verdict


def conclusion_of(reasons: list[Reason]) -> Conclusion:
    """failure if any reason fails, else neutral if any is neutral, else success."""
    levels = {r.conclusion for r in reasons}
    if Conclusion.FAILURE in levels:
        return Conclusion.FAILURE
    if Conclusion.NEUTRAL in levels:
        return Conclusion.NEUTRAL
    return Conclusion.SUCCESS


def has_drop(verdict: Verdict) -> bool:
    """Whether the verdict holds a `test-drop` reason (the only one accept-drop removes)."""
    return any(r.rule == Rule.TEST_DROP.value for r in verdict.reasons)


def without_drop(verdict: Verdict) -> Verdict:
    """The verdict with `test-drop` reasons removed and its conclusion recomputed."""
    kept = [r for r in verdict.reasons if r.rule != Rule.TEST_DROP.value]
    return Verdict(conclusion_of(kept), kept)
