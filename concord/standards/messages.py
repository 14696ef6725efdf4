"""Commands of the standards at the edge (a CUSDEC message becomes the declarations' own SubmitDeclaration)."""

from dataclasses import dataclass

from concord.messaging.messages import Command


@dataclass(kw_only=True)
class SupplySpsCertificate(Command):
    """The trader supplies the electronic SPS certificate a declaration references (UN/CEFACT SPSCertificate XML)."""

    declaration_id: str
    xml: bytes
