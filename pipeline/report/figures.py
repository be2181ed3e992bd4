"""The report's plots, as SVG text to inline: learning curves, compile rate by temperature, lengths.

Made with matplotlib's object API (no pyplot, so no global figure state) and the Agg-free SVG
backend; a fixed hash salt keeps the files identical from run to run.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

_RC = {"svg.hashsalt": "latex-eqgen-report", "svg.fonttype": "path", "font.size": 9,
       "axes.spines.top": False, "axes.spines.right": False}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def learning_curves(curves: Mapping[str, Sequence[tuple[int, float]]], title: str = "") -> str | None:
    """Loss (nats a token) against training step, one line a series ({'train': [(step, loss)...], 'val': ...})."""
    if not any(curves.values()):
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 3.4))
        ax = fig.add_subplot()
        for name, pts in curves.items():
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o" if len(pts) < 30 else None, markersize=3, label=name)
        ax.set_xlabel("training step")
        ax.set_ylabel("cross-entropy (nats / token)")
        if title:
            ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        return _svg(fig)


def compile_by_temperature(rates: Mapping[str, Sequence[tuple[float, float]]]) -> str | None:
    """Compile rate (%) against temperature, one line a decoding mode ({'syntax-aware': [(T, rate)...]})."""
    if not any(rates.values()):
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(5.2, 3.2))
        ax = fig.add_subplot()
        for name, pts in rates.items():
            if pts:
                xs, ys = zip(*sorted(pts))
                ax.plot(xs, [100 * y for y in ys], marker="o", label=name)
        ax.set_xlabel("temperature")
        ax.set_ylabel("compile rate (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        return _svg(fig)


def length_histogram(series: Mapping[str, Sequence[int]], max_len: int = 200) -> str | None:
    """Distribution of equation lengths in tokens, as fractions, one step line a series."""
    if not any(series.values()):
        return None
    import numpy as np

    bins = np.arange(0, max_len + 10, 10)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.0, 3.2))
        ax = fig.add_subplot()
        for name, lengths in series.items():
            if lengths:
                h, _ = np.histogram(np.clip(lengths, 0, max_len), bins=bins)
                ax.step(bins[:-1], h / max(1, len(lengths)), where="post", label=f"{name} (n={len(lengths)})")
        ax.set_xlabel("length (tokens; longer ones in the last bin)")
        ax.set_ylabel("fraction of equations")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        return _svg(fig)
