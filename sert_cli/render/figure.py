"""What a chart shows, independent of how it is drawn (terminal text or matplotlib)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Series:
    label: str
    x: list[float]
    y: list[float]


@dataclass(frozen=True)
class Figure:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    y_range: tuple[float, float] | None = None
    hlines: list[tuple[float, str]] = field(default_factory=list)
    vlines: list[tuple[float, str]] = field(default_factory=list)
