"""Errors the core raises at its input boundaries (configuration and plan text)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem a person can fix: names the file, the key path and the line.

    ``str(err)`` reads like ``.github/ci-truth.yml:4: gate.max_skipped_ratio: expected a
    number from 0 to 1, got 'abc'``.
    """

    def __init__(self, message: str, *, key: str = "", line: int | None = None,
                 source: str = ".github/ci-truth.yml") -> None:
        self.key = key
        self.line = line
        self.source = source
        self.bare = message
        where = source + (f":{line}" if line else "")
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
