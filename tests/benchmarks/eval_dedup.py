"""Dedup quality on real headlines, beside string baselines, in one run.

    python tests/benchmarks/eval_dedup.py               # all of STS-B headlines train+dev and UCI 2014-03-10
    python tests/benchmarks/eval_dedup.py --limit 200   # the smoke version CI runs

newswatch is measured through `newswatch cluster`'s code path (the production DedupStories stage on Beam), so
the numbers include cross-story merges: every headline of a data set goes through one dedup state.

1. STS-B headline pairs (train + dev, people's similarity score; >= 4 counts as "same story"): precision,
   recall and F1 of "both headlines end up in the same cluster". Baselines score each pair alone: exact
   normalized title, and rapidfuzz token_set_ratio at its best threshold on this very data (an upper bound
   for that baseline).
2. UCI News Aggregator, 2014-03-10 (1,110 headlines, Google News story labels): pairwise precision of merges
   (merging two different stories hides an alert: the costly error), merged pairs, and clusters per true story
   (1.0 = every story in one cluster). Baselines cluster greedily (a headline joins the first cluster whose
   first headline it matches).

Reads ../shared/data/news; exits with a message when it is absent. Not yet here (issue 4 continues): the
synthetic syndication set and the datasketch MinHashLSH baseline.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from rapidfuzz import fuzz

NEWS = Path(__file__).resolve().parents[3] / "shared" / "data" / "news"


def sts_pairs(limit: int | None) -> list[tuple[str, str, bool]]:
    """(headline a, headline b, same story?) from STS-B headlines train + dev."""
    pairs = []
    for name in ("sts-train.headlines.tsv", "sts-dev.headlines.tsv"):
        with (NEWS / name).open(encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) >= 7:
                    pairs.append((row[5], row[6], float(row[4]) >= 4.0))
    return pairs[:limit] if limit else pairs


def uci_rows(limit: int | None) -> list[dict[str, str]]:
    """Rows of the UCI sample with a story label; titles un-escaped (the dump backslash-escapes punctuation)."""
    with (NEWS / "uci-news-aggregator-2014-03-10.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("STORY") and r.get("TIMESTAMP", "").isdigit()]
    for r in rows:
        r["TITLE"] = r["TITLE"].replace("\\", "")
    rows.sort(key=lambda r: int(r["TIMESTAMP"]))
    return rows[:limit] if limit else rows


def newswatch_clusters(stories: list[dict[str, object]]) -> dict[str, str]:
    """id -> cluster id through the production dedup stage."""
    from pipeline.app import cluster_file

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps(s) + "\n" for s in stories), encoding="utf-8")
        cluster_file(str(src), str(out), window=10**9)
        return {d["id"]: d["cluster_id"] for d in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


def prf(pred: list[bool], gold: list[bool]) -> tuple[float, float, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def eval_sts(limit: int | None) -> float:
    """Prints the STS-B table; returns token_set_ratio's best threshold (used for the UCI baseline)."""
    from pipeline.dedup.normalize import norm_title

    pairs = sts_pairs(limit)
    gold = [g for _, _, g in pairs]
    stories = [{"id": f"{i}{side}", "title": t, "source": f"outlet-{i}{side}", "published": 1_700_000_000 + i}
               for i, (a, b, _) in enumerate(pairs) for side, t in (("a", a), ("b", b))]
    clusters = newswatch_clusters(stories)
    ours = [clusters[f"{i}a"] == clusters[f"{i}b"] for i in range(len(pairs))]
    exact = [norm_title(a) == norm_title(b) for a, b, _ in pairs]
    scores = [fuzz.token_set_ratio(norm_title(a), norm_title(b)) for a, b, _ in pairs]
    best_t, best = 0, (0.0, 0.0, 0.0)
    for t in range(50, 101):
        r = prf([s >= t for s in scores], gold)
        if r[2] > best[2]:
            best_t, best = t, r
    print(f"\nSTS-B headlines train+dev: {len(pairs)} pairs, {sum(gold)} same-story (score >= 4)")
    print(f"{'method':<42} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name, r in (("newswatch (production dedup, one state)", prf(ours, gold)),
                    ("exact normalized title", prf(exact, gold)),
                    (f"token_set_ratio >= {best_t} (best threshold)", best)):
        print(f"{name:<42} {r[0]:>9.3f} {r[1]:>7.3f} {r[2]:>6.3f}")
    return best_t


def pair_stats(assign: dict[str, str], label: dict[str, str]) -> tuple[float, int, float]:
    """(pairwise merge precision, merged pairs, predicted clusters per true story)."""
    members: dict[str, list[str]] = defaultdict(list)
    for i, c in assign.items():
        members[c].append(i)
    good = total = 0
    for ids in members.values():
        for a, b in itertools.combinations(ids, 2):
            total += 1
            good += label[a] == label[b]
    per_story: dict[str, set[str]] = defaultdict(set)
    for i, c in assign.items():
        per_story[label[i]].add(c)
    spread = sum(len(v) for v in per_story.values()) / len(per_story)
    return (good / total if total else 1.0), total, spread


def greedy(titles: dict[str, str], same: object) -> dict[str, str]:
    """Leader clustering: each headline joins the first cluster whose leader it matches."""
    leaders: list[tuple[str, str]] = []
    out = {}
    for i, t in titles.items():
        hit = next((cid for cid, lt in leaders if same(t, lt)), None)  # type: ignore[operator]
        if hit is None:
            leaders.append((i, t))
            hit = i
        out[i] = hit
    return out


def eval_uci(limit: int | None, threshold: int) -> None:
    from pipeline.dedup.normalize import norm_title

    rows = uci_rows(limit)
    label = {r["ID"]: r["STORY"] for r in rows}
    stories = [{"id": r["ID"], "title": r["TITLE"], "source": r["PUBLISHER"] or r["HOSTNAME"],
                "link": r["URL"], "published": int(r["TIMESTAMP"]) / 1000} for r in rows]
    ours = newswatch_clusters(stories)
    titles = {r["ID"]: norm_title(r["TITLE"]) for r in rows}
    exact = greedy(titles, lambda a, b: a == b)
    tset = greedy(titles, lambda a, b: fuzz.token_set_ratio(a, b) >= threshold)
    print(f"\nUCI News Aggregator 2014-03-10: {len(rows)} headlines, {len(set(label.values()))} true stories")
    print(f"{'method':<42} {'merge precision':>15} {'merged pairs':>12} {'clusters/story':>14}")
    for name, assign in (("newswatch (production dedup)", ours), ("exact normalized title", exact),
                         (f"token_set_ratio >= {threshold} (greedy)", tset)):
        p, n, spread = pair_stats(assign, label)
        print(f"{name:<42} {p:>15.3f} {n:>12} {spread:>14.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="use only the first N pairs / headlines (smoke runs)")
    args = ap.parse_args()
    if not NEWS.is_dir():
        print(f"{NEWS}: data not found (../shared/data/news beside the repository); nothing to evaluate")
        return 0
    from pipeline.telemetry import setup_logging

    setup_logging(logging.WARNING)
    threshold = eval_sts(args.limit)
    eval_uci(args.limit, threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
