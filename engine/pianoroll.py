"""A piano-roll picture of bars of grid notes (matplotlib, no display needed)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cdgmvae.engine import vocab as V
from cdgmvae.engine.notes import GridNote

TRACK_COLOURS = ("#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd")


def save_pianoroll(bars: Sequence[Sequence[GridNote]], path: Path, title: str = "") -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, len(bars) * 0.9), 4.0), dpi=100)
    pitches = []
    for i, notes in enumerate(bars):
        for note in notes:
            start = i * V.POSITIONS_PER_BAR + note.position
            ax.broken_barh([(start, note.duration)], (note.pitch - 0.4, 0.8),
                           facecolors=TRACK_COLOURS[note.track], alpha=0.35 + 0.65 * note.velocity / 127)
            pitches.append(note.pitch)
    for i in range(len(bars) + 1):
        ax.axvline(i * V.POSITIONS_PER_BAR, color="#cccccc", linewidth=0.6, zorder=0)
    ax.set_xlim(0, max(1, len(bars)) * V.POSITIONS_PER_BAR)
    if pitches:
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xticks([i * V.POSITIONS_PER_BAR for i in range(len(bars))], [str(i + 1) for i in range(len(bars))])
    ax.set_xlabel("bar")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
