"""The `agreements:` section of the coordination config.

An administrator registers agreements signed on paper: a key the hub does not know yet is stored with
the signatures `signed_by` lists (recorded as `config/N`) and is active once every party is listed.
For a key the hub knows, the config cannot sign for anyone: an agreement that differs from its latest
version becomes a proposed version that the liaisons of the parties sign like any other (the current
version's and the new one's), and `signed_by` is not taken as a signature."""

from __future__ import annotations

from pydantic import ValidationError
from concord.agreements.models import AgreementSignature
from concord.agreements.schemas import ConfigAgreement
from concord.agreements.versions import check_agencies, new_version, same_content, signers, versions
from concord.errors import Problem, pointer, problems_from


def validate_config_section(cfg, rows: list) -> list[Problem]:
    """Agreements in the config are checked like drafted ones, with their path in the document."""
    known = {a["code"] for a in cfg.model_dump()["agencies"]} if cfg is not None else set()
    problems = []
    for i, row in enumerate(rows):
        try:
            doc = ConfigAgreement.model_validate(row)
        except ValidationError as e:
            problems += problems_from(e, ("agreements", i))
            continue
        if cfg is not None:
            problems += check_agencies(doc, known, ("agreements", i))
        for j, agency in enumerate(doc.signed_by):
            if agency not in [doc.provider, *doc.recipients]:
                problems.append(Problem(pointer("agreements", i, "signed_by", j), f"'{agency}' is not a party"))
    return problems


def store_config_section(uow, cfg, rows: list, version: int) -> None:
    """New keys are registered with their paper signatures; a change to a known key is only proposed."""
    from concord.agreements.handlers import _changed, _settle_signatures

    s = uow.session
    for row in rows:
        doc = ConfigAgreement.model_validate(row)
        known = versions(s, doc.key, lock=True)
        if known and same_content(known[0], doc):
            continue
        a = new_version(uow, doc, (known[0].version if known else 0) + 1, f"config/{version}")
        if known:
            _changed(uow, a, "proposed", config_version=version, signers=sorted(signers(s, a)))
            continue
        now = uow.clock.now()
        for agency in doc.signed_by:
            s.add(AgreementSignature(agreement_id=a.id, agency=agency, signed_by=f"config/{version}", signed_at=now))
        s.flush()
        _changed(uow, a, "loaded", config_version=version, signed_by=sorted(doc.signed_by))
        if doc.signed_by:
            _settle_signatures(uow, a)

