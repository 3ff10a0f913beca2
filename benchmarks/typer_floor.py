"""The floor for a Typer command-line tool: a bare app, nothing imported but typer.

`make bench` runs it with the same Python (and so the same Typer) as `sert`: a single
query should cost little more than this app printing its arguments. Its commands take
the arguments the benchmarked `sert` commands are given.
"""

import typer

app = typer.Typer()


@app.command()
def dose(drug: str, phenotype: str = "NM", format: str = "table") -> None:
    print(drug, phenotype, format)


@app.command()
def occupancy(drug: str, dose: float = 10.0, format: str = "table") -> None:
    print(drug, dose, format)


if __name__ == "__main__":
    app()
