"""`newswatch feeds status`: per-feed health from the state store, as a table or JSON (pure formatting)."""

from __future__ import annotations

from pipeline.model import FeedSpec
from pipeline.sources.schedule import FeedState


def ago(seconds: float) -> str:
    """A short human duration: 45s, 12m, 3h, 2d."""
    s = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit}"
    return f"{s:.0f}s"


def status_rows(feeds: tuple[FeedSpec, ...], states: dict[str, FeedState], now: float) -> list[dict[str, object]]:
    """One row per configured feed (feeds never polled included), worst first."""
    rows: list[dict[str, object]] = []
    for f in feeds:
        st = states.get(f.url)
        if st is None or not st.last_attempt:
            rows.append({"feed": f.name or f.url, "url": f.url, "status": "never polled", "last_success": None,
                         "failures": 0, "interval_s": None, "items_per_day": None, "next_poll_in_s": 0,
                         "last_error": "", "moved_to": "", "quarantined": False, "items_seen": 0})
            continue
        status = "quarantined" if st.quarantined else ("failing" if st.failures else "ok")
        rows.append({
            "feed": f.name or f.url, "url": f.url, "status": status,
            "last_success": st.last_success or None, "failures": st.failures,
            "interval_s": round(st.interval) if st.interval else None,
            "items_per_day": round(st.items_per_day, 1), "next_poll_in_s": round(max(0.0, st.next_due - now)),
            "last_error": f"{st.last_error} ({ago(now - st.last_error_at)} ago)" if st.last_error else "",
            "moved_to": st.fetch_url if st.fetch_url and st.fetch_url != f.url else "",
            "quarantined": st.quarantined, "items_seen": st.items_seen,
        })
    order = {"quarantined": 0, "failing": 1, "never polled": 2, "ok": 3}
    return sorted(rows, key=lambda r: (order[str(r["status"])], str(r["feed"])))


def render_table(rows: list[dict[str, object]], now: float, width: int = 40) -> str:
    """A fixed-width table for a terminal."""
    head = f"{'FEED':<{width}} {'STATUS':<12} {'LAST OK':>8} {'FAILS':>5} {'EVERY':>6} {'ITEMS/D':>7} " \
           f"{'NEXT':>6}  LAST ERROR"
    lines = [head]
    for r in rows:
        feed = str(r["feed"])
        feed = feed if len(feed) <= width else feed[: width - 1] + "…"
        last = r["last_success"]
        lines.append(
            f"{feed:<{width}} {r['status']!s:<12} {(ago(now - float(last)) + ' ago') if last else '-':>8} "  # type: ignore[arg-type]
            f"{r['failures']!s:>5} {ago(float(r['interval_s'])) if r['interval_s'] else '-':>6} "  # type: ignore[arg-type]
            f"{r['items_per_day'] if r['items_per_day'] is not None else '-'!s:>7} "
            f"{ago(float(r['next_poll_in_s'])):>6}  {r['last_error']}"  # type: ignore[arg-type]
            + (f" [moved to {r['moved_to']}]" if r["moved_to"] else "")
        )
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    lines.append(f"{len(rows)} feeds: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)
