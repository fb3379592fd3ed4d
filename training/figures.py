"""The figures of the paper's experiments (training/experiments.py's numbers), as PNG files.

matplotlib with the Agg backend (no display needed); each function takes an experiment's result dict and
the path to write, and returns that path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = {"CDGMVAE": "tab:red", "GMVAE": "tab:blue"}
FACTORS = (("arousal", "r", "z_r"), ("valence", "k", "z_k"))


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def supervision_plot(result: dict, path: Path) -> Path:
    """Accuracy of q(y|x) against rho (log axis), one panel per factor, a line per setting; the bars span
    the seeds' lowest and highest accuracy."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, (factor, _, _) in zip(axes, FACTORS):
        for index, (setting, by_rho) in enumerate(result["table"].items()):
            rhos = sorted(by_rho, key=float)
            cells = [by_rho[r][factor] for r in rhos]
            mean = np.array([c["mean"] if c["mean"] is not None else np.nan for c in cells])
            low = mean - np.array([c["min"] if c["min"] is not None else np.nan for c in cells])
            high = np.array([c["max"] if c["max"] is not None else np.nan for c in cells]) - mean
            alpha, mi = result["settings"][setting]["alpha"], result["settings"][setting]["mi"]
            shift = 1.0 + 0.04 * (index - 0.5)  # side by side, so that equal values stay visible
            ax.errorbar([float(r) * shift for r in rhos], mean, yerr=[low, high], marker="o", capsize=3,
                        color=COLOURS.get(setting), label=f"{setting} (α = {alpha:g}, MI {'on' if mi else 'off'})")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xticks([float(r) for r in rhos], rhos)
        ax.minorticks_off()
        ax.set_xlabel("supervision rate ρ")
        ax.set_title(f"{factor} accuracy of q(y|x), validation")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def mode_collapse_plot(result: dict, path: Path) -> Path:
    """Left: the distance between the component means over training steps, a panel per factor, colour by
    setting, a line style per rho (seed 0's runs). Right: the share of clips assigned to one component."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    rhos = sorted({r["rho"] for r in result["runs"]})
    styles = dict(zip(rhos, ("-", "--", "-.", ":", (0, (1, 3)))))
    seed = min(r["seed"] for r in result["runs"])
    for ax, (factor, key, name) in zip(axes[:2], FACTORS):
        for run in result["runs"]:
            if run["seed"] == seed:
                ax.plot(run["steps"], run[f"distance_{key}"], color=COLOURS.get(run["setting"]),
                        ls=styles.get(run["rho"], "-"), label=f"{run['setting']}, ρ {run['rho']:g}")
        ax.set_xlabel("training step")
        ax.set_ylabel("‖μ_high − μ_low‖")
        ax.set_title(f"{name} ({factor}) component distance")
    axes[0].legend(fontsize=7)
    ax = axes[2]
    settings = list(COLOURS)
    width = 0.2
    for i, (factor, key, name) in enumerate(FACTORS):
        for j, setting in enumerate(settings):
            shares = [np.mean([r["one_component_share"][key] for r in result["runs"]
                               if r["setting"] == setting and r["rho"] == rho]) for rho in rhos]
            ax.bar(np.arange(len(rhos)) + (2 * i + j - 1.5) * width, shares, width, color=COLOURS[setting],
                   alpha=1.0 if i == 0 else 0.5, label=f"{setting}, {name} ({factor})")
        larger = result["larger_label_share"][key]
        if larger is not None:
            ax.axhline(larger, color="grey", lw=0.8, ls=":" if i == 0 else "--")
    ax.set_xticks(np.arange(len(rhos)), [f"ρ {r:g}" for r in rhos])
    ax.set_ylim(0, 1.05)
    ax.set_title("share of clips in one component")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def feature_swap_plot(result: dict, path: Path) -> Path:
    """A panel per swap; for each feature, the mean similarity with A and with B, against the clips (solid)
    and against the model's rendering of them (hatched)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    width = 0.2
    for ax, swap in zip(axes, ("rhythm", "key")):
        values = result["similarity"][swap]
        for i, feature in enumerate(("rhythm", "key")):
            for j, (basis, side) in enumerate((("original", "A"), ("original", "B"), ("reconstruction", "A"),
                                               ("reconstruction", "B"))):
                value = values[basis][feature][side]
                ax.bar(i + (j - 1.5) * width, value if value is not None else 0.0, width,
                       color="tab:orange" if side == "A" else "tab:green", hatch="//" if basis != "original" else None,
                       edgecolor="black", lw=0.5, label=f"with {side} ({basis})" if i == 0 else None)
        ax.set_xticks([0, 1], ["rhythm feature", "key feature"])
        what = "B's z_r, A's z_k" if swap == "rhythm" else "A's z_r, B's z_k"
        ax.set_title(f"{swap} swap ({what}), {result['pairs']} pairs")
        ax.set_ylim(0, 1.35)
        ax.set_yticks(np.linspace(0, 1, 6))
    axes[0].set_ylabel("cosine similarity (Eq 22)")
    axes[0].legend(fontsize=7, loc="upper center", ncol=2)
    return _save(fig, path)


def emotion_transfer_plot(result: dict, path: Path) -> Path:
    """Two heatmaps, target quadrant (rows) by the quadrant heard (columns): the reference classifier and
    q(y|x); each cell the count, shaded by its share of the row."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    titles = {"reference": "reference classifier hears", "model": "q(y|x) hears"}
    for ax, (judge, title) in zip(axes, titles.items()):
        matrix = result["confusion"][judge]
        names = list(matrix)
        counts = np.array([[matrix[t][h] for h in names] for t in names], dtype=float)
        shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                        color="white" if shares[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("heard")
        ax.set_ylabel("target (λ = 1)")
        ax.set_title(title)
    fig.suptitle(f"emotion transfer of {result['clips']} validation clips")
    return _save(fig, path)


def latent_plot(result: dict, name: str, factor: str, path: Path) -> Path:
    """t-SNE of the bars' `name` (z_r or z_k), coloured by the piece's `factor` label."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.6))
    points = np.array(result[name]).reshape(-1, 2)
    labels = np.array(result[factor])
    for value, colour, label in ((0, "tab:blue", "low"), (1, "tab:red", "high")):
        chosen = labels == value
        ax.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, color=colour, label=f"{factor} {label}")
    score = result["silhouette"].get(f"{name} by {factor}")
    ax.set_title(f"t-SNE of {name}, by {factor}" + (f" (silhouette {score:.3f})" if score is not None else ""))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, markerscale=2)
    return _save(fig, path)


def generation_plot(result: dict, path: Path) -> Path:
    """Per quadrant, H1, H4, GS and the reference classifier's quadrant accuracy of generated pieces beside
    the real clips."""
    plt = _pyplot()
    measures = (("h1", "H1 (bits)"), ("h4", "H4 (bits)"), ("gs", "GS"), ("reference_quadrant",
                                                                        "quadrant heard (reference)"))
    fig, axes = plt.subplots(1, len(measures), figsize=(14, 3.4))
    quadrants = list(result["rows"]["real"])
    for ax, (key, title) in zip(axes, measures):
        for j, kind in enumerate(("generated", "real")):
            values = [result["rows"][kind].get(q, {}).get(key, np.nan) for q in quadrants]
            ax.bar(np.arange(len(quadrants)) + (j - 0.5) * 0.38, values, 0.38, label=kind,
                   color="tab:purple" if kind == "generated" else "tab:grey")
        ax.set_xticks(range(len(quadrants)), quadrants)
        ax.set_title(title)
    axes[-1].set_ylim(0, 1.3)
    axes[-1].set_yticks(np.linspace(0, 1, 6))
    axes[-1].legend(fontsize=8, loc="upper center", ncol=2)
    return _save(fig, path)
