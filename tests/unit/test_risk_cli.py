"""`concord risk ...` end to end on small KCS-format files written by the test, and on the KCS sample."""

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from concord.risk.cli import app
from concord.risk.learning.datasets import load_kcs
from concord.risk.learning.model import evaluate
from concord.risk.learning.synthetic import synthetic_records

KCS = Path(__file__).resolve().parents[3] / "shared" / "data" / "kcs"
HEADER = ["Declaration ID", "Date", "Office ID", "Process Type", "Import Type", "Import Use", "Payment Type",
          "Mode of Transport", "Declarant ID", "Importer ID", "Seller ID", "Courier ID", "HS6 Code",
          "Country of Departure", "Country of Origin", "Tax Rate", "Tax Type", "Country of Origin Indicator",
          "Net Mass", "Item Price", "Fraud", "Critical Fraud"]
MODES = {"sea": "10", "air": "40", "road": "30"}


def write_kcs(path: Path, records) -> Path:
    """Synthetic records in the KCS CSV layout (Critical Fraud 2 = critical)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for r in records:
            w.writerow([r.declaration_id, r.when.date().isoformat(), r.office, "B", r.import_type, "21",
                        r.payment_type, MODES[r.mode], r.declarant, r.importer, r.seller or "", "", r.hs6,
                        r.departure, r.origin, r.tax_rate, r.tax_type, "E", r.net_mass, r.value, r.fraud,
                        2 if r.critical else r.fraud])
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("kcs")
    records = synthetic_records(2000, seed=21, days=100)
    return (write_kcs(d / "train.csv", records[:1200]), write_kcs(d / "valid.csv", records[1200:1600]),
            write_kcs(d / "test.csv", records[1600:]), d)


def test_the_kcs_adapter_reads_back_what_was_written(files):
    train, *_ = files
    records = load_kcs(train)
    r = records[0]
    assert len(records) == 1200 and r.mode in {"sea", "air", "road"} and len(r.hs6) == 6
    assert r.when.tzinfo == timezone.utc and r.fraud in (0, 1) and r.critical in (0, 1)
    assert r.courier is None  # empty cells are absent, not ""


def test_train_models_activate_rollback_drift_evaluate(files):
    train, valid, test, d = files
    models = d / "models"
    run = CliRunner().invoke
    fast = ["--params", '{"learning_rate": 0.3, "early_stopping_round": 10, "num_threads": 1}']
    for _ in range(2):
        out = run(app, ["train", "--train", str(train), "--valid", str(valid), "--models", str(models), "--json"] + fast)
        assert out.exit_code == 0, out.output
    trained = json.loads(out.stdout.strip().splitlines()[-1])
    assert trained["version"] == "v2" and isinstance(trained["new_lines_routed"], bool)
    bad = run(app, ["train", "--train", str(train), "--valid", str(valid), "--models", str(models), "--json",
                    "--new-lines", "sometimes"] + fast)
    assert bad.exit_code != 0 and "new-lines" in bad.output
    listed = json.loads(run(app, ["models", "--models", str(models), "--json"]).stdout)["versions"]
    assert [(v["version"], v["active"]) for v in listed] == [("v1", True), ("v2", False)]
    assert run(app, ["activate", "v2", "--models", str(models)]).exit_code == 2  # not compared with v1
    assert run(app, ["activate", "v2", "--models", str(models), "--force"]).exit_code == 0
    assert run(app, ["rollback", "--models", str(models)]).exit_code == 0
    assert run(app, ["activate", "v5", "--models", str(models)]).exit_code == 2  # bad input: the one exit code
    drift = run(app, ["drift", "--recent", str(test), "--models", str(models), "--json"])
    assert json.loads(drift.stdout)["version"] == "v1"
    result = run(app, ["evaluate", "--train", str(train), "--valid", str(valid), "--test", str(test), "--json",
                       "--resamples", "50", "--no-deduplicated"] + fast)
    metrics = json.loads(result.stdout)
    assert {"auc", "precision@1", "recall@5", "critical_recall@10"} <= set(metrics["all_split_concord"])
    assert set(metrics["subsets"]) == {"all", "repeated", "never_seen"} and "deduplicated" not in metrics
    assert {"concord", "plain_lightgbm", "lookup"} <= set(metrics["subsets"]["all"])


@pytest.mark.skipif(not (KCS / "train.csv").exists(), reason=f"the KCS benchmark data is not at {KCS}")
def test_evaluate_on_a_sample_of_the_kcs_files():
    # test.csv stays untouched: the last months of train.csv stand in for train/valid, valid.csv for test
    train = load_kcs(KCS / "train.csv")
    cut, start = datetime(2020, 11, 15, tzinfo=timezone.utc), datetime(2020, 9, 1, tzinfo=timezone.utc)
    early = [r for r in train if start <= r.when < cut]
    late = [r for r in train if r.when >= cut]
    result, _ = evaluate(early, late, load_kcs(KCS / "valid.csv")[:3000], {"learning_rate": 0.2, "early_stopping_round": 20})
    # a quarter of the history and a fast learning rate: well below the full run, far above chance
    assert result["auc"] > 0.85, result
    assert result["precision@5"] > 0.85, result


def test_the_cli_manages_the_registry_the_server_scores_with(files, tmp_path, monkeypatch):
    """With CONCORD_VAR_DIR set and no --models, `concord risk train --activate` writes where bootstrap reads."""
    from concord.bootstrap import bootstrap
    from concord.config import Settings, get_settings

    train, valid, _, _ = files
    monkeypatch.setenv("CONCORD_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["train", "--train", str(train), "--valid", str(valid), "--activate", "--json",
                                       "--params", '{"learning_rate": 0.3, "early_stopping_round": 5, '
                                                   '"num_threads": 1}'])
        assert out.exit_code == 0, out.output
        listed = json.loads(CliRunner().invoke(app, ["models", "--json"]).stdout)["versions"]
        assert [(v["version"], v["active"]) for v in listed] == [("v1", True)]
    finally:
        get_settings.cache_clear()
    hub = bootstrap(Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'hub.db'}"))
    try:
        with hub.sessions() as session:
            assert hub.bus.deps["risk"].models.current(session).version == "v1"
    finally:
        hub.close()


def test_the_kcs_confirmation_splits_by_date_and_never_reads_the_test_file(tmp_path):
    """`bench kcs-confirm`: each fold trains before its validation months and tests after them; test.csv is not
    read (here it is not even a CSV)."""
    from concord.bench.confirm import FOLDS, split
    from concord.cli import app as concord

    records = synthetic_records(3000, seed=5, days=330, start=datetime(2020, 5, 1, tzinfo=timezone.utc))
    early = [r for r in records if r.when.year == 2020]
    write_kcs(tmp_path / "train.csv", early)
    write_kcs(tmp_path / "valid.csv", [r for r in records if r.when.year == 2021])
    (tmp_path / "test.csv").write_text("not a CSV: the confirmation must not open it\n")
    for valid_from, test_from in FOLDS.values():
        train, valid, test = split(early, valid_from, test_from)
        assert len(train) + len(valid) + len(test) == len(early)
        assert max(r.when for r in train) < min(r.when for r in valid)
        assert not test or max(r.when for r in valid) < min(r.when for r in test)
    out = CliRunner().invoke(concord, ["bench", "kcs-confirm", "--json", "--data", str(tmp_path), "--resamples", "50"])
    assert out.exit_code == 0, out.output
    folds = json.loads(out.stdout)["folds"]
    assert set(folds) == set(FOLDS)
    assert folds["2021-q1"]["rows"]["test"] == len(records) - len(early)  # valid.csv is the second fold's test
    for fold in folds.values():
        seen = fold["never_seen"]
        assert seen["rows"] + fold["repeated"]["rows"] == fold["all"]["rows"] == fold["rows"]["test"]
        low, high = seen["concord_minus_plain_lightgbm"]["auc"]["interval"]
        assert low <= seen["concord_minus_plain_lightgbm"]["auc"]["point"] <= high


def test_the_kcs_confirmation_says_where_the_files_are(tmp_path):
    from concord.cli import app as concord

    out = CliRunner().invoke(concord, ["bench", "kcs-confirm", "--data", str(tmp_path)])
    assert out.exit_code != 0 and "give --data ../shared/data/kcs" in out.output


def test_undefined_metrics_are_null_in_the_json_not_nan(capsys):
    """Precision at 1 % of 32 rows, or AUC on one class, is undefined: printed as null, since `NaN` is not JSON
    and other readers refuse it."""
    from concord.risk.cli import _emit

    _emit({"auc": float("nan"), "precision@1": float("nan"), "at": [1.5, float("inf")], "n": 32}, True)
    printed = capsys.readouterr().out

    def refuse(constant):
        raise ValueError(constant)
    assert json.loads(printed, parse_constant=refuse) == {"auc": None, "precision@1": None, "at": [1.5, None], "n": 32}


FAST = ["--params", '{"learning_rate": 0.3, "early_stopping_round": 10, "num_threads": 1}']


def test_training_and_evaluating_refuse_splits_nothing_can_be_learnt_or_checked_on(files, tmp_path):
    """One outcome only in train (a constant model, active as the first version), an empty valid (no early stop,
    no figure), an empty test: each a one-line refusal, and nothing registered."""
    train, valid, test, _ = files
    records = load_kcs(train)
    compliant = write_kcs(tmp_path / "compliant.csv", [r for r in records if not r.fraud])
    header = write_kcs(tmp_path / "header.csv", [])
    models = tmp_path / "models"
    run = CliRunner().invoke
    refused = run(app, ["train", "--train", str(compliant), "--valid", str(valid), "--models", str(models)] + FAST)
    assert refused.exit_code == 2 and "all with `fraud` 0" in refused.output
    refused = run(app, ["train", "--train", str(train), "--valid", str(header), "--models", str(models)] + FAST)
    assert refused.exit_code == 2 and "valid holds no declarations" in refused.output
    assert not models.exists()
    refused = run(app, ["evaluate", "--train", str(train), "--valid", str(valid), "--test", str(header),
                        "--resamples", "50"] + FAST)
    assert refused.exit_code == 2 and "test holds no declarations" in refused.output
    # a valid split whose every goods line is in train: the deduplicated run has no valid rows, and says so
    repeated = write_kcs(tmp_path / "repeated.csv", records[-40:])
    out = run(app, ["evaluate", "--train", str(train), "--valid", str(repeated), "--test", str(test),
                    "--resamples", "50"] + FAST)
    assert out.exit_code == 0, out.output
    result = run(app, ["evaluate", "--train", str(train), "--valid", str(repeated), "--test", str(test), "--json",
                       "--resamples", "50"] + FAST)
    assert "no rows" in json.loads(result.stdout)["deduplicated"]["skipped"]


def test_a_model_that_cannot_load_is_never_activated_and_a_broken_activation_log_is_named(files, tmp_path):
    train, valid, _, _ = files
    models = tmp_path / "models"
    run = CliRunner().invoke
    for _ in range(2):
        assert run(app, ["train", "--train", str(train), "--valid", str(valid), "--models", str(models)]
                   + FAST).exit_code == 0
    (models / "versions" / "v2" / "model.zip").write_bytes(b"")  # a disk that lost it
    refused = run(app, ["activate", "v2", "--models", str(models), "--force"])
    assert refused.exit_code == 2 and "version v2 cannot be loaded" in refused.output
    assert run(app, ["activate", "v1", "--models", str(models)]).exit_code == 0  # already active: not logged again
    assert len((models / "activations.jsonl").read_text().splitlines()) == 1
    with open(models / "activations.jsonl", "a") as log:
        log.write('{"action": "activate", "vers')  # a crash in the middle of an append
    listed = run(app, ["models", "--models", str(models)])
    assert listed.exit_code == 2 and "activations.jsonl line 2 is not an activation" in listed.output


def test_the_kcs_confirmation_names_files_that_do_not_cover_its_folds(tmp_path):
    from concord.cli import app as concord

    records = synthetic_records(300, seed=3, days=20, start=datetime(2020, 1, 1, tzinfo=timezone.utc))
    write_kcs(tmp_path / "train.csv", records)
    write_kcs(tmp_path / "valid.csv", records)
    out = CliRunner().invoke(concord, ["bench", "kcs-confirm", "--data", str(tmp_path), "--resamples", "50"])
    assert out.exit_code == 2 and "fold 2020-nov-dec has 300 train, 0 valid and 0 test rows" in out.output


def test_simulate_checks_its_options_before_minutes_of_retraining(files, tmp_path):
    train, valid, _, _ = files
    run = lambda *extra: CliRunner().invoke(app, ["simulate", "--train", str(train), "--stream", str(valid),  # noqa: E731
                                                   "--png", str(tmp_path / "sim.png"), *extra])
    for extra, words in ((["--rate", "nan"], "--rate is a share"), (["--explore", "-1"], "--explore a share"),
                         (["--rounds", "0"], "--rounds at"), (["--split-at", "notadate"], "YYYY-MM-DD"),
                         (["--png", str(tmp_path / "sim.csv")], "ending in .png")):
        out = run(*extra)
        assert out.exit_code == 2 and words in out.output, (extra, out.output)
    header = write_kcs(tmp_path / "header.csv", [])
    out = CliRunner().invoke(app, ["simulate", "--train", str(header), "--stream", str(valid), "--png",
                                   str(tmp_path / "sim.png")])
    assert out.exit_code == 2 and "train must not be empty" in out.output
    assert not (tmp_path / "sim.png").exists()


def test_params_lightgbm_refuses_are_named_before_any_file_is_read(tmp_path):
    unread = tmp_path / "unread.csv"
    unread.write_text("not read: the parameters are checked first\n")
    for params, words in (('{"learning_rate": -1}', "(learning_rate) > (0.0)"), ('{"num_leaves": 0}', "num_leaves"),
                          ('{"learning_rate": "fast"}', "Unknown token fast")):
        for command in (["train", "--models", str(tmp_path / "m")], ["evaluate", "--test", str(unread)]):
            out = CliRunner().invoke(app, [*command, "--train", str(unread), "--valid", str(unread),
                                           "--params", params], terminal_width=200)
            assert out.exit_code == 2 and "LightGBM refuses them" in out.output and words in out.output, out.output


def test_params_lightgbm_does_not_know_are_refused_with_the_closest_name_and_aliases_pass(tmp_path):
    unread = tmp_path / "unread.csv"
    unread.write_text("not read: the parameters are checked first\n")
    for command in (["train", "--models", str(tmp_path / "m")], ["evaluate", "--test", str(unread)]):
        def run(params):
            return CliRunner().invoke(app, [*command, "--train", str(unread), "--valid", str(unread),
                                            "--params", params], terminal_width=200)
        # LightGBM itself only logs "Unknown parameter" (silenced by verbose -1) and trains without it
        out = run('{"learnin_rate": 0.1, "num_leaves": 8, "zzz": 1}')
        words = " ".join(out.output.replace("│", " ").split())  # rich wraps the message in a box
        assert out.exit_code == 2 and "'learnin_rate' (did you mean 'learning_rate'?)" in words, out.output
        assert "'zzz'" in words and "num_leaves" not in words, out.output
        # names and aliases LightGBM knows pass the check, and the file is read (and refused) next
        out = run('{"eta": 0.3, "num_leaves": 8, "max_leaves": 8, "verbose": 0, "early_stopping_rounds": 5, '
                  '"n_jobs": 1}')
        assert out.exit_code == 2 and "lacks the KCS columns" in out.output and "--params" not in out.output, \
            out.output
