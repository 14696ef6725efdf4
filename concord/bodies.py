"""The one base of what users send: request bodies, declaration documents and config sections."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields are faults (a misspelt field must not be silently dropped); strings lose outer spaces."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
