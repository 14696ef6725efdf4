"""Human in the loop: weekly batches, only inspected declarations reveal their outcome, retrain each week."""

from dataclasses import replace
from datetime import timedelta

import lightgbm as lgb
import numpy as np

from concord.risk.learning.features import featurize, fit_spec
from concord.risk.learning.history import HistoryProfiles
from concord.risk.learning.model import DEFAULT_PARAMS

# Weekly retraining has no validation set to stop on: a faster rate and a fixed number of rounds.
SIM_PARAMS = {**DEFAULT_PARAMS, "learning_rate": 0.1}
SIM_ROUNDS = 150


def weekly(records) -> list[list]:
    """Records grouped by ISO week (Monday to Sunday), in time order."""
    weeks: dict = {}
    for r in sorted(records, key=lambda r: r.ts):
        monday = (r.when - timedelta(days=r.when.weekday())).date()
        weeks.setdefault(monday, []).append(r)
    return [weeks[k] for k in sorted(weeks)]


def select(scores: np.ndarray, budget: int, explore: float, rng: np.random.Generator) -> np.ndarray:
    """Indices to inspect: the top (1 - explore) of the budget by score, the rest drawn at random."""
    n_random = int(round(budget * explore))
    order = np.argsort(-scores, kind="stable")
    chosen = order[:budget - n_random]
    rest = order[budget - n_random:]
    drawn = rng.choice(rest, size=min(n_random, len(rest)), replace=False) if n_random else rest[:0]
    return np.concatenate([chosen, drawn]).astype(np.int64)


def run_policy(history, weeks, rate: float, explore: float, *, rounds: int = SIM_ROUNDS, seed: int = 0,
               progress=None) -> list[dict]:
    """One policy over the weekly stream; returns per-week precision and share of frauds caught."""
    rng = np.random.default_rng(seed)
    history = list(history)
    spec = fit_spec(history)
    names, cats = spec.names(), spec.categorical_names()
    profiles = HistoryProfiles().observe(history)
    # a labelled row's features never change later (history is read as of its own time): cache them
    x_rows = [featurize(history, profiles, spec)]
    y_rows = [np.array([r.fraud for r in history])]
    results = []
    for week in weeks:
        data = lgb.Dataset(np.vstack(x_rows), np.concatenate(y_rows), feature_name=names,
                           categorical_feature=cats)
        booster = lgb.train(SIM_PARAMS, data, rounds)
        hidden = [replace(r, fraud=None, critical=None, revenue=None) for r in week]
        x = featurize(hidden, profiles, spec)
        budget = max(1, int(round(rate * len(week))))
        chosen = select(booster.predict(x, num_threads=1), budget, explore, rng)
        frauds = np.array([r.fraud for r in week])
        caught = int(frauds[chosen].sum())
        # outcomes of the week's inspections are known at its end, so no row of this week saw them
        week_end = int((week[-1].when + timedelta(days=1)).replace(hour=0, minute=0, second=0).timestamp())
        profiles.add_declarations(hidden)
        profiles.add_outcomes([week[i] for i in chosen], known_at=week_end)
        x_rows.append(x[chosen])
        y_rows.append(frauds[chosen])
        results.append({"week": week[0].when.date().isoformat(), "declarations": len(week),
                        "inspected": int(len(chosen)), "frauds": int(frauds.sum()), "caught": caught,
                        "precision": caught / len(chosen), "share_caught": caught / max(int(frauds.sum()), 1)})
        if progress:
            progress(results[-1])
    return results


def simulate(history, stream, rate: float = 0.1, explore: float = 0.1, *, rounds: int = SIM_ROUNDS,
             seed: int = 0, progress=None) -> dict:
    """Compare pure exploitation with (1 - explore) model + explore random, at an inspection rate `rate`."""
    weeks = weekly(stream)
    policies = {"exploitation": 0.0, f"{round((1 - explore) * 100)}% model + {round(explore * 100)}% random": explore}
    out = {"rate": rate, "weeks": len(weeks), "policies": {}}
    for name, share in policies.items():
        weeks_out = run_policy(history, weeks, rate, share, rounds=rounds, seed=seed,
                               progress=(lambda w, n=name: progress(n, w)) if progress else None)
        inspected = sum(w["inspected"] for w in weeks_out)
        caught = sum(w["caught"] for w in weeks_out)
        frauds = sum(w["frauds"] for w in weeks_out)
        out["policies"][name] = {"explore": share, "precision": caught / max(inspected, 1),
                                 "share_caught": caught / max(frauds, 1), "weekly": weeks_out}
    return out


def chart(result: dict, path) -> None:
    """Weekly precision and share of frauds caught per policy, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for name, policy in result["policies"].items():
        weeks = range(1, len(policy["weekly"]) + 1)
        axes[0].plot(weeks, [w["precision"] for w in policy["weekly"]], marker="o", ms=3, label=name)
        axes[1].plot(weeks, [w["share_caught"] for w in policy["weekly"]], marker="o", ms=3, label=name)
    for ax, title in zip(axes, ("precision of the inspected", "share of all frauds caught")):
        ax.set_title(title)
        ax.set_xlabel("week")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Human-in-the-loop selection, inspection rate {result['rate']:.0%}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
