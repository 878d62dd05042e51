"""The pipeline: Sources → streaming parser → Measurer → judge → Result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.core.config import DEFAULT_CONFIG, Config
from bot.core.coverage import CoverageCollector
from bot.core.junit import parse_report
from bot.core.limits import Limits
from bot.core.measure import Measurer
from bot.core.model import MeasuredState, Reason, Source, Verdict
from bot.core.state import Baseline, baseline_from_json
from bot.core.verdict import judge, not_reports

__all__ = ["Result", "Source", "evaluate", "measure"]


@dataclass(slots=True)
class Result:
    """What one evaluation found and concluded."""

    state: MeasuredState
    verdict: Verdict


def measure(sources: Iterable[Source], config: Config = DEFAULT_CONFIG, *,
            limits: Limits | None = None) -> MeasuredState:
    """Parse every source into one measured state (no verdict).

    A source with `.error` (refused by its reader) becomes an unreadable report; a path
    seen before is skipped, so `check reports/ reports/a.xml` counts a.xml once. Once
    the evaluation has read `limits.max_testcases` testcases, the remaining sources are
    recorded as unreadable instead of parsed.
    """
    limits = limits or Limits()
    measurer = Measurer(config.signatures, max_failures=limits.max_failures_kept,
                        max_details=limits.max_details_kept, max_test_ids=limits.max_test_ids)
    seen = 0
    paths: set[str] = set()
    for source in sources:
        if source.path in paths:          # the same report named twice is read once
            continue
        paths.add(source.path)
        if source.error is not None or source.chunks is None:
            measurer.unreadable(source.path, source.error or "no content to read")
            continue
        if seen >= limits.max_testcases:
            measurer.unreadable(source.path, f"not read: this evaluation already holds "
                                f"{limits.max_testcases} testcases (the cap)")
            continue
        report = parse_report(source.chunks, path=source.path,
                              sink=measurer.sink_for(source.path), limits=limits,
                              passed=measurer.passed, passed_many=measurer.passed_many,
                              system_err=bool(config.signatures))
        seen += report.counts.tests
        measurer.add_file(report)
    return measurer.state()


def evaluate(sources: Iterable[Source], config: Config = DEFAULT_CONFIG, *,
             baseline: Baseline | Mapping[str, object] | None = None,
             extra_reasons: Sequence[Reason] = (), limits: Limits | None = None,
             coverage: CoverageCollector | None = None) -> Result:
    """Measure the sources and judge them; a Mapping baseline is read with baseline_from_json.

    Coverage XML among the sources is set aside (into ``coverage``, given to read its errors)
    and feeds ``state.coverage.line_rate`` instead of counting as an unreadable test report;
    XML known not to be a test report (bot/core/notreport.py) is skipped and listed in a
    ``not-a-report`` notice: the same for ``check``, ``plan``, the Action and the App.
    """
    if baseline is not None and not isinstance(baseline, Baseline):
        baseline = baseline_from_json(baseline)
    collector = coverage if coverage is not None else CoverageCollector()
    state = measure(collector.filter(sources), config, limits=limits)
    if collector.not_reports:
        extra_reasons = [*extra_reasons, not_reports(collector.not_reports)]
    verdict = judge(state, config, baseline=baseline, extra_reasons=extra_reasons)
    state.coverage.update(collector.state())
    return Result(state=state, verdict=verdict)
