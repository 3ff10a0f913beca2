"""Line charts drawn with characters, readable at 60-80 columns and without colour."""

import math
import textwrap

from sert_cli.render.figure import Figure

MARKERS = "*o+x#@"


def _ticks(low: float, high: float, most: int) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) between low and high."""
    span = high - low
    raw = span / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    count = int(math.floor((high - first) / step + 1e-9)) + 1
    return [round(first + i * step, 12) for i in range(count)]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.2e}"


def draw(figure: Figure, width: int = 80, height: int = 17) -> str:
    """The figure as text lines: a y axis, the plot area, an x axis and a legend."""
    xs = [x for s in figure.series for x in s.x]
    ys = [y for s in figure.series for y in s.y]
    if not xs:
        return f"{figure.title}\n(no data)\n"
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = figure.y_range or (min(0.0, min(ys)), max(ys) or 1.0)
    if x_high == x_low:
        x_high = x_low + 1.0
    if y_high == y_low:
        y_high = y_low + 1.0
    y_ticks = _ticks(y_low, y_high, 5) + [v for v, _ in figure.hlines if y_low <= v <= y_high]
    label_width = max(len(_fmt(v)) for v in y_ticks)
    plot_width = max(20, width - label_width - 3)
    grid = [[" "] * plot_width for _ in range(height)]

    def column(x: float) -> int:
        return round((x - x_low) / (x_high - x_low) * (plot_width - 1))

    def row(y: float) -> int:
        clipped = min(max(y, y_low), y_high)
        return height - 1 - round((clipped - y_low) / (y_high - y_low) * (height - 1))

    for value, _ in figure.hlines:
        if y_low <= value <= y_high:
            r = row(value)
            grid[r] = ["-" if c == " " else c for c in grid[r]]
    for value, _ in figure.vlines:
        if x_low <= value <= x_high:
            c = column(value)
            for r in range(height):
                grid[r][c] = ":" if grid[r][c] == " " else grid[r][c]
    for index, series in enumerate(figure.series):
        marker = MARKERS[index % len(MARKERS)]
        points = sorted(zip(series.x, series.y, strict=True))
        for c in range(plot_width):
            x = x_low + (x_high - x_low) * c / (plot_width - 1)
            if not points or x < points[0][0] or x > points[-1][0]:
                continue
            y = _interpolate(points, x)
            grid[row(y)][c] = marker
    lines = [*textwrap.wrap(figure.title, width), figure.y_label]
    tick_rows = {row(v): v for v in y_ticks}
    for r in range(height):
        label = _fmt(tick_rows[r]).rjust(label_width) if r in tick_rows else " " * label_width
        lines.append(f"{label} |{''.join(grid[r])}")
    lines.append(" " * label_width + " +" + "-" * plot_width)
    axis = [" "] * (plot_width + 8)
    for value in _ticks(x_low, x_high, 6):
        text = _fmt(value)
        start = min(max(column(value) - len(text) // 2, 0), plot_width - len(text))
        axis[start : start + len(text)] = text
    lines.append(" " * (label_width + 2) + "".join(axis).rstrip())
    lines.append(" " * (label_width + 2) + figure.x_label)
    legend = [f"{MARKERS[i % len(MARKERS)]} {s.label}" for i, s in enumerate(figure.series)]
    legend += [f"- {label}" for _, label in figure.hlines]
    legend += [f": {label}" for _, label in figure.vlines]
    line = ""
    for item in legend:  # wrapped by item, so no entry is cut in two
        if line and len(line) + 2 + len(item) > width:
            lines.append(line)
            line = item
        else:
            line = f"{line}  {item}" if line else item
    lines.append(line)
    return "\n".join(lines) + "\n"


def _interpolate(points: list[tuple[float, float]], x: float) -> float:
    low, high = 0, len(points) - 1
    while high - low > 1:
        middle = (low + high) // 2
        if points[middle][0] <= x:
            low = middle
        else:
            high = middle
    (x0, y0), (x1, y1) = points[low], points[high]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
