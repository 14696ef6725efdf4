"""Loading the coordination config."""

from dataclasses import dataclass

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class LoadConfig(Command):
    text: str  # YAML (or JSON) source
    source: str = "<api>"


@dataclass(kw_only=True)
class ConfigLoaded(Event):
    name = "config.loaded"
    version: int
    sha256: str
