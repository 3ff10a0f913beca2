"""`--plot FILE.svg|png`: the same figures drawn by matplotlib, an optional extra."""

from pathlib import Path

from sert_cli.errors import InputError, ModelError
from sert_cli.render.figure import Figure

PLOT_SUFFIXES = (".svg", ".png")


def check_plot_path(path: Path) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--plot {str(path)!r}: write the figure as .svg or .png")


def save(figures: list[Figure], path: Path) -> None:
    check_plot_path(path)
    try:
        import matplotlib
    except ImportError:
        raise ModelError("--plot needs matplotlib: from a clone, pip install '.[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, axes = pyplot.subplots(len(figures), 1, figsize=(8, 3.6 * len(figures)), squeeze=False)
    for ax, figure in zip(axes[:, 0], figures, strict=True):
        for series in figure.series:
            ax.plot(series.x, series.y, label=series.label)
        for value, label in figure.hlines:
            ax.axhline(value, linestyle="--", color="grey", linewidth=0.8, label=label)
        for value, label in figure.vlines:
            ax.axvline(value, linestyle=":", color="grey", linewidth=0.8, label=label)
        if figure.y_range:
            ax.set_ylim(*figure.y_range)
        ax.set_title(figure.title, fontsize=10)
        ax.set_xlabel(figure.x_label)
        ax.set_ylabel(figure.y_label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise InputError(f"--plot {str(path)!r}: cannot write: {exc.strerror or exc}") from None
    finally:
        pyplot.close(fig)
