"""The one base of what users send: request bodies, declaration documents and config sections."""

from pydantic import BaseModel, ConfigDict

from concord.bounds import MAX_TEXT


class StrictModel(BaseModel):
    """Unknown fields are faults (a misspelt field must not be silently dropped); strings lose outer spaces.

    The declaration's models use it as it is: each of their fields has its own limit, and a limit in the config
    would change their core schema and turn off the declaration's fast validator (declarations/schemas.py)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StrictBody(StrictModel):
    """Every other request body and config section: no string longer than the longest free text a request may
    carry (most fields have a lower limit of their own)."""

    model_config = ConfigDict(str_max_length=MAX_TEXT)
