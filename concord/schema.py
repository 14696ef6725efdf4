"""Imports every package's models so that Base.metadata (and Alembic) sees the whole schema."""

import concord.access.models  # noqa: F401
import concord.agencies.models  # noqa: F401
import concord.agreements.models  # noqa: F401
import concord.audit.models  # noqa: F401
import concord.clearance.models  # noqa: F401
import concord.declarations.models  # noqa: F401
import concord.inspections.models  # noqa: F401
import concord.messaging.models  # noqa: F401
import concord.risk.models  # noqa: F401
import concord.routing.models  # noqa: F401
import concord.screening.models  # noqa: F401
from concord.db import Base

metadata = Base.metadata
