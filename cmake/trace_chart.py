#!/usr/bin/env python3
"""Draws a pipeline trace (build_options::trace, `demo --trace`) as an SVG Gantt chart: a row
per thread with its calls coloured by stage, awaitable calls on rows of their own, and the
queues' occupancy as steps below. Python's standard library only.

    python3 cmake/trace_chart.py trace.json chart.svg [--from MS] [--span MS]

--from: where the window starts, in ms from the trace's start (default: the middle of the run
minus half the span); --span: how long it is (default 150 ms).
"""
import argparse
import json
import sys
from collections import defaultdict
from xml.sax.saxutils import escape

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("svg")
    ap.add_argument("--from", dest="start", type=float, default=None)
    ap.add_argument("--span", type=float, default=150.0)
    a = ap.parse_args()
    with open(a.trace) as f:
        events = json.load(f)["traceEvents"]

    names = {}                       # tid -> thread name
    slices = defaultdict(list)       # row -> [(start us, dur us, stage)]
    counters = defaultdict(list)     # queue -> [(t us, items)]
    begins = {}
    marks = []
    end = 0.0
    for e in events:
        ph = e.get("ph")
        if ph == "M" and e.get("name") == "thread_name":
            names[e["tid"]] = e["args"]["name"]
        elif ph == "X":
            slices[e["tid"]].append((e["ts"], e["dur"], e["name"]))
            end = max(end, e["ts"] + e["dur"])
        elif ph == "b":
            begins[e["id"]] = e
        elif ph == "e" and e["id"] in begins:
            b = begins.pop(e["id"])
            slices[("async", b["tid"])].append((b["ts"], e["ts"] - b["ts"], b["name"]))
        elif ph == "C":
            counters[e["name"]].append((e["ts"], e["args"]["items"]))
        elif ph == "i":
            marks.append((e["ts"], e["name"]))
    if not slices:
        sys.exit("trace_chart: no calls in " + a.trace)

    span = a.span * 1e3
    t0 = a.start * 1e3 if a.start is not None else max(0.0, end / 2 - span / 2)
    t1 = t0 + span

    # Rows: the loop first, then workers, then the loop's awaitable calls, each in lanes so that
    # overlapping async calls do not hide one another.
    def row_name(key):
        return names.get(key, f"thread {key}") if not isinstance(key, tuple) else \
            names.get(key[1], f"thread {key[1]}") + " (awaitable)"

    def order(key):
        n = row_name(key)
        return (isinstance(key, tuple), 0 if n.startswith("loop") else 1, n)

    rows = []
    for key in sorted(slices, key=order):
        visible = sorted(s for s in slices[key] if s[0] < t1 and s[0] + s[1] > t0)
        lanes = []  # each lane: its last end
        placed = []
        for s in visible:
            for i, last in enumerate(lanes):
                if s[0] >= last:
                    lanes[i] = s[0] + s[1]
                    placed.append((i, s))
                    break
            else:
                lanes.append(s[0] + s[1])
                placed.append((len(lanes) - 1, s))
        rows.append((row_name(key), max(1, len(lanes)), placed))

    stages = sorted({s[2] for key in slices for s in slices[key]})
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(stages)}
    width, left, lane_h, gap = 1100, 170, 14, 10
    x = lambda t: left + (min(max(t, t0), t1) - t0) / span * (width - left - 20)
    out = []
    y = 40
    for name, lanes, placed in rows:
        h = lanes * lane_h
        out.append(f'<text x="{left - 8}" y="{y + h / 2 + 4}" text-anchor="end">{escape(name)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{width - left - 20}" height="{h}" fill="#f4f4f4"/>')
        for lane, (ts, dur, stage) in placed:
            x0, x1 = x(ts), x(ts + dur)
            out.append(f'<rect x="{x0:.2f}" y="{y + lane * lane_h + 1}" width="{max(x1 - x0, 0.6):.2f}" '
                       f'height="{lane_h - 2}" fill="{colour[stage]}"><title>{escape(stage)}</title></rect>')
        y += h + gap
    # Queue occupancy: a step line per queue, scaled to the largest value in the window.
    y += 10
    chart_h = 90
    shown = {q: [p for p in pts if t0 <= p[0] <= t1] for q, pts in counters.items()}
    shown = {q: pts for q, pts in shown.items() if pts and max(v for _, v in pts) > 0}
    if shown:
        top = max(v for pts in shown.values() for _, v in pts)
        out.append(f'<text x="{left - 8}" y="{y + chart_h / 2}" text-anchor="end">queues (0-{top})</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{width - left - 20}" height="{chart_h}" fill="#f4f4f4"/>')
        for i, (q, pts) in enumerate(sorted(shown.items())):
            c = PALETTE[(i + 5) % len(PALETTE)]
            path = " ".join(f"{x(t):.1f},{y + chart_h - v / top * (chart_h - 4):.1f}" for t, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="1.2"/>')
            out.append(f'<text x="{left + 8 + i * 160}" y="{y + chart_h + 14}" fill="{c}">{escape(q)}</text>')
        y += chart_h + 24
    for ts, what in marks:
        if t0 <= ts <= t1:
            out.append(f'<line x1="{x(ts)}" x2="{x(ts)}" y1="30" y2="{y}" stroke="#333" stroke-dasharray="3,3"/>')
            out.append(f'<text x="{x(ts) + 3}" y="28">{escape(what)}</text>')
    # Time axis and legend.
    for k in range(6):
        t = t0 + span * k / 5
        out.append(f'<text x="{x(t)}" y="{y + 4}" text-anchor="middle">{(t - t0) / 1e3:.0f} ms</text>')
    y += 20
    for i, n in enumerate(stages):
        out.append(f'<rect x="{left + i * 150}" y="{y}" width="12" height="12" fill="{colour[n]}"/>')
        out.append(f'<text x="{left + i * 150 + 16}" y="{y + 11}">{escape(n)}</text>')
    y += 24
    title = f"spdl pipeline trace: {span / 1e3:.0f} ms from {t0 / 1e3:.0f} ms"
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
           f'font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n'
           f'<text x="{left}" y="16" font-size="13">{escape(title)}</text>\n' + "\n".join(out) + "\n</svg>\n")
    with open(a.svg, "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
