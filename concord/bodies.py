"""The one base of what users send: request bodies, declaration documents and config sections."""

from pydantic import BaseModel, ConfigDict

from concord.bounds import MAX_TEXT


class StrictModel(BaseModel):
    """Unknown fields are faults (a misspelt field must not be silently dropped); strings lose outer spaces; no
    string is longer than the longest free text a request may carry (most fields have a lower limit)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_max_length=MAX_TEXT)
