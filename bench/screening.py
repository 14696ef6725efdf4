"""Party screening figures: `python bench/screening.py [--json] [--data ../shared/data/screening]`."""

import typer

from concord.screening.bench import main

if __name__ == "__main__":
    typer.run(main)
