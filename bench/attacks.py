"""Hostile reports through the real intake path (bot.intake → archive → parser → engine).

Billion laughs, quadratic blowup, XXE (internal subset and external DTD), a 1 GB zip bomb (one
deflated 1 GB member), a 1 GB gzip bomb, a 64 MiB attribute value (expat buffers a tag whole)
and a prolog of 40 comments without a root (the head sniffing once backtracked 2^40 times),
each read in a fresh subprocess the way `ci-truth check` reads it. Target (issue 2): refused
(a failing verdict with an unreadable-report reason, no secret leaked) in under a second,
without memory growth (peak RSS during the evaluation minus RSS before it, in a process that
has already imported everything).

    python bench/attacks.py [--runs 5] [--strict]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

from _common import child, machine, peak_rss_kib, rss_kib, verdict

TARGET_SECONDS, TARGET_GROWTH_MIB = 1.0, 10_000_000 / 2**20
BOMB_BYTES = 1 << 30
SECRET = "ci-truth-bench-secret-7f3a"  # the XXE target's content; must never show up

LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
          + "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n'
                    for i in range(1, 10))
          + ']>\n<testsuite name="s"><testcase name="&lol9;"/></testsuite>\n')


def _bomb() -> tuple[bytes, int, int]:
    """A raw deflate stream of a ~1 GiB report-like document: (data, crc32, size).

    The document is periodic, so one compressed 1 MiB piece (flushed to a byte boundary, its
    back-references all within the identical 32 KiB window) is repeated instead of deflating
    1 GiB: the same bytes zlib would produce for the whole, in well under a second.
    """
    line = b'<testcase classname="bomb" name="x" time="0"/>\n'
    head, piece, tail = b"<testsuite>\n", line * ((1 << 20) // len(line)), b"</testsuite>\n"
    n = (BOMB_BYTES - len(head) - len(tail)) // len(piece)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(head + piece) + co.flush(zlib.Z_SYNC_FLUSH)
    again = co.compress(piece) + co.flush(zlib.Z_SYNC_FLUSH)
    last = co.compress(tail) + co.flush()
    crc = zlib.crc32(head + piece)
    for _ in range(n - 1):
        crc = zlib.crc32(piece, crc)
    crc = zlib.crc32(tail, crc)
    return first + again * (n - 1) + last, crc, len(head) + n * len(piece) + len(tail)


def _le(value: int, n: int) -> bytes:
    return value.to_bytes(n, "little")


def _zip(raw: bytes, crc: int, declared: int) -> bytes:
    """A one-member zip (junit.xml, deflate) around `raw`, declaring `declared` bytes."""
    name = b"junit.xml"
    fields = _le(8, 2) + b"\0\0\0\0" + _le(crc, 4) + _le(len(raw), 4) + _le(declared, 4)
    local = b"PK\x03\x04" + _le(20, 2) + _le(0, 2) + fields + _le(len(name), 2) + _le(0, 2)
    central = (b"PK\x01\x02" + _le(20, 2) * 2 + _le(0, 2) + fields + _le(len(name), 2)
               + b"\0" * 16 + name)
    end = (b"PK\x05\x06" + b"\0" * 4 + _le(1, 2) * 2 + _le(len(central), 4)
           + _le(len(local) + len(name) + len(raw), 4) + b"\0\0")
    return local + name + raw + central + end


def make_inputs(tmp: Path) -> dict[str, Path]:
    """Write every attack file (the bombs are ~1 MB each on disk, the attribute file 64 MiB)."""
    secret = tmp / "secret.txt"
    secret.write_text(SECRET)
    files = {
        "billion laughs": LAUGHS,
        "quadratic blowup": ('<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY a "' + "A" * 100_000
                             + '">]>\n<testsuite><testcase name="'
                             + "&a;" * 100_000 + '"/></testsuite>\n'),
        "XXE (internal subset)": (f'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY xxe SYSTEM '
                                  f'"file://{secret}">]>\n<testsuite><testcase name="&xxe;">'
                                  f"<failure>&xxe;</failure></testcase></testsuite>\n"),
        "XXE (external DTD)": (f'<?xml version="1.0"?>\n<!DOCTYPE testsuite SYSTEM '
                               f'"file://{secret}">\n<testsuite><testcase name="x"/>'
                               f"</testsuite>\n"),
        "prolog without a root": "<!---->" * 40,
    }
    paths = {}
    for i, (label, text) in enumerate(files.items()):
        paths[label] = tmp / f"attack{i}.xml"
        paths[label].write_text(text)
    paths["64 MiB attribute"] = tmp / "attribute.xml"
    with paths["64 MiB attribute"].open("wb") as fh:
        fh.write(b'<testsuite><testcase classname="c" name="')
        for _ in range(64):
            fh.write(b"a" * (1 << 20))
        fh.write(b'"/></testsuite>\n')
    raw, crc, size = _bomb()
    bombs = {"zip bomb (1 GiB member)": ("bomb.zip", _zip(raw, crc, size)),
             "zip bomb, size forged": ("forged.zip", _zip(raw, crc, 1 << 20)),
             "gzip bomb (1 GiB)": ("bomb.xml.gz", b"\x1f\x8b\x08\0\0\0\0\0\x02\xff" + raw
                                   + _le(crc, 4) + _le(size % (1 << 32), 4))}
    for label, (name, data) in bombs.items():
        paths[label] = tmp / name
        paths[label].write_bytes(data)
    return paths


def one(path: str) -> None:
    """Child process: evaluate one hostile file as `check` would; print JSON."""
    from bot.core.engine import evaluate
    from bot.intake import iter_sources

    before = rss_kib()
    start = time.perf_counter()
    result = evaluate(iter_sources([path]))
    seconds = time.perf_counter() - start
    reasons = [r.rule for r in result.verdict.reasons]
    text = json.dumps([r.message for r in result.verdict.reasons])
    print(json.dumps({"seconds": seconds, "growth_kib": peak_rss_kib() - before,
                      "conclusion": str(result.verdict.conclusion), "rules": reasons,
                      "leaked": SECRET in text or SECRET in repr(result.state),
                      "why": [u.error for u in result.state.unreadable][:1]
                      or [f.error for f in result.state.files if f.error][:1]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="median seconds, max growth")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--one", nargs=1, metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one[0])
        return 0
    print(f"attacks.py — {machine()}")
    misses = []
    with tempfile.TemporaryDirectory(prefix="ci-truth-bench-") as tmp:
        start = time.perf_counter()
        paths = make_inputs(Path(tmp))
        print(f"(inputs generated in {time.perf_counter() - start:.1f} s: "
              + ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in paths.values()) + ")")
        print(f"  {'attack':<26} {'seconds':>8} {'RSS growth MiB':>15}  verdict / reason "
              f"(median of {args.runs} runs; growth: the largest)")
        for label, path in paths.items():
            results = [child("attacks.py", str(path)) for _ in range(args.runs)]
            r = sorted(results, key=lambda x: float(x["seconds"]))[len(results) // 2]  # type: ignore[arg-type]
            r["growth_kib"] = max(int(x["growth_kib"]) for x in results)  # type: ignore[call-overload]
            r["leaked"] = any(x["leaked"] for x in results)
            growth = int(r["growth_kib"]) / 1024  # type: ignore[call-overload]
            ok = (r["conclusion"] == "failure" and "unreadable-report" in r["rules"]  # type: ignore[operator]
                  and not r["leaked"] and float(r["seconds"]) < TARGET_SECONDS  # type: ignore[arg-type]
                  and growth <= TARGET_GROWTH_MIB)
            why = str((r["why"] or ["?"])[0])[:90]  # type: ignore[index]
            print(f"  {label:<26} {float(r['seconds']):>8.3f} {growth:>15.1f}  "  # type: ignore[arg-type]
                  f"{verdict(ok)} {r['conclusion']}: {why}")
            if not ok:
                misses.append(label)
    print(f"targets: refused < {TARGET_SECONDS:g} s, growth ≤ {TARGET_GROWTH_MIB:.1f} MiB, "
          f"nothing leaked —", "all met" if not misses else "MISSED: " + ", ".join(misses))
    return 1 if misses and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
