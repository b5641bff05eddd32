"""A/B benchmark: the dedup path of two versions of the code, side by side in one process.

    python tests/benchmarks/ab_dedup.py --base a159110                      # the working tree against a159110
    python tests/benchmarks/ab_dedup.py --base a159110 --window 1000000     # at a million stories (~10 min)
    python tests/benchmarks/ab_dedup.py --base HEAD --new HEAD              # A/A: the noise of the method
    python tests/benchmarks/ab_dedup.py --base a159110 --worker-heap        # in a process holding the worker
    python tests/benchmarks/ab_dedup.py --base HEAD --pure A                # what the C kernels give

Each version's C kernels (pipeline/dedup/_native.c, from 85e9f20 on) are compiled for it in the temporary
directory; `--pure A` (or B) runs that version without them, on the numpy / Python code they replace.

Why: the machines here are shared, and their speed drifts over minutes (the same code, two runs minutes apart:
6,610 and 8,660 stories/s), so two versions run one after the other compare the machine as much as the code. Here
each version's `pipeline` package is copied (from git with `git archive`, or the working tree for `--new .`) into
a temporary directory under a name of its own (`nw_a`, `nw_b`; its imports rewritten), both are imported into this
process, and each gets its own state file, key table and Deduper. Both windows are filled with bench_dedup.py's
window stories, then its timed stream (a third copies of window stories, a sixth copies of the story before, the
rest new) goes through both a chunk at a time, one transaction a chunk, in the order A B B A ..., so that drift
falls on both alike. Printed: stories/s of each, its median and slowest chunk, B's speed-up over A, and a check
that both put every story into the same cluster for the same reason (a speed-up must not change a result).

Noise that remains: A/A runs (one version twice) gave 1.00-1.01, but A/B runs of one pair of versions still
spread by about ±6 %, and one run in nine at 10k gave half the others' ratio; at 1M, three runs in eight had one
side about 2x slower for the whole run, median chunk included, whatever code it ran (cause not found). Run it a
few times, with each version first (swap --base and --new), and read the spread and each side's chunk times.
Both versions share this process's garbage collector: a collection one side's allocations start walks the other
side's objects too, and a version that changes when collections run (7ec0039 holds them off inside a chunk) is
measured against a neighbour that still pays for them; `bench_dedup.py --cycles 10`, run per version in its own
process, shows the collector's time per story on its own.
"""

from __future__ import annotations

import argparse
import importlib
import random
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import ModuleType

import bench_dedup as bench

REPO = Path(__file__).resolve().parents[2]
CHUNK = 500


def install(rev: str, name: str, into: Path) -> None:
    """Copy `pipeline/` of git revision `rev` (`.`: the working tree) to `into/name`, imports renamed."""
    target = into / name
    if rev == ".":
        subprocess.run(["cp", "-r", str(REPO / "pipeline"), str(target)], check=True)
    else:
        into.joinpath(f"{name}.tar").write_bytes(subprocess.run(
            ["git", "-C", str(REPO), "archive", rev, "pipeline"], capture_output=True, check=True).stdout)
        subprocess.run(["tar", "-x", "-C", str(into), "-f", f"{name}.tar"], cwd=into, check=True)
        (into / "pipeline").rename(target)
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bpipeline(?=[.\s])", name, text), encoding="utf-8")
    build_kernels(target, compile_args(rev))


def compile_args(rev: str) -> list[str]:
    """The C compiler's options the version's `pyproject.toml` gives its kernels (`extra-compile-args`)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8") if rev == "." else subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:pyproject.toml"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^extra-compile-args\s*=\s*\[([^\]]*)\]", text, re.MULTILINE)  # (no tomllib in 3.10)
    return re.findall(r'"([^"]*)"', found.group(1)) if found else []


def build_kernels(package: Path, args: list[str]) -> None:
    """Compile the version's C kernels (`dedup/_native.c`, when it has them) in place with its own options
    (`args`), as `pip install` does, so that a revision from git runs with its own kernels (a working tree's
    built module may be stale: not used)."""
    source = package / "dedup" / "_native.c"
    for built in source.parent.glob("_native*.so"):
        built.unlink()
    if not source.exists():
        return
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    out = source.with_name("_native" + sysconfig.get_config_var("EXT_SUFFIX"))
    res = subprocess.run([*compiler, *args, "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}",
                          str(source), "-o", str(out)], capture_output=True, text=True, check=False)
    if res.returncode:
        print(f"{package.name}: its C kernels did not build, it runs without them:\n{res.stderr[-2000:]}")


def kernels_of(name: str) -> str:
    """Whether version `name` runs with compiled kernels."""
    try:
        native = importlib.import_module(f"{name}.dedup.native")
    except ImportError:
        return "none"  # a revision before them
    return "off" if native.KERNELS is None else "on"


class Version:
    """One version's Deduper on its own state file."""

    def __init__(self, name: str, state: Path, window: int, pure: bool) -> None:
        if pure:  # its kernels off: the numpy / Python code they replace runs
            importlib.import_module(f"{name}.dedup.native").KERNELS = None
        core: ModuleType = importlib.import_module(f"{name}.dedup.core")
        sqlite: ModuleType = importlib.import_module(f"{name}.state.sqlite")
        self.make_story = importlib.import_module(f"{name}.testing").make_story
        self.store = sqlite.SqliteStore(state)
        self.deduper = core.Deduper(self.store, window=10**9, capacity=max(window, 250_000))
        self.took = 0.0
        self.chunks: list[float] = []  # seconds, each timed chunk
        self.results: list[tuple[str, str]] = []

    def cycle(self, texts: list[tuple[str, str]], first: int, kind: str, outlet: str, at: float,
              timed: bool) -> None:
        stories = bench.stories_of(self.make_story, texts, first, kind, outlet, at)
        t0 = time.perf_counter()
        with self.store.batch():
            out = [(o.cluster.id, o.reason) for o in self.deduper.add_all(stories)]
        if timed:
            self.chunks.append(time.perf_counter() - t0)
            self.took += self.chunks[-1]
            self.results += out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision of version A (e.g. a commit, HEAD)")
    ap.add_argument("--new", default=".", help="git revision of version B; '.' (default): the working tree")
    ap.add_argument("--window", type=int, default=10_000, help="window stories filled first (default 10,000)")
    ap.add_argument("--measure", type=int, default=3000, help="timed stories per cycle (default 3,000)")
    ap.add_argument("--cycles", type=int, default=3, help="timed cycles (default 3)")
    ap.add_argument("--pure", choices=("A", "B"), action="append", default=[],
                    help="run version A or B without its compiled kernels (as NEWSWATCH_PURE_PYTHON=1 does); "
                         "`--base HEAD --pure A` measures what the kernels give")
    ap.add_argument("--worker-heap", action="store_true",
                    help="import the worker (Apache Beam and all) first, as in the worker's process")
    args = ap.parse_args()
    if args.worker_heap:
        print(f"with the worker imported: {bench.worker_heap():,} objects tracked by the garbage collector")

    rng = random.Random(bench.SEED)
    vocab = bench.vocabulary(30_000, rng)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rev, name in ((args.base, "nw_a"), (args.new, "nw_b")):
            install(rev, name, root)
        sys.path.insert(0, str(root))
        versions = [Version(name, root / f"{name}.db", args.window, label in args.pure)
                    for name, label in (("nw_a", "A"), ("nw_b", "B"))]
        for start in range(0, args.window, 5000):  # filled in cycles of 5,000, as the worker would
            texts = [bench.story_at(i, vocab) for i in range(start, min(args.window, start + 5000))]
            for v in versions:
                v.cycle(texts, start, "w", "", 1.0, timed=False)
                v.store.checkpoint()
        turn = 0
        for c in range(args.cycles):
            first = c * args.measure
            texts: list[tuple[str, str]] = []
            for i in range(first, first + args.measure):
                if i % 3 == 0:
                    texts.append(bench.syndicate(*bench.story_at(rng.randrange(args.window), vocab), rng))
                elif bench.in_cycle(i, first):
                    texts.append(bench.syndicate(*texts[-1], rng))
                else:
                    texts.append(bench.story_at(args.window + i, vocab))
            for part in range(0, args.measure, CHUNK):
                for v in (versions if turn % 2 == 0 else versions[::-1]):  # A B, then B A
                    v.cycle(texts[part : part + CHUNK], first + part, "p", "x", 2.0, timed=True)
                turn += 1
            for v in versions:
                v.store.checkpoint()
        a, b = versions
        n = args.measure * args.cycles
        same = a.results == b.results
        print(f"window {args.window:,}, {n:,} timed stories in chunks of {CHUNK}, alternated A B B A")
        print(f"{'version':>8}  {'revision':<12} {'kernels':>7}  {'stories/s':>10}  {'chunk ms: median':>16}  "
              f"{'slowest':>8}")
        for label, rev, name, v in (("A", args.base, "nw_a", a), ("B", args.new, "nw_b", b)):  # (a slowest far
            print(f"{label:>8}  {rev:<12} {kernels_of(name):>7}  {n / v.took:>10,.0f}  "  # above the median: a stall
                  f"{statistics.median(v.chunks) * 1e3:>16,.1f}  {max(v.chunks) * 1e3:>8,.1f}")  # or a merge)
        print(f"B / A speed: {a.took / b.took:.3f}x; same clusters and reasons: {'yes' if same else 'NO'}")
        for v in versions:
            v.store.close()
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
