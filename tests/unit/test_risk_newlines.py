"""The live model's routing: new goods lines to the cross-fitted booster, its tables updated live and saved."""

import base64
import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from concord.errors import Conflict
from concord.risk.learning.crossfit import Coded, PriceNorms, goods_line
from concord.risk.learning.model import RiskModel, fit
from concord.risk.learning.newlines import PARTY, _strict, fit_new_lines
from concord.risk.learning.synthetic import synthetic_records
from concord.risk.learning.votetables import MERGE_AT, LineVoteTables

FAST = {"learning_rate": 0.3, "early_stopping_round": 10, "num_threads": 1}


@pytest.fixture(scope="module")
def split():
    records = synthetic_records(4000, seed=21, days=120)
    return records[:2500], records[2500:3200], [replace(r, fraud=None, critical=None) for r in records[3200:]]


@pytest.fixture(scope="module")
def routed_model(split):
    train, valid, _ = split
    model = fit(train, valid, params=FAST, new_lines="always")
    assert model.new_lines is not None and model.new_lines.routes, "valid has new lines enough to fit the map"
    return model


def test_tables_give_the_batch_encodings_and_price_norms_exactly():
    records = synthetic_records(2400, seed=5, days=80)
    labelled, asked = records[:1600], records[1600:] + records[:300]  # some asked rows' own lines are labelled
    x, names = LineVoteTables.fit(labelled, labelled).features(asked)
    coded = Coded(labelled + [replace(r, fraud=None) for r in records[1600:]] + records[:300])
    votes, vote_names, _ = coded.votes(np.arange(1600), np.arange(1600, 1600 + len(asked)))
    prices, price_names = PriceNorms(labelled).features(asked)
    assert names == vote_names + price_names
    np.testing.assert_allclose(x, np.hstack([votes, prices]), rtol=0, atol=1e-9)


def test_outcomes_added_one_by_one_equal_the_tables_fitted_at_once():
    records = synthetic_records(2000, seed=6, days=80)
    probe = synthetic_records(300, seed=7, days=80)
    whole = LineVoteTables.fit(records, records).features(probe)[0]
    grown = LineVoteTables.fit(records[:500], records)
    for r in records[500:]:
        grown.add_outcome(r)
    # fixed point: to the last bit, whatever the order and batching (two workers reading the same outcomes agree)
    assert np.array_equal(grown.features(probe)[0], whole, equal_nan=True)
    shuffled = LineVoteTables.fit(records[:500], records)
    rest = records[500:][::-1]
    shuffled.add_outcomes(rest[:700])
    shuffled.add_outcomes(rest[700:])
    assert np.array_equal(shuffled.features(probe)[0], whole, equal_nan=True)
    assert len(grown.pairs.recent_keys) < MERGE_AT  # merged into the big table past MERGE_AT, waiting below it


def test_a_recorded_outcome_moves_the_votes_of_the_next_new_line_of_its_groups():
    records = synthetic_records(1200, seed=8, days=60)
    tables = LineVoteTables.fit(records[:1000], records[:1000])
    first = records[1000]
    sibling = replace(first, declaration_id="next", value=first.value * 3 + 7)  # same importer, HS6: a new line
    before = tables.votes([sibling])[0]
    tables.add_outcome(replace(first, fraud=1))
    after, names = tables.votes([sibling])
    assert after[0, names.index("xf.importer")] > before[0, names.index("xf.importer")]
    # and the line itself is left out of its groups: it counts the importer's other lines only
    column = names.index("xf.importer.lines")
    assert after[0, column] > before[0, column] == tables.votes([first])[0][0, column]


def test_new_lines_go_to_the_booster_on_the_main_models_scale(routed_model, split):
    _, _, test = split
    model = routed_model
    sent = model.routed(test)
    live, main = model.score_records(test), model.main_scores(test)
    assert sent.any() and (~sent).any()
    assert np.array_equal(live[~sent], main[~sent])  # repeated lines: the main model, unchanged
    booster = model.new_lines
    chosen = [r for r, s in zip(test, sent) if s]
    assert np.allclose(live[sent], np.interp(booster.raw(chosen, model.features(chosen), model.spec.names()),
                                             booster.raw_q, booster.main_q))
    assert live[sent].min() >= booster.main_q[0] and live[sent].max() <= booster.main_q[-1]
    # one at a time (a live assessment) as in a batch
    one = next(i for i in range(len(test)) if sent[i])
    assert model.score_records([test[one]])[0] == pytest.approx(live[one])
    assert all(e["feature"].startswith(("xf.", "party.")) for e in model.explain(test[one]))


def test_the_map_is_monotone_and_increasing_where_booster_scores_tie():
    xs, ys = _strict(np.array([0.1, 0.1, 0.2, 0.2, 0.5]), np.array([0.01, 0.03, 0.05, 0.07, 0.9]))
    assert list(xs) == [0.1, 0.2, 0.5] and list(ys) == pytest.approx([0.02, 0.06, 0.9])


def test_save_load_gives_identical_scores_and_keeps_updating(routed_model, split):
    train, _, test = split
    model = RiskModel.from_bytes(routed_model.to_bytes())
    assert model.new_lines is not None
    assert np.array_equal(model.score_records(test), routed_model.score_records(test))
    # an outcome recorded on the loaded model reaches its line votes, as the history profiles
    sent = model.routed(test)
    target = test[int(np.flatnonzero(sent)[0])]
    sibling = replace(target, declaration_id="sib", net_mass=target.net_mass + 1.5)
    assert goods_line(sibling) != goods_line(target)
    before = model.new_lines.tables.votes([sibling])[0]
    model.record_outcome(replace(target, fraud=1, critical=0))
    assert not np.allclose(model.new_lines.tables.votes([sibling])[0], before)
    again = RiskModel.from_bytes(model.to_bytes())  # what was recorded is saved too
    assert np.array_equal(again.score_records(test), model.score_records(test))


def test_routing_off_is_the_main_model_alone(split):
    from concord.errors import ConcordError

    train, valid, test = split
    with pytest.raises(ConcordError, match="new-lines"):
        fit(train, valid, params=FAST, new_lines="sometimes")
    model = fit(train, valid, params=FAST, new_lines="never")
    assert model.new_lines is None and not model.routed(test).any()
    assert np.array_equal(model.score_records(test), model.main_scores(test))


def test_the_booster_routes_only_if_it_ranks_valid_new_lines_as_well_as_the_main_model(routed_model, split):
    train, valid, test = split
    gated = fit(train, valid, params=FAST)  # the default: decided on valid
    booster, main = (gated.new_lines.info["valid_routed"][k] for k in ("booster", "main"))
    wins = booster["auc"] >= main["auc"] and booster["precision@10"] >= main["precision@10"]
    assert gated.new_lines.routes == wins == gated.info["new_lines"]["routes"]
    # a booster that does not route leaves the main model's scores, and still scores new lines when asked
    off = RiskModel.from_bytes(routed_model.to_bytes())
    off.new_lines.info["routes"] = False
    assert np.array_equal(off.score_records(test), off.main_scores(test)) and not off.routed(test).any()
    assert np.array_equal(off.score_records(test, route=True), routed_model.score_records(test))
    assert not RiskModel.from_bytes(off.to_bytes()).new_lines.routes  # the decision is saved


@pytest.mark.parametrize("which", ["routed_model", "party_model"])
def test_a_declarations_own_label_never_reaches_its_score(which, request):
    routed_model = request.getfixturevalue(which)
    records = synthetic_records(4000, seed=21, days=120)[3200:]  # the test split, labels on
    flipped = [replace(r, fraud=1 - r.fraud) for r in records]
    stripped = [replace(r, fraud=None, critical=None) for r in records]
    assert routed_model.routed(records).any()
    assert np.array_equal(routed_model.score_records(records), routed_model.score_records(flipped))
    assert np.array_equal(routed_model.score_records(records), routed_model.score_records(stripped))


@pytest.fixture(scope="module")
def party_model(split):
    """A routed model whose booster reads the party columns whatever valid says of them."""
    train, valid, _ = split
    model = fit(train, valid, params=FAST, new_lines="never")
    model.new_lines = fit_new_lines(train, valid, model, train + valid, FAST, always=True, check_party=False)
    assert model.new_lines.party == [n for n in PARTY if n in model.spec.names()] and len(model.new_lines.party) > 10
    return model


def test_party_columns_are_kept_only_if_they_rank_valid_at_least_as_well(routed_model):
    check = routed_model.new_lines.info["party_check"]
    wins = check["with"]["auc"] >= check["without"]["auc"] and \
        check["with"]["precision@10"] >= check["without"]["precision@10"]
    assert check["kept"] == wins and bool(routed_model.new_lines.party) == wins
    assert routed_model.new_lines.info["valid_routed"]["booster"] == check["with" if wins else "without"]


def test_party_novelty_is_the_main_models_history_read_before_the_declaration(party_model, split):
    """The booster's party columns are the main model's own history columns: declarations and outcomes strictly
    before each declaration's time, so neither its own outcome nor any later one reaches them."""
    train, valid, test = split
    model, booster = party_model, party_model.new_lines
    assert booster.names[-len(booster.party):] == ["party." + n for n in booster.party]
    names = model.spec.names()
    width = len(booster.party)

    def party(m, rows):
        return m.new_lines.columns(rows, m.features(rows), names)[:, -width:]

    labelled = synthetic_records(4000, seed=21, days=120)[3200:]  # the test split with its labels
    k = len(labelled) // 2
    cut = labelled[k].ts
    early = [r for r in test if r.ts <= cut]
    before = party(model, early)
    live = RiskModel.from_bytes(model.to_bytes())
    for r in labelled[k:]:  # the row's own outcome and every later one, known at their declaration time
        live.record_declarations([r])
    live.record_outcomes(labelled[k:])
    assert np.array_equal(party(live, early), before)
    # ...while the rows after them do read them (a first-time importer is no longer first-time)
    late = [r for r in test if r.ts > cut]
    assert not np.array_equal(party(live, late), party(model, late))


def test_party_novelty_updated_live_equals_batch(party_model, split):
    """Declarations lodged and outcomes recorded one at a time give the party columns a model fitted with them
    in its history gives (the history profiles are exact running totals)."""
    from concord.risk.learning.history import HistoryProfiles

    train, valid, test = split
    labelled = synthetic_records(4000, seed=21, days=120)[3200:]
    live = RiskModel.from_bytes(party_model.to_bytes())
    for r in labelled:
        live.record_declarations([r])
        live.record_outcome(r)
    batch = RiskModel.from_bytes(party_model.to_bytes())
    batch.profiles = HistoryProfiles().observe(train + valid + labelled)
    probe = [replace(r, declaration_id=r.declaration_id + "-probe", when=r.when + timedelta(days=30), fraud=None)
             for r in test[::7]]
    names = party_model.spec.names()
    width = len(party_model.new_lines.party)
    got = live.new_lines.columns(probe, live.features(probe), names)[:, -width:]
    want = batch.new_lines.columns(probe, batch.features(probe), names)[:, -width:]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    first_timer = replace(probe[0], importer="never-seen-importer", declarant="never-seen-broker")
    x = live.new_lines.columns([first_timer], live.features([first_timer]), names)[0, -width:]
    columns = dict(zip(party_model.new_lines.party, x))
    assert columns["importer.n_declared"] == 0 and columns["importer_declarant_seller.n_declared"] == 0


def test_a_booster_reading_party_columns_scores_alike_one_at_a_time_and_after_save(party_model, split):
    _, _, test = split
    sent = party_model.routed(test)
    live = party_model.score_records(test)
    one = int(np.flatnonzero(sent)[0])
    assert party_model.score_records([test[one]])[0] == pytest.approx(live[one])
    assert np.array_equal(RiskModel.from_bytes(party_model.to_bytes()).score_records(test), live)
    assert {e["feature"] for e in party_model.explain(test[one], top=100)} >= {"party." + n
                                                                              for n in party_model.new_lines.party}


def test_drift_reads_the_scores_the_lanes_use(routed_model, split):
    """New goods lines are scored by the booster live, so drift reports on those scores, not the main model's."""
    _, _, test = split
    assert routed_model.routed(test).any()
    report = routed_model.drift(test)
    assert report["mean_score"] == pytest.approx(float(np.mean(routed_model.score_records(test))))
    assert report["mean_score"] != pytest.approx(float(np.mean(routed_model.main_scores(test))))


def test_an_assessment_scores_and_explains_as_the_separate_calls_do(routed_model, split):
    """`assess` computes the features once for the scores and the riskiest item's explanation: the same figures as
    score_records and explain, on declarations of routed and unrouted items alike; `assess_many` (a group commit)
    gives each declaration what `assess` gives it alone."""
    _, _, test = split
    sent = routed_model.routed(test)
    declarations = [test[i:i + 3] for i in range(0, 600, 3)]
    assert any(sent[:600]) and not all(sent[:600])
    stored = []
    for items in declarations:
        scores, worst, riskiest = routed_model.assess(items, top=4)
        assert np.array_equal(scores, routed_model.score_records(items))
        explained = routed_model.explain(items[worst], top=4)
        assert worst == int(np.argmax(scores)) and riskiest.explain() == explained
        stored.append((items[worst], explained, json.loads(json.dumps(riskiest.inputs()))))
    # a group commit's declarations in one call: the same scores, riskiest items and inputs
    for items, (scores, worst, riskiest) in zip(declarations, routed_model.assess_many(declarations, top=4)):
        alone = routed_model.assess(items, top=4)
        assert np.array_equal(scores, alone[0]) and worst == alone[1] and riskiest.inputs() == alone[2].inputs()
    # the stored inputs explain each exactly, by a copy of the model whose history has moved on since
    later = RiskModel.from_bytes(routed_model.to_bytes(), routed_model.version)
    later.record_outcomes([replace(r, fraud=1, critical=0) for r, _, _ in stored])
    assert {inputs["by"] for _, _, inputs in stored} == {"main", "new_lines"}
    assert all(later.explain_inputs(inputs, top=4) == explained for _, explained, inputs in stored)
    assert any(later.explain(record, top=4) != explained for record, explained, _ in stored)
    for wrong in ({"by": "main", "row": base64.b64encode(np.zeros(3).tobytes()).decode()},  # another model's width
                  {"by": "main", "row": "not base64"}, {"by": "other", "row": stored[0][2]["row"]}):
        with pytest.raises(Conflict, match="not written by risk model"):
            later.explain_inputs(wrong)
