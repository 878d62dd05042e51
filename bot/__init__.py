"""ci-truth: tells the truth about CI test evidence."""

import os

from bot.core import xmlaccel

__version__ = "0.1.0"

# The one place the reader is chosen from the environment (the core reads no environment):
# CI_TRUTH_PURE_PYTHON=1 forces the pure-Python pyexpat reader even when the C one is built.
if os.environ.get("CI_TRUTH_PURE_PYTHON", "") not in ("", "0"):
    xmlaccel.use(False)
