"""ci-truth: tells the truth about CI test evidence."""

__version__ = "0.1.0"
