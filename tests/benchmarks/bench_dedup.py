"""Benchmark: stories/s through normalize + dedup as the window of open clusters grows, beside naive pairwise
rapidfuzz, in one run.

    python tests/benchmarks/bench_dedup.py                          # windows 10k and 100k
    python tests/benchmarks/bench_dedup.py --windows 10000 100000 1000000
    python tests/benchmarks/bench_dedup.py --windows 1000000 --cycles 10  # ten cycles: sustained throughput
    python tests/benchmarks/bench_dedup.py --windows 2000 --measure 300   # the smoke version CI runs
    python tests/benchmarks/bench_dedup.py --windows --burst 2000         # only the burst
    python tests/benchmarks/bench_dedup.py --windows --by-kind 10000      # what each kind of story costs
    python tests/benchmarks/bench_dedup.py --worker-heap                  # in a process holding the worker

For each window size N, N synthetic stories (8-word headlines and 40-word leads over a 30,000-word vocabulary,
so stories are distinct; each with its outlet's own random-looking id, link and GUID, as feeds give them) are
clustered first; then `--measure` stories are timed as one worker cycle (`--cycles` such cycles, one after the
other, each followed by its checkpoint): a third are syndicated copies of window stories (headline reworded,
boilerplate and a dateline added), a sixth copies of the new story just before them in the same cycle (most
copies of a wire story come within minutes of it: their keys are found among the cycle's own), the rest new.
One cycle of 3,000 stories holds one of the identity index's
periodic merges or none (tens of ms at a million stories); ten cycles show the sustained rate. "copies found" is
the share of those copies put into their original's cluster, "wrong merges" the number of new stories merged
into some cluster (both must hold at every window size, or a speed-up is bought with quality). Rows:

- "newswatch Deduper": the production path (pipeline.dedup.core.Deduper with its SQLite state file), and the
  same counting the checkpoint after the cycle;
- "naive pairwise": rapidfuzz.process.extractOne(token_set_ratio) of each headline against every open one
  (only up to --naive-max, beyond that it would not finish).

Also printed: the process's peak RSS (MiB) after each window's timed cycle (the window's stories are generated
on demand, so it is the deduper's memory plus the libraries'), and where the production path's time went, in
microseconds per story (`Deduper.timings`: normalize; store reads of the chunk's identities; signature keys and
table lookup; deciding each story, candidate reads and verification included; the chunk's writes), and the
checkpoint that follows the cycle (the worker runs it after the cycle's alerts are sent, so it is not counted
in stories/s; its wall and CPU time are shown), and the time Python's garbage collector took in the timed cycle
(inside the phases; `--worker-heap` measures in a process that has imported the worker, whose objects the
collector walks too). Last, a restart: a new process opens the state file with a new store and Deduper; the time
to their first story, a copy of a window story, which pays for rebuilding the in-memory identity index and the
key table (must still find its original) — after a crash, and after a graceful stop that saved the key table —
and the restarted process's peak RSS (the larger of the two).

Then the lead of one text by its length (`pipeline.dedup.normalize.lead`: a full-text feed carries whole
articles, and real text has typographic quotes, which the synthetic stories above lack): the seed article's
opening (45 words), the whole seed article and ten of it, and a Cyrillic paragraph, beside the way before (the
whole text stripped, quotes mapped with `str.translate`, NFKC first in folding; the boilerplate scan itself is
today's in both, so on Cyrillic text the old code was slower still), in microseconds; the two must give the
same lead.

With `--by-kind W`: on a window of W, cycles of `--measure` stories of one kind each — new stories, copies of
window stories, new stories each followed by a copy of it — three rounds in turn: stories/s, the share of copies
found, and microseconds per story by phase, per kind (where a speed-up must come from differs by kind).

With `--burst M`: one cycle of M copies of one story, each from its own outlet (a wire story breaking
everywhere at once), beside one cycle of M distinct new stories, each in a new process on an empty state:
stories/s, the clusters made (1 and M, or the burst is not one story) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    from pipeline.dedup.core import Deduper
    from pipeline.state.sqlite import SqliteStore

SEED = 11


def vocabulary(n: int, rng: random.Random) -> list[str]:
    """Pronounceable made-up words (no stopwords)."""
    cons, vows = "bcdfghjklmnprstvz", "aeiou"
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def peak_mib() -> float:
    """This process's peak RSS in MiB. From /proc (VmHWM): on Linux `ru_maxrss` survives exec, so a child
    process started by a bigger one would report its parent's peak (the restarts and bursts are such children)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def interpreter() -> str:
    """The Python this runs on, and where its binary is: the figures are the interpreter build's as much as the
    code's (a CPython built with profile-guided and link-time optimization, as Debian's and the official Docker
    images' are, ran this benchmark 1.04-1.22x faster at 1M than pyenv's default build of 3.11: README)."""
    import os
    import platform

    from pipeline.dedup import native

    if native.KERNELS is not None:
        kernels = "with the dedup stage's C kernels (pipeline/dedup/_native.c)"
    elif native.switched_off():
        kernels = "without the C kernels (NEWSWATCH_PURE_PYTHON is set)"
    else:
        kernels = "without the C kernels (not built: no C compiler at install?)"
    return (f"Python {platform.python_version()} ({os.path.realpath(sys.executable)}, {platform.python_compiler()}),"
            f" {kernels}")


def worker_heap() -> int:
    """Import what the worker imports (Apache Beam, the whole pipeline), so that this process holds about as many
    objects as the worker's for Python's cyclic garbage collector to walk (its full collections walk them all);
    returns how many objects the collector tracks."""
    import pipeline.app
    import pipeline.streaming  # noqa: F401  (Apache Beam's pipeline, runner and transforms)

    return len(gc.get_objects())


def story_at(i: int, vocab: list[str]) -> tuple[str, str]:
    """Story number `i` (headline, text), made on demand so the window's texts are not held in memory: peak
    RSS is the deduper's, not the benchmark's input."""
    rng = random.Random(i * 1_000_003 + SEED)
    return " ".join(rng.sample(vocab, 8)).capitalize(), " ".join(rng.sample(vocab, 40)) + "."


def story_id(kind: str, i: int) -> str:
    """Ids, links and GUIDs as feeds give them (random-looking, one per outlet's copy), so the state's lookups
    are exercised as in production rather than with sequential keys."""
    return hashlib.sha1(f"{kind}{i}".encode(), usedforsecurity=False).hexdigest()[:16]


def link(kind: str, i: int) -> str:
    return f"https://www.outlet{i % 500}{kind}.example/world/2026/12/01/{story_id(kind, i)}-story.html"


def stories_of(make_story: Callable[..., Any], texts: list[tuple[str, str]], first: int, kind: str, outlet: str,
               at: float) -> list[Any]:
    """Stories of (headline, text) pairs numbered from `first`, each from outlet `i % 500` (`outlet` appended to
    its name) with that outlet's own random-looking id, link and GUID (`kind` keeps sets of stories apart),
    fetched and published at `at`; `make_story` is `pipeline.testing.make_story` of the version measured."""
    return [make_story(t, s, f"outlet{i % 500}{outlet}", sid=story_id(kind, i), link=link(kind, i),
                       guid=link(kind, i), fetched=at, published=at) for i, (t, s) in enumerate(texts, first)]


def syndicate(title: str, lead: str, rng: random.Random) -> tuple[str, str]:
    """A republished copy: one headline word dropped and the order changed; boilerplate and dateline added."""
    words = title.split()
    words.pop(rng.randrange(len(words)))
    rng.shuffle(words)
    return " ".join(words), f"Get all your news in one place. KYIV (Reuters) - {lead} Sign up to read this article"


def in_cycle(i: int, first: int) -> bool:
    """Is timed story `i` (its cycle's first is `first`) a copy of the new story just before it?"""
    return i % 6 == 2 and i - 1 >= first


class Collections:
    """The time Python's cyclic garbage collector takes (timed by its callbacks) while `on`; it is spent inside
    the phases, so it is shown beside them, not added to them."""

    def __init__(self) -> None:
        self.seconds, self.on, self._start = 0.0, False, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self.on:
            self.seconds += time.perf_counter() - self._start

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


Row = tuple[str, float, float | None, int | None]
PHASES: dict[int, dict[str, float]] = {}  # window -> phase -> microseconds per story
GC_COLUMN = "collector"
LOOP_COLUMN = "loop ms*"


def loop_ms() -> float:
    """Milliseconds a fixed piece of pure Python takes (the best of three): the machine's speed at that moment. The
    machines here are shared and their speed moves by up to 2x within seconds; this tells a slow spell during a
    timed cycle from a slow change (4.2 ms on a quiet machine here, 2026-12-04)."""
    import timeit

    return min(timeit.repeat("sum(i * i for i in range(100_000))", number=1, repeat=3)) * 1e3
PEAK: dict[int, float] = {}  # window -> peak RSS (MiB) after the timed cycle, before the restarts
RESTART: dict[int, list[tuple[float, bool, float]]] = {}  # window -> per restart: (seconds to its first story,
# copy found, peak RSS in MiB of the restarted process)


def filled(state: Path, window: int, vocab: list[str]) -> tuple[SqliteStore, Deduper]:
    """A state file and Deduper holding a window of `window` distinct stories, filled in cycles of 5,000 (each
    followed by a checkpoint), as the worker would; its timings zeroed."""
    from pipeline.dedup.core import Deduper
    from pipeline.progress import Progress
    from pipeline.state.sqlite import SqliteStore
    from pipeline.testing import make_story

    store = SqliteStore(state)
    d = Deduper(store, window=10**9, capacity=max(window, 250_000))  # as `dedup.capacity` would set it
    with Progress(f"filling a window of {window:,}", total=window) as bar:
        for start in range(0, window, 5000):
            with store.batch():
                texts = [story_at(i, vocab) for i in range(start, min(window, start + 5000))]
                for _ in d.add_all(stories_of(make_story, texts, start, "w", "", 1.0)):
                    pass
            store.checkpoint()  # as the worker does after each cycle
            bar.done = min(window, start + 5000)
    d.timings = dict.fromkeys(d.timings, 0.0)
    return store, d


def by_kind(window: int, measure: int, rounds: int = 3) -> list[tuple[str, float, dict[str, float], float]]:
    """What a story costs by kind: on one window, cycles of `measure` stories of one kind each (new stories;
    copies of window stories; new stories each followed by a copy of it, in one cycle), `rounds` times in turn
    so the machine's drift falls on all three. Per kind: stories/s over its cycles, µs per story by phase, and
    the share of copies put into their original's cluster (1.0 for new stories when none was merged)."""
    from pipeline.testing import make_story

    rng = random.Random(SEED)
    vocab = vocabulary(30_000, rng)
    kinds = ("new stories", "copies of window stories", "new, each followed by its copy")
    took = dict.fromkeys(kinds, 0.0)
    phases: dict[str, dict[str, float]] = {k: {} for k in kinds}
    right = dict.fromkeys(kinds, 0)
    with tempfile.TemporaryDirectory() as tmp:
        store, d = filled(Path(tmp) / "s.db", window, vocab)
        base = window
        for _ in range(rounds):
            for kind in kinds:
                texts: list[tuple[str, str]] = []
                origin: list[int] = []
                for i in range(measure):
                    if kind == kinds[1]:
                        origin.append(rng.randrange(window))
                        texts.append(syndicate(*story_at(origin[-1], vocab), rng))
                    elif kind == kinds[2] and i % 2:
                        texts.append(syndicate(*texts[-1], rng))
                    else:
                        texts.append(story_at(base + i, vocab))
                stories = stories_of(make_story, texts, base, "k", "x", 2.0)
                base += measure
                d.timings = dict.fromkeys(d.timings, 0.0)
                t0 = time.perf_counter()
                with store.batch():
                    outs = list(d.add_all(stories))
                took[kind] += time.perf_counter() - t0
                store.checkpoint()
                for phase, spent in d.timings.items():
                    phases[kind][phase] = phases[kind].get(phase, 0.0) + spent
                for i, out in enumerate(outs):
                    assert out is not None
                    if kind == kinds[0]:
                        right[kind] += out.reason == "new-cluster"
                    elif kind == kinds[1]:
                        right[kind] += out.cluster.id == store.story_cluster(story_id("w", origin[i]))[0]  # type: ignore[index]
                    elif i % 2:
                        right[kind] += out.cluster.id == outs[i - 1].cluster.id  # type: ignore[union-attr]
        store.close()
    n = measure * rounds
    copies = {kinds[0]: n, kinds[1]: n, kinds[2]: n // 2}
    return [(k, n / took[k], {p: v / n * 1e6 for p, v in phases[k].items()}, right[k] / copies[k]) for k in kinds]


def run(window: int, measure: int, naive_max: int, cycles: int = 1) -> list[Row]:
    from pipeline.dedup.normalize import norm_title
    from pipeline.testing import make_story

    rng = random.Random(SEED)
    vocab = vocabulary(30_000, rng)
    total = measure * cycles
    origin = {i: rng.randrange(window) for i in range(0, total, 3)}  # probe -> the window story it copies
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        store, d = filled(Path(tmp) / "s.db", window, vocab)
        took = checkpoint = checkpoint_cpu = 0.0
        found = merged = copies = 0
        collections = Collections()
        probe: list[tuple[str, str]] = []
        loops: list[float] = []
        for c in range(cycles):  # each cycle's stories made just before it, so RSS stays the deduper's
            texts: list[tuple[str, str]] = []
            for i in range(c * measure, (c + 1) * measure):
                if i in origin:
                    texts.append(syndicate(*story_at(origin[i], vocab), rng))
                elif in_cycle(i, c * measure):
                    texts.append(syndicate(*texts[-1], rng))
                else:
                    texts.append(story_at(window + i, vocab))
            probe = probe if c else texts  # the first cycle's, for the naive baseline
            stories = stories_of(make_story, texts, c * measure, "p", "x", 2.0)
            loops.append(loop_ms())
            t0, collections.on = time.perf_counter(), True
            with store.batch():  # one cycle, one transaction, as DedupStories runs it
                outs = list(d.add_all(stories))
            took, collections.on = took + time.perf_counter() - t0, False
            loops.append(loop_ms())
            t0, cpu = time.perf_counter(), time.process_time()
            store.checkpoint()  # as the worker does once the cycle's alerts are sent: not in the rate
            checkpoint += time.perf_counter() - t0
            checkpoint_cpu += time.process_time() - cpu
            for i, out in enumerate(outs, c * measure):
                assert out is not None
                if i in origin:
                    found += out.cluster.id == store.story_cluster(story_id("w", origin[i]))[0]  # type: ignore[index]
                elif in_cycle(i, c * measure):
                    before = outs[i - 1 - c * measure]
                    found += before is not None and out.cluster.id == before.cluster.id
                    copies += 1
                else:
                    merged += out.reason != "new-cluster"
        rate = total / took
        PHASES[window] = {k: v / total * 1e6 for k, v in d.timings.items()}
        PHASES[window]["checkpoint*"] = checkpoint / total * 1e6
        PHASES[window]["checkpoint CPU*"] = checkpoint_cpu / total * 1e6
        PHASES[window][GC_COLUMN] = collections.seconds / total * 1e6
        PHASES[window][LOOP_COLUMN] = sum(loops) / len(loops)
        collections.close()
        rows.append(("newswatch Deduper (with SQLite state)", rate, found / (len(origin) + copies), merged))
        with_checkpoint = 1 / (1 / rate + PHASES[window]["checkpoint*"] / 1e6)
        rows.append(("  the same, counting the checkpoint after it", with_checkpoint, None, None))
        PEAK[window] = peak_mib()
        saved = Path(tmp) / "s.db.keytable.npz"
        d.saved = saved
        d.save_index()  # what the worker does at a graceful stop
        store.close()
        # A restart is a new process: the state file and the saved key table stay, this process's memory goes.
        RESTART[window] = [restart(Path(tmp) / "s.db", saved if keep else None, window, n)
                           for n, keep in enumerate((False, True))]  # after a crash (table rebuilt), a graceful stop
    if window <= naive_max:
        titles = [norm_title(story_at(i, vocab)[0]) for i in range(window)]
        t0 = time.perf_counter()
        for t, _ in probe:
            process.extractOne(norm_title(t), titles, scorer=fuzz.token_set_ratio, score_cutoff=76)
        rows.append(("naive pairwise token_set_ratio", len(probe) / (time.perf_counter() - t0), None, None))
    return rows


def restart(state: Path, saved: Path | None, window: int, n: int) -> tuple[float, bool, float]:
    """Restart `n` in a new process: (seconds from opening the state to the first story's result, its original
    found, the process's peak RSS in MiB)."""
    res = subprocess.run([sys.executable, __file__, "--restart-of", str(state), str(saved or ""), str(window), str(n)],
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"restart {n} failed:\n{res.stderr[-3000:]}")
    took, found, peak = res.stdout.split()
    return float(took), found == "yes", float(peak)


def restarted(state: Path, saved: Path | None, window: int, n: int) -> str:
    """In the new process: open the state file with a new store and Deduper and add a copy of window story
    `window // 2 + n`; the first story pays for rebuilding the in-memory identity index and the key table
    (loading the saved table instead, after a graceful stop)."""
    from pipeline.dedup.core import Deduper
    from pipeline.state.sqlite import SqliteStore
    from pipeline.testing import make_story

    vocab = vocabulary(30_000, random.Random(SEED))  # the window's words, as `run` made them
    original = window // 2 + n
    copy = make_story(*syndicate(*story_at(original, vocab), random.Random(SEED + n)), "outletz",
                      sid=story_id("r", n), link=link("r", n), guid=link("r", n), fetched=3.0, published=3.0)
    t0 = time.perf_counter()
    store = SqliteStore(state)
    with store.batch():
        first = Deduper(store, window=10**9, capacity=max(window, 250_000), saved=saved).add(copy)
    took = time.perf_counter() - t0
    assert first is not None
    found = first.cluster.id == store.story_cluster(story_id("w", original))[0]  # type: ignore[index]
    store.close()
    return f"{took} {'yes' if found else 'no'} {peak_mib()}"


SEED_ARTICLE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "kherson-syndicated-article.txt"


UKRAINIAN = ("Херсонська обласна військова адміністрація оголосила примусову евакуацію мешканців прибережних "
             "сіл. Російські війська знову обстріляли Херсон: пошкоджено житлові будинки та об’єкти "
             "інфраструктури, повідомив очільник області. ")  # made up, in Cyrillic as Ukrainian feeds write


def leads() -> list[tuple[str, float, float]]:
    """(text, µs for its lead now, µs the way before) for texts of growing length, and a Cyrillic one."""
    import timeit
    import unicodedata

    from pipeline.dedup.normalize import _QUOTES, _WORD, lead, strip_boilerplate

    table = str.maketrans(dict(_QUOTES))

    def fold_before(text: str) -> str:  # NFKC first, quotes with a translation table
        if text.isascii():
            return text.lower()
        text = unicodedata.normalize("NFKC", text).translate(table).casefold()
        if text.isascii():
            return text
        decomposed = unicodedata.normalize("NFKD", text)
        return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))

    def before(text: str) -> str:  # the whole text stripped, quotes mapped with a translation table
        return " ".join(_WORD.findall(fold_before(strip_boilerplate(text.translate(table))))[:60])

    if SEED_ARTICLE.exists():
        article, name = SEED_ARTICLE.read_text(encoding="utf-8"), "seed article"
    else:  # without ../shared: made-up words with typographic quotes
        made = random.Random(SEED).choices(vocabulary(2000, random.Random(SEED)), k=800)
        article = " ".join(f"“{w}”" if i % 9 == 0 else w for i, w in enumerate(made))
        name = "made-up article"
    rows = []
    for label, text in ((f"{name}'s first 45 words", " ".join(article.split()[:45])),
                        (f"{name}, {len(article):,} characters", article),
                        (f"ten of it, {10 * len(article):,} characters", article * 10),
                        (f"Ukrainian text, {3 * len(UKRAINIAN):,} characters", UKRAINIAN * 3)):
        assert lead(text) == before(text), label
        now = min(timeit.repeat(lambda t=text: lead(t), number=20, repeat=5)) / 20 * 1e6
        old = min(timeit.repeat(lambda t=text: before(t), number=20, repeat=5)) / 20 * 1e6
        rows.append((label, now, old))
    return rows


def burst(m: int, copies: bool) -> tuple[float, int, float]:
    """(stories/s, clusters made, peak RSS in MiB) of one cycle of `m` copies of one story, or of `m` new
    stories, in a new process."""
    res = subprocess.run([sys.executable, __file__, "--burst-of", str(m), "copies" if copies else "new"],
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"burst failed:\n{res.stderr[-3000:]}")
    rate, clusters, peak = res.stdout.split()
    return float(rate), int(clusters), float(peak)


def bursting(m: int, copies: bool) -> str:
    """In the new process: one cycle of `m` stories on an empty state (see `burst`)."""
    from pipeline.dedup.core import Deduper
    from pipeline.state.sqlite import SqliteStore
    from pipeline.testing import make_story

    rng = random.Random(SEED)
    vocab = vocabulary(30_000, rng)
    texts = [syndicate(*story_at(0, vocab), rng) if copies else story_at(i, vocab) for i in range(m)]
    stories = [make_story(t, s, f"outlet{i}", sid=story_id("b", i), link=link("b", i), guid=link("b", i),
                          fetched=1.0, published=1.0) for i, (t, s) in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "s.db")
        d = Deduper(store, window=10**9, capacity=250_000)
        t0 = time.perf_counter()
        with store.batch():
            outs = list(d.add_all(stories))
        took = time.perf_counter() - t0
        store.close()
    clusters = len({o.cluster.id for o in outs if o is not None})
    return f"{m / took} {clusters} {peak_mib()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, nargs="*", default=[10_000, 100_000],
                    help="window sizes (none: skip them, e.g. to run only --burst)")
    ap.add_argument("--measure", type=int, default=3000, help="stories timed per window (default 3000)")
    ap.add_argument("--cycles", type=int, default=1,
                    help="timed cycles of --measure stories each (default 1; more average in the identity index's "
                         "periodic merges, as a long-running worker does)")
    ap.add_argument("--naive-max", type=int, default=100_000, help="largest window for the naive baseline")
    ap.add_argument("--burst", type=int, default=0, metavar="M",
                    help="also time one cycle of M copies of one story beside M new stories (default: not)")
    ap.add_argument("--by-kind", type=int, default=0, metavar="W",
                    help="also time cycles of one kind of story each (new, copies of window stories, new each "
                         "followed by its copy) on a window of W (default: not)")
    ap.add_argument("--worker-heap", action="store_true",
                    help="import the worker (Apache Beam and all) first, as the worker's process holds it: the "
                         "garbage collector's full collections walk those objects too (peak RSS then includes it)")
    ap.add_argument("--burst-of", nargs=2, metavar=("M", "KIND"), help=argparse.SUPPRESS)
    ap.add_argument("--restart-of", nargs=4, metavar=("STATE", "SAVED", "WINDOW", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.restart_of:  # a child process of `restart`
        state, saved, window, n = args.restart_of
        print(restarted(Path(state), Path(saved) if saved else None, int(window), int(n)))
        return 0
    if args.burst_of:  # a child process of `burst`
        print(bursting(int(args.burst_of[0]), args.burst_of[1] == "copies"))
        return 0
    print(f"on {interpreter()}\n")
    if args.worker_heap:
        print(f"with the worker imported: {worker_heap():,} objects tracked by the garbage collector\n")
    if args.windows:
        windows(args)
    print("\nthe lead of one text (normalize), microseconds: now (stripped in its opening) and before (the whole"
          "\ntext stripped, quotes mapped with str.translate, NFKC first in folding); the same lead either way")
    print(f"{'text':<44} {'now':>10} {'before':>10} {'speed-up':>9}")
    for label, now, old in leads():
        print(f"{label:<44} {now:>10.1f} {old:>10.1f} {old / now:>8.1f}x", flush=True)
    if args.by_kind:
        from pipeline.dedup.core import PHASES as phase_names

        print(f"\nby kind: cycles of {args.measure:,} stories of one kind each on a window of {args.by_kind:,}, three "
              "rounds in turn;\nstories/s, the share of copies found (of new stories: none merged), microseconds "
              "per story by phase")
        print(f"{'stories':<32} {'stories/s':>10} {'found':>6}" + "".join(f"{p:>13}" for p in phase_names))
        for name, rate, per, found in by_kind(args.by_kind, args.measure):
            print(f"{name:<32} {rate:>10.0f} {found:>6.3f}" + "".join(f"{per[p]:>13.1f}" for p in phase_names),
                  flush=True)
    if args.burst:
        print(f"\nburst: one cycle of {args.burst:,} stories on an empty state, each in a new process")
        print(f"{'stories':<40} {'stories/s':>10} {'clusters':>9} {'peak RSS MiB':>13}")
        for name, copies in ((f"{args.burst:,} copies of one story", True), (f"{args.burst:,} new stories", False)):
            rate, clusters, peak = burst(args.burst, copies)
            print(f"{name:<40} {rate:>10.0f} {clusters:>9} {peak:>13.0f}", flush=True)
    return 0


def windows(args: argparse.Namespace) -> None:
    """The window rows and tables (see the module's docstring)."""
    print(f"{'window':>9}  {'method':<46} {'stories/s':>10} {'copies found':>13} {'wrong merges':>13}"
          f" {'peak RSS MiB':>13}")
    for w in args.windows:
        for name, rate, recall, merges in run(w, args.measure, args.naive_max, args.cycles):
            rss = f"{PEAK[w]:.0f}" if name.startswith(("newswatch", "  the same")) else ""  # the baseline's: no
            rc = "" if recall is None else f"{recall:.3f}"
            mg = "" if merges is None else str(merges)
            print(f"{w:>9}  {name:<46} {rate:>10.0f} {rc:>13} {mg:>13} {rss:>13}", flush=True)
    phases = list(next(iter(PHASES.values())))
    print("\nwhere the newswatch Deduper's time goes, microseconds per story")
    print(f"{'window':>9}  " + "".join(f"{p:>16}" for p in phases) + f"{'total':>16}")
    for w, per in PHASES.items():
        timed = sum(v for p, v in per.items() if not p.endswith("*") and p != GC_COLUMN)
        print(f"{w:>9}  " + "".join(f"{per[p]:>16.1f}" for p in phases) + f"{timed:>16.1f}")
    print("* after the timed cycle, as the worker runs it once the cycle's alerts are sent (not in stories/s);\n"
          "  total: the timed phases (stories/s also includes the cycle's commit); collector: Python's cyclic garbage\n"
          "  collector during the timed cycle (spent inside the phases, not added to the total); loop ms: a fixed\n"
          "  piece of Python timed before and after each timed cycle (mean), the machine's speed then (4.2 quiet)")
    print("\nrestart: a new process opens the state file with a new store and Deduper; seconds to their first story,"
          "\na copy of a window story (found?), after a crash (key table rebuilt) and after a graceful stop (key table"
          "\nloaded); the restarted process's peak RSS")
    print(f"{'window':>9}  {'crash: s':>10} {'found':>6} {'graceful: s':>12} {'found':>6} {'peak RSS MiB':>13}")
    for w, ((crash, hit, peak), (graceful, hit2, peak2)) in RESTART.items():
        print(f"{w:>9}  {crash:>10.2f} {'yes' if hit else 'NO':>6} {graceful:>12.2f} {'yes' if hit2 else 'NO':>6}"
              f" {max(peak, peak2):>13.0f}")


if __name__ == "__main__":
    sys.exit(main())
