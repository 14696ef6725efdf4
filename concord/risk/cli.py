"""`concord risk ...`: train, evaluate, simulate, and manage model versions of the learned risk model."""

import json
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from concord.errors import ConcordError
from concord.risk.learning.datasets import load_dataset

app = typer.Typer(help="The learned risk model: train, evaluate, simulate, versions, drift.", no_args_is_help=True)
console = Console(stderr=True)  # progress and tables on stderr, so --json output stays clean on stdout

MODELS = typer.Option(None, "--models", help="model registry directory (default: the server's, "
                                              "{CONCORD_VAR_DIR}/models)")
DATASET = typer.Option("kcs", "--dataset", help="adapter for the historical files")
PARAMS = typer.Option("{}", "--params", help='LightGBM parameters over the defaults, as JSON: {"learning_rate": 0.1}')
NEW_LINES = typer.Option("valid", "--new-lines", help="goods lines without a known outcome: 'valid' scores them with "
                         "the cross-fitted booster if it ranks valid's new lines at least as well as the main model, "
                         "'always' does regardless, 'never' trains no booster")


def _registry(models: Path | None):
    """The model registry at --models, else the one the server scores with."""
    from concord.config import get_settings
    from concord.risk.learning.registry import ModelRegistry

    return ModelRegistry(models or get_settings().models_dir())


def _params(text: str) -> dict:
    from concord.risk.learning.params import parse_params

    try:
        return parse_params(text)
    except ConcordError as e:  # bad input to an option: typer's usage error, exit code 2
        raise typer.BadParameter(e.message) from None


def _emit(payload: dict, as_json: bool) -> None:
    from concord.cliutil import finite

    text = json.dumps(finite(payload), default=str, allow_nan=False)
    if as_json:
        print(text)
    else:
        console.print_json(text)


@contextmanager
def _progress():
    """A progress line on stderr (--json output stays clean): the stage, and the boosting rounds while training."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def step(stage: str, done: int | None = None, total: int | None = None) -> None:
            if stage == "training" and total:
                bar.update(task, description="training rounds (stops early)",
                           completed=done, total=total)
            else:
                bar.update(task, description=stage, completed=0, total=None)
        yield step


def _load(dataset: str, path: Path, step):
    step(f"reading {path.name}")
    return load_dataset(dataset, path)


def _fail(error: ConcordError) -> None:
    from concord.cliutil import fail

    fail(error)


@app.command()
def train(train: Path = typer.Option(None, "--train", exists=True, dir_okay=False),
          valid: Path = typer.Option(None, "--valid", exists=True, dir_okay=False),
          from_hub: bool = typer.Option(False, "--from-hub", help="train on the outcomes Concord recorded "
                                        "(CONCORD_DATABASE_URL) instead of --train/--valid"),
          dataset: str = DATASET, models: Path = MODELS, params: str = PARAMS, new_lines: str = NEW_LINES,
          activate: bool = typer.Option(False, "--activate", help="make the new version active"),
          as_json: bool = typer.Option(False, "--json")):
    """Train on --train, stop early on --valid (or on the hub's recorded outcomes), and register the version."""
    from concord.risk.learning.model import fit

    if not from_hub and (train is None or valid is None):
        raise typer.BadParameter("give --train and --valid, or --from-hub")
    params = _params(params)
    try:
        with _progress() as step:
            if from_hub:
                from concord.cliutil import hub
                from concord.risk.learning.hub import train_from_hub

                concord = hub()
                try:
                    with concord.sessions() as session:
                        model = train_from_hub(session, params, progress=step, new_lines=new_lines)
                finally:
                    concord.close()
                files = {"hub": "recorded outcomes"}
            else:
                from concord.risk.learning.model import check_splits

                splits = _load(dataset, train, step), _load(dataset, valid, step)
                check_splits(*splits)
                model = fit(*splits, params=params, progress=step, new_lines=new_lines)
                files = {"train": str(train), "valid": str(valid)}
        shown = {k: v for k, v in model.info.items() if k != "declarations_last"}  # ids for the feed: in the file only
        metrics = {**shown, "dataset": "hub" if from_hub else dataset, "files": files}
        registry = _registry(models)
        version = registry.register(model.to_bytes(), metrics, activate=activate)
    except ConcordError as e:
        _fail(e)
    # whether declarations of new goods lines go to the second booster (it ranked valid's new lines better)
    routes = (metrics.get("new_lines") or {}).get("routes", False)
    _emit({"version": version, "active": registry.active_version() == version, "new_lines_routed": routes,
           **metrics["valid"]}, as_json)


@app.command()
def evaluate(train: Path = typer.Option(..., "--train", exists=True, dir_okay=False),
             valid: Path = typer.Option(..., "--valid", exists=True, dir_okay=False),
             test: Path = typer.Option(..., "--test", exists=True, dir_okay=False),
             dataset: str = DATASET, params: str = PARAMS, new_lines: str = NEW_LINES,
             resamples: int = typer.Option(400, min=50, max=5000, help="bootstrap resamples for the intervals"),
             deduplicated: bool = typer.Option(True, "--deduplicated/--no-deduplicated",
                                               help="also train and test on the deduplicated splits"),
             as_json: bool = typer.Option(False, "--json")):
    """Train on --train, stop early on --valid, report on --test once: all, repeated and never-seen goods lines,
    beside plain LightGBM and a lookup table of earlier outcomes, with bootstrap intervals."""
    from concord.risk.learning.evaluation import honest_evaluate

    started, params = time.perf_counter(), _params(params)
    try:
        with _progress() as step:
            result = honest_evaluate(_load(dataset, train, step), _load(dataset, valid, step),
                                     _load(dataset, test, step), params, progress=step,
                                     resamples=resamples, deduplicated=deduplicated, new_lines=new_lines)
    except ConcordError as e:
        _fail(e)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if as_json:
        _emit(result, True)
        return
    _emit(result, False)
    Console().print(_subsets_table(result))


def _subsets_table(result: dict) -> Table:
    """The headline: each subset, each model, AUC / P@5 / P@10 with their 95 % intervals."""
    table = Table("test rows", "model", "AUC", "P@5", "P@10", title="never-seen goods lines lead; "
                  "repeated ones measure memory")
    sections = [(name, result["subsets"][name]) for name in ("never_seen", "repeated", "all")]
    if (dedup := result.get("deduplicated")) and "skipped" not in dedup:
        sections.append(("deduplicated splits", dedup))
    for name, sub in sections:
        for model in ("concord", "concord_main", "concord_routed", "concord_novel", "plain_lightgbm", "lookup"):
            if model in sub:
                m = sub[model]
                table.add_row(f"{name} ({sub['rows']})", model,
                              *[f"{_pct(m[k])} [{_pct(m['interval'][k][0])}, {_pct(m['interval'][k][1])}]"
                                for k in ("auc", "precision@5", "precision@10")])
    return table


@app.command()
def simulate(train: Path = typer.Option(..., "--train", exists=True, dir_okay=False, help="labelled history"),
             stream: list[Path] = typer.Option(..., "--stream", exists=True, dir_okay=False,
                                               help="declarations arriving week by week (repeatable)"),
             split_at: str = typer.Option(None, "--split-at", help="YYYY-MM-DD: --train records from this day "
                                          "on join the stream instead of the history"),
             dataset: str = DATASET, rate: float = typer.Option(0.1, help="share of declarations inspected"),
             explore: float = typer.Option(0.1, help="share of the inspections drawn at random"),
             rounds: int = typer.Option(150, help="boosting rounds of each weekly retraining"),
             png: Path = typer.Option(Path("var/risk-simulation.png"), "--png"),
             as_json: bool = typer.Option(False, "--json")):
    """Weekly human-in-the-loop selection: pure exploitation against model plus random exploration."""
    from concord.risk.learning.simulate import chart, simulate as run

    # checked before minutes of retraining, not after (NaN passes typer's bounds: every comparison is false)
    if not 0 < rate <= 1 or not 0 <= explore <= 1 or rounds < 1:
        _fail(ConcordError("--rate is a share above 0 and at most 1, --explore a share from 0 to 1, --rounds at "
                           f"least 1 (given {rate}, {explore}, {rounds})"))
    if png.suffix.lower() != ".png" or (png.exists() and png.is_dir()):
        _fail(ConcordError(f"--png {png}: give a file name ending in .png"))
    try:
        day = date.fromisoformat(split_at) if split_at else None
    except ValueError:
        _fail(ConcordError(f"--split-at {split_at!r}: give a day as YYYY-MM-DD"))
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        history = load_dataset(dataset, train)
        arriving = [r for path in stream for r in load_dataset(dataset, path)]
    except OSError as e:
        _fail(ConcordError(f"--png {png}: cannot write there ({e.strerror or e})"))
    except ConcordError as e:
        _fail(e)
    if day:
        arriving = [r for r in history if r.when.date() >= day] + arriving
        history = [r for r in history if r.when.date() < day]
    try:
        from concord.risk.learning.model import check_splits

        check_splits(history, [], checked=False)  # the first week's model learns from the history alone
    except ConcordError as e:
        _fail(e)

    def progress(policy, week):
        console.print(f"{policy:>28}  {week['week']}  precision {week['precision']:.3f}  "
                      f"caught {week['share_caught']:.3f}")

    result = run(history, arriving, rate, explore, rounds=rounds, progress=progress)
    result["history"], result["stream"] = _span(history), _span(arriving)
    try:
        chart(result, png)
    except OSError as e:  # a place the check above could not foresee (/proc, a full disk)
        _fail(ConcordError(f"--png {png}: cannot write there ({e.strerror or e}); the figures are above"))
    result["chart"] = str(png)
    if as_json:
        _emit(result, True)
        return
    for name, p in result["policies"].items():
        console.print(f"{name}: precision {p['precision']:.3f}, share of frauds caught {p['share_caught']:.3f}")
    console.print(f"chart: {png}")


def _span(records) -> dict:
    return {"declarations": len(records), "from": min(r.when for r in records).date().isoformat(),
            "to": max(r.when for r in records).date().isoformat()} if records else {"declarations": 0}


@app.command()
def models(models: Path = MODELS, as_json: bool = typer.Option(False, "--json")):
    """List model versions with their validation metrics; the active one is marked."""
    try:
        versions = (registry := _registry(models)).versions()
        if models is not None and not registry.root.is_dir():  # a mistyped --models: not "no versions"
            raise ConcordError(f"--models {models}: no model registry there (a directory `risk train` made)")
    except ConcordError as e:  # or a registry edited by hand
        _fail(e)
    if as_json:
        _emit({"versions": versions}, True)
        return
    table = Table("version", "active", "created", "best iter", "AUC", "P@5", "P@10", title=str(registry.root))
    for v in versions:
        m = v.get("valid", {})
        table.add_row(v["version"], "*" if v["active"] else "", str(v.get("created", "")),
                      str(v.get("best_iteration", "")), _pct(m.get("auc")), _pct(m.get("precision@5")),
                      _pct(m.get("precision@10")))
    Console().print(table)


def _pct(x) -> str:
    return "" if x is None or x != x else f"{x:.3f}"  # None or NaN: undefined on too few rows


@app.command()
def activate(version: str, models: Path = MODELS,
             recent: Path = typer.Option(None, "--recent", exists=True, dir_okay=False,
                                         help="recent declarations with outcomes to compare the two models on"),
             from_hub: bool = typer.Option(False, "--from-hub", help="compare on the outcomes Concord recorded"),
             dataset: str = DATASET,
             force: bool = typer.Option(False, "--force", help="activate without comparing with the active model")):
    """Make a model version the one that scores live declarations, once it ranks recent outcomes at least as
    well as the active one (champion / challenger)."""
    from concord.risk.learning.hub import challenge, hub_outcomes, require_win
    from concord.risk.learning.registry import load_model

    try:
        registry = _registry(models)
        champion = registry.active_version(missing_ok=True)
        try:  # --force skips the comparison, never this: a version that cannot load would fail every lodging
            challenger = load_model(registry.root, version)
        except ConcordError:
            raise
        except Exception as e:
            raise ConcordError(f"version {version} cannot be loaded ({e}); not activated") from None
        comparison = None
        if champion is not None and champion != version and not force:
            if recent is not None:
                records = load_dataset(dataset, recent)
            elif from_hub:
                from concord.cliutil import hub

                concord = hub()
                try:
                    with concord.sessions() as session:
                        records = [r for _, rs in hub_outcomes(session) for r in rs]
                finally:
                    concord.close()
            else:
                raise typer.BadParameter(f"{champion} is active: compare {version} with it on recent outcomes "
                                         "(--recent FILE or --from-hub), or --force")
            comparison = challenge(load_model(registry.root, champion), challenger, records)
            console.print_json(data={"champion": champion, "challenger": version, **comparison})
            require_win(comparison)
        console.print(f"active: {registry.activate(version, comparison=comparison)}")
    except ConcordError as e:
        _fail(e)


@app.command()
def rollback(models: Path = MODELS):
    """Return to the version that was active before the current one."""
    try:
        console.print(f"active: {_registry(models).rollback()}")
    except ConcordError as e:
        _fail(e)


@app.command()
def drift(recent: Path = typer.Option(..., "--recent", exists=True, dir_okay=False),
          dataset: str = DATASET, models: Path = MODELS, version: str = typer.Option(None, "--version"),
          as_json: bool = typer.Option(False, "--json")):
    """Compare the score and feature distributions of recent declarations with the training period."""
    from concord.risk.learning.registry import load_model

    try:
        model = load_model(_registry(models).root, version)
        if not (records := load_dataset(dataset, recent)):
            raise ConcordError(f"{recent} holds no declarations: there is nothing to compare with the training period")
        report = model.drift(records)
    except ConcordError as e:
        _fail(e)
    _emit({"version": model.version, **report}, as_json)


if __name__ == "__main__":
    app()
