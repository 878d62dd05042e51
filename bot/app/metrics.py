"""In-process counters and their Prometheus text exposition (format 0.0.4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAX_LABEL_VALUES = 64  # label values partly come from requests: keep cardinality bounded


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters the server, worker and GitHub client update; rendered by GET /metrics."""

    def __init__(self) -> None:
        self.deliveries: Counter[tuple[str, str]] = Counter()
        self.jobs: Counter[str] = Counter()
        self.github_calls: Counter[str] = Counter()
        self.rate_limit_remaining: dict[int, int] = {}
        self.redeliveries: Counter[str] = Counter()

    def delivery(self, event: str, outcome: str) -> None:
        """Count a webhook delivery by (verified) event name and outcome."""
        if len(self.deliveries) >= _MAX_LABEL_VALUES and (event, outcome) not in self.deliveries:
            event = "other"
        self.deliveries[(event, outcome)] += 1

    def job(self, outcome: str) -> None:
        """Count a job outcome: done, retried, failed."""
        self.jobs[outcome] += 1

    def github_call(self, status: int | str) -> None:
        """Count one GitHub API request by HTTP status (or "error" when none came back)."""
        self.github_calls[str(status)] += 1

    def rate_limit(self, installation_id: int, remaining: int) -> None:
        """Remember the latest x-ratelimit-remaining of an installation (0 = the App JWT)."""
        self.rate_limit_remaining[installation_id] = remaining

    def render(self, *, queue_depth: int, job_states: Mapping[str, int]) -> str:
        """The exposition text."""
        out: list[str] = []

        def family(name: str, kind: str, help_: str,
                   samples: list[tuple[dict[str, str], int]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                # Exact integers: ":g" kept 6 digits (1234567 became 1.23457e+06).
                out.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")

        family("ci_truth_deliveries_total", "counter", "Webhook deliveries by event and outcome.",
               [({"event": e, "outcome": o}, n) for (e, o), n in sorted(self.deliveries.items())])
        family("ci_truth_queue_depth", "gauge", "Jobs queued or running.",
               [({}, queue_depth)])
        family("ci_truth_jobs", "gauge", "Jobs in the store by state.",
               [({"state": s}, n) for s, n in sorted(job_states.items())])
        family("ci_truth_jobs_total", "counter", "Job attempts by outcome (done, retried, failed).",
               [({"outcome": o}, n) for o, n in sorted(self.jobs.items())])
        family("ci_truth_github_requests_total", "counter", "GitHub API requests by HTTP status.",
               [({"status": s}, n) for s, n in sorted(self.github_calls.items())])
        family("ci_truth_github_rate_limit_remaining", "gauge",
               "Latest x-ratelimit-remaining per installation (0 = the App itself).",
               [({"installation": str(i)}, n)
                for i, n in sorted(self.rate_limit_remaining.items())])
        family("ci_truth_redeliveries_total", "counter",
               "Redelivery requests by result (requested, failed).",
               [({"result": r}, n) for r, n in sorted(self.redeliveries.items())])
        return "\n".join(out) + "\n"
