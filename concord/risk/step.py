"""The risk step the declaration pipeline calls; the full engine plugs in behind the same method."""

from concord.risk.engine import Assessment


class RiskStep:
    """Assesses with the config's risk profiles; the risk engine issue extends this with rules and a model."""

    def assess(self, session, snapshot, doc: dict, *, declaration_id: str) -> Assessment:
        return snapshot.profiles.assess(doc, declaration_id=declaration_id)
