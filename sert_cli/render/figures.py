"""The charts of `simulate` and `curve`, as Figure specs for either renderer."""

from sert_cli.model.profile import Profile
from sert_cli.render.figure import Figure, Series
from sert_cli.units import percent
from sert_cli.vocabulary import (
    DEFAULT_TARGET,
    HOURS_PER_DAY,
    NOTABLE_OCCUPANCY,
    PRIMARY_TRANSPORTER,
)

# Terminal charts thin long series to this many points (the renderer interpolates).
CHART_POINTS = 400


def _thin(values: list[float], stride: int) -> list[float]:
    return values[::stride] + ([values[-1]] if (len(values) - 1) % stride else [])


def simulation_figures(record: dict, thin: bool = True) -> list[Figure]:
    t = record["t_h"]
    stride = max(1, len(t) // CHART_POINTS) if thin else 1
    days = [x / HOURS_PER_DAY for x in _thin(t, stride)]
    subject = (
        f"{record['drug']} {record['dose_mg']:g} mg every {record['interval_h']:g} h, "
        f"{record['doses']} doses"
    )
    occupancy = [
        Series(f"{name} occupancy", days, [v * 100 for v in _thin(values, stride)])
        for name, values in record["occupancy"].items()
        if values is not None and (name == PRIMARY_TRANSPORTER or max(values) >= NOTABLE_OCCUPANCY)
    ]
    concentration = [Series(record["drug"], days, _thin(record["c_plasma_ng_ml"], stride))]
    concentration += [
        Series(m["name"], days, _thin(m["c_plasma_ng_ml"], stride)) for m in record["metabolites"]
    ]
    last_dose_days = (record["doses"] - 1) * record["interval_h"] / HOURS_PER_DAY
    adaptation = []
    if "adaptation" in record:  # under the occupancy curve: the autoreceptor layer
        layer = record["adaptation"]
        adaptation = [
            Figure(
                title=f"5-HT1A autoreceptor adaptation (hypothesis, rat-derived): {subject}",
                x_label="days after the first dose",
                y_label="% of baseline",
                series=[
                    Series(
                        name.replace("_", " "), days, [v * 100 for v in _thin(layer[key], stride)]
                    )
                    for name, key in (
                        ("autoreceptor sensitivity", "autoreceptor_sensitivity"),
                        ("raphe firing", "firing_rate"),
                    )
                ],
                y_range=(0.0, 100.0),
                hlines=[],
                vlines=[(last_dose_days, "last dose")],
            )
        ]
    return [
        Figure(
            title=f"Transporter occupancy: {subject}",
            x_label="days after the first dose",
            y_label="occupancy, %",
            series=occupancy,
            y_range=(0.0, 100.0),
            hlines=[(DEFAULT_TARGET * 100, f"{percent(DEFAULT_TARGET)} target")],
            vlines=[(last_dose_days, "last dose")],
        ),
        Figure(
            title=f"Total plasma concentration: {subject}",
            x_label="days after the first dose",
            y_label="plasma, ng/mL",
            series=concentration,
            y_range=None,
            hlines=[],
            vlines=[(last_dose_days, "last dose")],
        ),
        *adaptation,
    ]


def figures_of(result, thin: bool = True) -> list[Figure]:
    """The figures of a simulation or of a dose-occupancy curve."""
    if result.query.kind == "simulate":
        return simulation_figures(result.record(), thin)
    if result.query.kind == "population":
        return [population_figure(result.record())]
    return [
        curve_figure(
            result,
            result.prepared.profile,
            t,
            DEFAULT_TARGET if t == PRIMARY_TRANSPORTER else None,
        )
        for t in result.notable_transporters()
    ]


def population_figure(record: dict) -> Figure:
    """The share of virtual patients in each 5-point band of occupancy."""
    transporter = record["transporter"]
    bands = record["histogram_5pp"][transporter]
    return Figure(
        title=f"{record['drug']} {record['dose_mg']:g} mg every {record['interval_h']:g} h: "
        f"{record['n']:,} virtual patients, {record['ancestry']}",
        x_label=f"{transporter} occupancy, % (5-point bands)",
        y_label="share of patients, %",
        series=[
            Series("patients", [5 * i + 2.5 for i in range(len(bands))], [b * 100 for b in bands])
        ],
        y_range=None,
        hlines=[],
        vlines=[(record["target"] * 100, f"{percent(record['target'])} target")],
    )


def curve_figure(table, profile: Profile, transporter: str, target: float | None) -> Figure:
    series = [
        Series(
            " ".join(f"{g} {p}" for g, p in column.items()) or profile.name,
            list(table.doses_mg),
            [row[i][transporter] * 100 for row in table.occupancy],
        )
        for i, column in enumerate(table.columns)
    ]
    per_dose = table.interval_h / HOURS_PER_DAY
    return Figure(
        title=f"{profile.name}: steady-state {transporter} occupancy by dose, every "
        f"{table.interval_h:g} h",
        x_label="dose per administration, mg",
        y_label=f"{transporter} occupancy, %",
        series=series,
        y_range=(0.0, 100.0),
        hlines=[] if target is None else [(target * 100, f"{percent(target)} target")],
        vlines=[
            (profile.label_min_mg * per_dose, "label minimum"),
            (profile.label_range_max_mg * per_dose, "label maximum"),
            *(
                [(profile.label_max_mg * per_dose, "this patient's label maximum")]
                if profile.label_max_mg < profile.label_range_max_mg
                else []
            ),
        ],
    )
