"""Each audience is exactly one NATS subject token, so a subscriber's allow list can name it and nothing else."""

from concord.messaging.audiences import audience_token, trader_audience
from concord.messaging.transports import subject_for


def test_an_audience_is_one_token_whatever_its_name():
    for raw in ("NL823456781", "GB 123.456*>", "a~2e", "x.y"):
        token = trader_audience(raw)
        assert not set(token) & set(" .*>\t") and token.startswith("trader-")
        subject = subject_for({"name": "declaration.lodged", "audience": token}, "concord")
        assert subject.split(".") == ["concord", "declaration", "lodged", token]
    assert audience_token("a.b") != audience_token("a~2eb") != audience_token("a~b")  # '~' escapes itself
    assert trader_audience("a.b") != trader_audience("a_b")
