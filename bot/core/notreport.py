"""XML known not to be a test report (lint, coverage, SBOMs, build and config files), by its head.

Maven's target/ and Gradle's build/ hold such files beside the JUnit XML; a directory walk, a
`**/*.xml` glob or an uploaded artifact finds them too. Only a root element listed here is set
aside (listed in the verdict, never counted); any other root still goes to the report parser,
which refuses it as unreadable: an unknown root may be a test format ci-truth does not read
(TestNG's <testng-results>), and dropping it would hide its failures.
"""

from __future__ import annotations

import re

# root element → (what it is, bytes of which one must appear in the prolog or the root's start
# tag, or () when the root name alone is distinctive). Element names as written (no namespaces).
KNOWN: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "report": ("JaCoCo coverage report", (b"-//JACOCO//DTD Report",)),
    "CoverageSession": ("OpenCover coverage report", ()),
    "scoverage": ("scoverage coverage report", ()),
    "checkstyle": ("Checkstyle-format lint results", ()),
    "module": ("Checkstyle configuration", (b"//DTD Checkstyle Configuration",
                                            b"//DTD Check Configuration")),
    "BugCollection": ("SpotBugs/FindBugs results", ()),
    "pmd": ("PMD results", ()),
    "pmd-cpd": ("PMD CPD duplicate-code results", ()),
    "ruleset": ("PMD ruleset", (b"pmd.sourceforge.net/ruleset",)),
    "issues": ("Android lint results", (b'by="lint',)),
    "bom": ("CycloneDX SBOM", (b"cyclonedx.org/schema/bom",)),
    "project": ("Maven POM", (b"maven.apache.org/POM/",)),
    "failsafe-summary": ("Maven Failsafe summary (its tests are in the TEST-*.xml beside it)",
                         ()),
    "suite": ("TestNG suite definition", (b"testng.org/testng-1.0.dtd",)),
    "manifest": ("Android manifest", (b"schemas.android.com/apk/res/android",)),
    "configuration": ("configuration file (logback, MyBatis, Hadoop)", ()),
    "Configuration": ("Log4j 2 configuration", ()),
    "log4j:configuration": ("Log4j configuration", ()),
    "persistence": ("JPA persistence.xml", ()),
    "beans": ("Spring beans configuration", ()),
    "web-app": ("servlet web.xml", ()),
}

# The prolog (declaration, comments, processing instructions, an external DOCTYPE) and the
# root's start tag. A `>` inside an attribute value ends the match early: a signature after
# it is then not seen and the file goes to the parser (never skipped by mistake). The prolog's
# `*+` never gives back: `<!---->` × 40 and no root fails at once, not in 2^40 backtracking steps.
PROLOG = rb"^(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[<>]*>)*+"   # with re.S
_HEAD = re.compile(PROLOG + rb"<([A-Za-z_][\w.:-]*)(?:[\s/][^>]*)?>", re.S)


def head_complete(head: bytes) -> bool:
    """Whether `head` reaches the end of the root's start tag (enough to call `identify`)."""
    return _HEAD.match(head.removeprefix(b"\xef\xbb\xbf")) is not None


def identify(head: bytes) -> str | None:
    """What a known non-report is ("JaCoCo coverage report"), or None: maybe a test report."""
    m = _HEAD.match(head.removeprefix(b"\xef\xbb\xbf"))
    if m is None:
        return None
    entry = KNOWN.get(m.group(1).decode("ascii", "replace"))
    if entry is None:
        return None
    what, signatures = entry
    if signatures and not any(s in m.group(0) for s in signatures):
        return None
    return what
