"""Benchmark: stories/s through rule matching as the number of rules grows, beside the naive "one regex per
rule" baseline, in one run; plus the time to load and compile the rules.

    python tests/benchmarks/bench_rules.py                        # 10, 1,000 and 10,000 rules
    python tests/benchmarks/bench_rules.py --rules 10 200 --stories 300 --naive-seconds 1   # the CI smoke run

Rules are generated from the gazetteer and a keyword list, written as YAML files and loaded with the
production loader (so "load" includes YAML, validation and gazetteer lookups): rule i watches the i-th most
populous town with a unique name (every gazetteer name of it, Cyrillic ones declined) for any of 3 keywords
(inflected). Stories are real UCI News Aggregator headlines with a paragraph of the seed article as text
(synthetic text when ../shared is absent); one in ten gets a "<town> <keyword>" sentence so rules fire (half
of those name one of the 10 biggest towns, which every row watches).

Rows per rule count: load (s), compile (s), newswatch Matcher stories/s and matches, and the baseline: per
rule one regex of its place names and one of its keywords (word boundaries, case-insensitive, written
forms only), searched story by story — timed on as many stories as fit in --naive-seconds.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared"
KEYWORDS = ["evacuat*", "flee", "shelling", "explosion", "blackout", "flood", "protest", "strike", "drone*",
            "curfew", "hostage*", "earthquake", "wildfire", "landslide", "cholera", "outbreak", "riot", "coup",
            "airstrike*", "missile*", "ceasefire", "refugee*", "looting", "kidnap", "sanction*", "blockade",
            "mobiliz*", "casualt*", "martial", "siege", "heatwave", "famine", "drought", "cyclone", "typhoon",
            "tsunami", "avalanche", "collapse", "derail*", "arrest"]


def towns(n: int) -> list[str]:
    """The `n` most populous gazetteer towns whose name resolves to exactly one place."""
    from pipeline.rules import gazetteer

    primary, _ = gazetteer._index()
    ranked = sorted((places[0] for places in primary.values() if len(places) == 1), key=lambda p: -p.population)
    out = []
    for p in ranked:
        if p.name.isascii() and gazetteer.resolve(p.name)[0] is p:
            out.append(p.name)
        if len(out) == n:
            break
    return out


def write_rules(directory: Path, n: int, places: list[str], rng: random.Random) -> None:
    chunks: list[str] = []
    for i in range(n):
        kws = rng.sample(KEYWORDS, 3)
        chunks.append(f"- id: r{i}\n  title: Rule {i}\n  match:\n    places: [\"{places[i % len(places)]}\"]\n"
                      f"    any: [{', '.join(kws)}]\n")
    for f in range(0, n, 500):  # 500 rules a file
        (directory / f"rules-{f // 500:03}.yaml").write_text("".join(chunks[f : f + 500]), encoding="utf-8")


def stories(n: int, places: list[str], rng: random.Random) -> list[str]:
    uci = SHARED / "data" / "news" / "uci-news-aggregator-2014-03-10.csv"
    seed = SHARED / "seed" / "kherson-syndicated-article.txt"
    if uci.is_file() and seed.is_file():
        with uci.open(encoding="utf-8", newline="") as f:
            titles = [r["TITLE"].replace("\\", "") for r in csv.DictReader(f)]
        paras = [p.strip() for p in seed.read_text(encoding="utf-8").split("\n\n") if len(p.split()) >= 20]
    else:
        vocab = [f"w{i}" for i in range(5000)]
        titles = [" ".join(rng.sample(vocab, 9)) for _ in range(2000)]
        paras = [" ".join(rng.sample(vocab, 60)) for _ in range(50)]
    out = []
    for i in range(n):
        text = f"{rng.choice(titles)}\n{rng.choice(paras)}"
        if i % 10 == 0:  # half of them name one of the first 10 towns, so every row has matches
            town = rng.choice(places[:10] if i % 20 == 0 else places)
            text += f" In {town}, {rng.choice(KEYWORDS).rstrip('*')} was reported."
        out.append(text)
    return out


def naive_matchers(rules: list[object]) -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
    out = []
    for r in rules:
        names = [t.text for p in r.places for t in p.terms]  # type: ignore[attr-defined]
        kws = [(re.escape(t.text[:-1]) + r"\w*") if t.prefix else re.escape(t.text) for t in r.any]  # type: ignore[attr-defined]
        out.append((re.compile(r"\b(?:" + "|".join(re.escape(n.rstrip("*")) for n in names) + r")\b", re.I),
                    re.compile(r"\b(?:" + "|".join(kws) + r")\b", re.I)))
    return out


def run(n_rules: int, texts: list[str], places: list[str], naive_seconds: float) -> list[str]:
    from pipeline.rules.loader import load_rules
    from pipeline.rules.match import Matcher

    rng = random.Random(n_rules)
    with tempfile.TemporaryDirectory() as tmp:
        write_rules(Path(tmp), n_rules, places, rng)
        t0 = time.perf_counter()
        loaded = load_rules(tmp)
        load_s = time.perf_counter() - t0
    assert loaded.ok and len(loaded.rules) == n_rules, loaded.problems[:3]
    t0 = time.perf_counter()
    matcher = Matcher(loaded.rules)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    matches = sum(len(matcher.match(t)) for t in texts)
    rate = len(texts) / (time.perf_counter() - t0)
    naive = naive_matchers(list(loaded.rules))
    done = naive_hits = 0
    t0 = time.perf_counter()
    for text in texts:
        naive_hits += sum(1 for p, k in naive if p.search(text) and k.search(text))
        done += 1
        if time.perf_counter() - t0 > naive_seconds:
            break
    naive_rate = done / (time.perf_counter() - t0)
    return [f"{n_rules:>7}  {load_s:>7.2f}  {compile_s:>8.2f}  {rate:>12.0f}  {matches:>8}  "
            f"{naive_rate:>14.1f}  {done:>8}  {naive_hits:>6}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", type=int, nargs="+", default=[10, 1_000, 10_000], help="rule counts")
    ap.add_argument("--stories", type=int, default=5000, help="stories matched per rule count (default 5000)")
    ap.add_argument("--naive-seconds", type=float, default=10.0, help="time budget of the baseline per row")
    args = ap.parse_args()
    rng = random.Random(5)
    t0 = time.perf_counter()
    places = towns(max(args.rules))
    print(f"gazetteer loaded and {len(places)} towns picked in {time.perf_counter() - t0:.1f} s")
    texts = stories(args.stories, places[: max(args.rules)], rng)
    print(f"{'rules':>7}  {'load s':>7}  {'compile s':>8}  {'newswatch/s':>12}  {'matches':>8}  "
          f"{'naive regex/s':>14}  {'stories':>8}  {'hits':>6}")
    for n in args.rules:
        for line in run(n, texts, places[:n], args.naive_seconds):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
