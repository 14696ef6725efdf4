"""Every field of every incident, notice and operation event has a class on the event stream, and every such event
has audiences of its own: a field added without one would leave unclassified (the relay raises Unclassified)."""

import inspect

from concord.incidents import audiences, messages
from concord.messaging.audiences import RECORD_EVENTS
from concord.messaging.messages import Event


def test_every_event_field_is_classified_and_routed():
    events = [c for _, c in inspect.getmembers(messages, inspect.isclass) if issubclass(c, Event) and c is not Event]
    assert len(events) == 11
    for cls in events:
        assert cls.name.split(".", 1)[0] in RECORD_EVENTS, cls.name
        fields = set(inspect.signature(cls).parameters) - {"declaration_id", "agency", "id", "occurred_at"}
        assert fields <= audiences.ENVELOPE | set(audiences.DOCUMENT), (cls.name, fields - audiences.ENVELOPE)
    assert "indicators" in audiences.DOCUMENT and "indicators" not in audiences.ENVELOPE  # cut like /indicators
