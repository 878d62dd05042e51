"""Every cap the readers enforce (Limits) and the exception a capped stream raises."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Caps on what one evaluation reads; documented in docs/parsing.md ("Safety caps")."""

    max_file_bytes: int = 512 * MiB      # decompressed bytes of one report
    max_total_bytes: int = 2 * GiB       # all reports of one evaluation
    max_zip_members: int = 1000
    max_member_bytes: int = 512 * MiB
    max_zip_ratio: float = 200.0
    max_testcases: int = 5_000_000       # per evaluation (parse_report applies it per file)
    max_name: int = 512
    max_message: int = 2048
    max_details: int = 8192
    max_failures_kept: int = 2000
    max_details_kept: int = 200          # failures that keep their details (annotations: 200)
    max_test_ids: int = 50_000       # ~7 MB of ids: docs/performance.md, "Memory"
    max_trx_held_bytes: int = 32 * MiB  # TRX results held until their class names come
    max_depth: int = 64                  # XML element nesting
    max_markup_bytes: int = 4 * MiB      # one tag, comment or PI: expat holds it whole


DEFAULT_LIMITS = Limits()


class InputRefused(Exception):
    """Raised by a chunk stream (gzip, zip member, file) that hit a cap or found corrupt data.

    ``str(err)`` is a sentence a person understands; parse_report turns it into
    FileReport.error instead of letting it escape.
    """
