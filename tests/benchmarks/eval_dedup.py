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

3. A syndication set built from real texts by realistic edits: base stories take real headlines (STS-B pairs
   that people scored >= 4.6, so the partner headline is a real rewrite) and, for 40 of them, real paragraphs
   of the seed article as their text; each base gets 1-3 syndicated copies with 1-3 edits each (the
   partner headline, an outlet suffix, aggregator chrome, a photo caption, a dateline, a truncated text).
   Precision and recall of "copy in the same cluster as its original" over all pairs. Baselines: exact title,
   token_set_ratio at the STS-B threshold (greedy), and datasketch MinHashLSH on word shingles of headline and
   text (Jaccard threshold 0.5, 128 permutations).

Reads ../shared/data/news and ../shared/seed; exits with a message when they are absent.
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
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "kherson-syndicated-article.txt"
CHROME = ("Get all your news in one place. 100's of premium titles. One app. Start reading ",
          " Sign up to read this article Already a member? Sign in here Related Stories")
CAPTIONS = ("Houses destroyed in the village (AFP via Getty Images) ", "A medic at work (Photo: Reuters) ",
            "Residents queue for water (AP) ")
DATELINES = ("KYIV (Reuters) - ", "LONDON, March 10 (Reuters) - ", "WASHINGTON -- ", "Paris (AFP) - ")
SUFFIXES = (" - Reuters", " | inkl", " - BBC News", " – Mirror")


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
        print(f"{name:<42} {p:>15.4f} {n:>12} {spread:>14.2f}")


def syndication_set(rng_seed: int = 5, limit: int | None = None) -> list[dict[str, object]]:
    """Base stories and their syndicated copies; `group` is the true story."""
    import random

    rng = random.Random(rng_seed)
    rewrites = []
    for name in ("sts-train.headlines.tsv", "sts-dev.headlines.tsv"):
        with (NEWS / name).open(encoding="utf-8") as f:
            rewrites += [(r[5], r[6]) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                         if len(r) >= 7 and float(r[4]) >= 4.6]
    paras = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n") if len(p.split()) >= 15]
    texts = [" ".join(paras[i : i + 2]) for i in range(0, len(paras) - 1, 2)]  # disjoint texts
    from pipeline.dedup.normalize import norm_title

    # STS-B repeats some news events across pairs: keep one pair per event, so groups are distinct stories.
    distinct: list[tuple[str, str]] = []
    seen: list[str] = []
    for title, rewrite in rewrites:
        forms = [norm_title(title), norm_title(rewrite)]
        if any(fuzz.token_set_ratio(f, s) >= 80 for f in forms for s in seen):
            continue
        seen += forms
        distinct.append((title, rewrite))
    rows: list[dict[str, object]] = []
    for g, (title, rewrite) in enumerate(distinct[:limit] if limit else distinct):
        text = texts[g] if g < len(texts) else ""
        rows.append({"id": f"g{g}-0", "group": g, "title": title, "summary": text, "source": f"origin{g}"})
        for c in range(1, rng.randint(2, 4)):
            t, s = title, text
            for edit in rng.sample(("rewrite", "suffix", "chrome", "caption", "dateline", "truncate"),
                                   rng.randint(1, 3)):
                if edit == "rewrite":
                    t = rewrite
                elif edit == "suffix":
                    t += rng.choice(SUFFIXES)
                elif edit == "chrome" and s:
                    s = CHROME[0] + s + CHROME[1]
                elif edit == "caption" and s:
                    s = rng.choice(CAPTIONS) + s
                elif edit == "dateline" and s:
                    s = rng.choice(DATELINES) + s
                elif edit == "truncate" and s:
                    s = " ".join(s.split()[: max(20, len(s.split()) * 3 // 5)]) + "..."
            rows.append({"id": f"g{g}-{c}", "group": g, "title": t, "summary": s, "source": f"copy{g}-{c}"})
    return rows


def pairs_prf(assign: dict[str, object], group: dict[str, int]) -> tuple[float, float]:
    """Precision and recall of same-cluster pairs against the true groups."""
    ids = list(assign)
    tp = fp = fn = 0
    for a, b in itertools.combinations(ids, 2):
        same_pred, same_true = assign[a] == assign[b], group[a] == group[b]
        tp += same_pred and same_true
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def minhash_clusters(rows: list[dict[str, object]], threshold: float) -> dict[str, object]:
    """datasketch MinHashLSH baseline: each story joins the cluster of its first LSH neighbour."""
    from datasketch import MinHash, MinHashLSH

    from pipeline.dedup.normalize import lead, norm_title

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    out: dict[str, object] = {}
    for r in rows:
        tokens = (norm_title(str(r["title"])) + " " + lead(str(r.get("summary", "")))).split()
        shingles = {" ".join(tokens[i : i + 2]) for i in range(max(1, len(tokens) - 1))}
        m = MinHash(num_perm=128)
        for s in shingles:
            m.update(s.encode())
        hits = lsh.query(m)
        out[str(r["id"])] = out[hits[0]] if hits else r["id"]
        lsh.insert(str(r["id"]), m)
    return out


def eval_syndication(limit: int | None, threshold: int) -> None:
    from pipeline.dedup.normalize import lead, norm_title

    rows = syndication_set(limit=limit)
    group = {str(r["id"]): int(r["group"]) for r in rows}  # type: ignore[call-overload]
    stories = [{k: v for k, v in r.items() if k != "group"} | {"published": 1_700_000_000 + i}
               for i, r in enumerate(rows)]
    ours = newswatch_clusters(stories)
    titles = {str(r["id"]): norm_title(str(r["title"])) for r in rows}
    texts = {str(r["id"]): lead(str(r["summary"])) for r in rows}
    print(f"\nsyndication set: {len(set(group.values()))} stories, {len(rows)} copies and originals "
          f"({sum(1 for t in texts.values() if t)} with text)")
    print(f"{'method':<42} {'precision':>9} {'recall':>7}")
    for name, assign in (
        ("newswatch (production dedup)", ours),
        ("exact normalized title", greedy(titles, lambda a, b: a == b)),
        (f"token_set_ratio >= {threshold} (greedy)",
         greedy(titles, lambda a, b: fuzz.token_set_ratio(a, b) >= threshold)),
        ("datasketch MinHashLSH (J >= 0.5)", minhash_clusters(rows, 0.5)),
    ):
        p, r = pairs_prf(assign, group)  # type: ignore[arg-type]
        print(f"{name:<42} {p:>9.3f} {r:>7.3f}")
    with_text = {i for i in ours if texts[f"g{group[i]}-0"]}
    p, r = pairs_prf({i: ours[i] for i in with_text}, group)
    print(f"{'newswatch, the stories that have text':<42} {p:>9.3f} {r:>7.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="use only the first N pairs / headlines (smoke runs)")
    args = ap.parse_args()
    if not NEWS.is_dir() or not SEED.is_file():
        print(f"{NEWS}: data not found (../shared/data/news beside the repository); nothing to evaluate")
        return 0
    from pipeline.telemetry import setup_logging

    setup_logging(logging.WARNING)
    threshold = eval_sts(args.limit)
    eval_uci(args.limit, threshold)
    eval_syndication(args.limit, threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
