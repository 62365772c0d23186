"""The HTML summary of a ``python -m tests.reliability`` run: the machine, a goal table, a few
plots (kills on the day's timeline and restart times; faults injected per segment; time to flat
per kill-switch drill) and every scenario's figures as JSON."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

__all__ = ["write_summary"]


def _crash_figures(result: dict[str, Any]) -> list[go.Figure]:
    kills = result.get("kills", [])
    timeline = go.Figure(
        go.Scatter(
            x=[k["killed_at"] for k in kills],
            y=[k["mode"] for k in kills],
            mode="markers",
            marker={"size": 12},
            text=[k.get("detail", "") for k in kills],
        )
    )
    timeline.update_layout(title="kill -9 points (market time, IST)", height=320)
    restarts = go.Figure(
        [
            go.Bar(name=process, y=seconds)
            for process, seconds in result.get("restart_wall_seconds", {}).items()
        ]
    )
    restarts.update_layout(
        title="wall seconds until back (restart, reconcile, warm-up)", height=320
    )
    return [timeline, restarts]


def _faults_figures(result: dict[str, Any]) -> list[go.Figure]:
    segments = result.get("segments", [])
    names = [f"{s['kind']} {s['market']}" for s in segments]
    injected = [sum(s["injected"].values()) for s in segments]
    requests = [
        sum(v for k, v in s["requests"].items() if not k.startswith("ws_")) for s in segments
    ]
    figure = go.Figure(
        [
            go.Bar(name="REST requests", x=names, y=requests),
            go.Bar(name="faults injected", x=names, y=injected),
            go.Bar(name="alerts", x=names, y=[s["alerts"] for s in segments]),
        ]
    )
    figure.update_layout(title="per segment: requests, faults injected, alerts", height=380)
    return [figure]


def _killswitch_figures(result: dict[str, Any]) -> list[go.Figure]:
    drills = result.get("drills", [])
    names = [f"{d['fired_at']} ({d['via']})" for d in drills]
    figure = go.Figure(
        [
            go.Bar(
                name="command → halted",
                x=names,
                y=[d["command_to_halted_seconds"] for d in drills],
            ),
            go.Bar(
                name="command → flat", x=names, y=[d["command_to_flat_seconds"] for d in drills]
            ),
        ]
    )
    figure.add_hline(y=2.0, line_dash="dash", annotation_text="goal 2 s")
    figure.update_layout(title="kill switch: wall seconds to flat", height=340)
    return [figure]


_FIGURES = {
    "crash": _crash_figures,
    "faults": _faults_figures,
    "killswitch": _killswitch_figures,
}


def write_summary(path: Path, document: dict[str, Any]) -> Path:
    """Write the summary page of ``document`` (what results.json holds) to ``path``."""
    parts = ["<h1>kitepilot reliability</h1>"]
    parts.append(f"<pre>{html.escape(json.dumps(document['machine'], indent=2))}</pre>")
    first = True
    for name, runs in document["results"].items():
        for n, result in enumerate(runs, start=1):
            met = result.get("goal_met")
            parts.append(f"<h2>{html.escape(name)} — run {n}: goal met: {met}</h2>")
            for figure in _FIGURES.get(name, lambda _: [])(result):
                parts.append(figure.to_html(full_html=False, include_plotlyjs=first))
                first = False
            text = json.dumps(result, indent=2, default=str)
            parts.append(
                f"<details><summary>figures</summary><pre>{html.escape(text)}</pre></details>"
            )
    page = "<!doctype html><meta charset='utf-8'><title>kitepilot reliability</title>"
    path.write_text(page + "\n".join(parts), encoding="utf-8")
    return path
