"""Model versions on disk: register, list, activate, roll back; the active model loads for live scoring."""

import pytest

from concord.errors import Conflict, NotFound
from concord.risk.learning.model import RiskModel, fit
from concord.risk.learning.registry import ModelRegistry, active_model, load_model
from concord.risk.learning.synthetic import synthetic_records


def test_versions_activation_and_rollback(tmp_path):
    reg = ModelRegistry(tmp_path)
    assert reg.versions() == [] and reg.active_version(missing_ok=True) is None
    v1 = reg.register(b"one", {"valid": {"auc": 0.8}})
    v2 = reg.register(b"two", {"valid": {"auc": 0.9}})
    v3 = reg.register(b"three", {"valid": {"auc": 0.7}}, activate=True)
    assert (v1, v2, v3) == ("v1", "v2", "v3")
    assert reg.active_version() == "v3"  # the first version was activated on registration, v3 on request
    assert [(v["version"], v["active"]) for v in reg.versions()] == [("v1", False), ("v2", False), ("v3", True)]
    reg.activate("v2")
    assert reg.rollback() == "v3"  # back to what was active before v2
    assert reg.rollback() == "v1"
    with pytest.raises(Conflict):
        reg.rollback()
    assert reg.model_bytes("v2") == b"two" and reg.metrics("v2")["valid"]["auc"] == 0.9


def test_unknown_versions_say_how_to_find_the_right_one(tmp_path):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(NotFound, match="concord risk models"):
        reg.activate("v7")
    with pytest.raises(NotFound, match="no model version"):
        reg.model_bytes("../../etc/passwd")
    with pytest.raises(Conflict):
        reg.rollback()


def test_the_active_model_loads_from_the_registry(tmp_path):
    records = synthetic_records(500, seed=4, days=40)
    model = fit(records[:400], records[400:], params={"num_threads": 1}, rounds=5)
    reg = ModelRegistry(tmp_path)
    assert active_model(root=tmp_path) is None
    version = reg.register(model.to_bytes(), model.info)
    live = active_model(root=tmp_path)
    assert isinstance(live, RiskModel) and live.version == version
    assert active_model(root=tmp_path) is live  # cached per version
    assert load_model(tmp_path).score_records(records[:3]).shape == (3,)
