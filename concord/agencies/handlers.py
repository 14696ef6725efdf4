"""Loading the coordination config: validated whole, written whole, or not at all."""

import hashlib

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select, update

from concord.access.models import User
from concord.agencies.messages import ConfigLoaded, LoadConfig
from concord.agencies.models import Agency, ConfigVersion
from concord.agencies.schemas import CoordinationConfig, reference_problems
from concord.agencies.yamlpaths import line_of, parse_with_lines
from concord.bounds import text_problems
from concord.errors import InvalidDocument, Problem, pointer, problems_from
from concord.routing.models import RoutingRule

def parse_config(text: str, source: str = "<config>", *, sections: dict) -> CoordinationConfig:
    """Validate a coordination config; every fault is reported with its key path and line.

    `sections`: the sections other packages validate and store (agreements, ...), name -> (validate, store),
    as bootstrap.CONFIG_SECTIONS wires them."""
    try:
        data, lines = parse_with_lines(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InvalidDocument(f"{source} is not valid YAML", [Problem("", f"{where}{getattr(e, 'problem', e)}")]) from None
    if not isinstance(data, dict):
        raise InvalidDocument(f"{source} must be a mapping with agencies, users and routing_rules", [Problem("", "expected a mapping")])
    if nul := text_problems(data):  # PostgreSQL stores no NUL; YAML's "\0" escape makes one
        raise InvalidDocument(f"{source} has faults; nothing was loaded", [_with_line(p, lines) for p in nul])
    problems = [Problem(pointer(*_split(path)), msg) for path, msg in reference_problems(data)]
    try:
        cfg = CoordinationConfig.model_validate(data)
    except ValidationError as e:
        problems = problems_from(e) + problems
        cfg = None
    for name, (validate, _) in sections.items():
        problems += validate(cfg, data.get(name) or [])
    if problems:
        raise InvalidDocument(f"{source} has faults; nothing was loaded", [_with_line(p, lines) for p in problems])
    return cfg


def _split(path: str) -> list:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _with_line(problem: Problem, lines: dict) -> Problem:
    parts = tuple(int(p) if p.isdigit() else p for p in problem.pointer.split("/")[1:])
    line = line_of(lines, parts)
    return Problem(problem.pointer, f"line {line}: {problem.message}" if line else problem.message)


def load_config(cmd: LoadConfig, uow, *, directory, book, config_sections) -> dict:
    """Replace the coordination config in force by a new version."""
    cfg = parse_config(cmd.text, cmd.source, sections=config_sections)
    document = cfg.model_dump(mode="json")
    with uow:
        s = uow.session
        version = (s.scalar(select(func.max(ConfigVersion.version))) or 0) + 1
        digest = hashlib.sha256(cmd.text.encode()).hexdigest()
        codes = {a.code for a in cfg.agencies}
        for a in cfg.agencies:
            s.merge(Agency(code=a.code, name=a.name, role=a.role, contacts=[c.model_dump() for c in a.contacts], active=True))
        s.flush()
        s.execute(update(Agency).where(Agency.code.not_in(codes)).values(active=False))
        for u in cfg.users:
            s.merge(User(id=u.id, name=u.name, agency=u.agency, trader_id=u.trader.id if u.trader else None,
                         trader_name=u.trader.name if u.trader else None, roles=list(u.roles), active=True))
        s.execute(update(User).where(User.id.not_in([u.id for u in cfg.users])).values(active=False))
        for r in cfg.routing_rules:
            s.merge(RoutingRule(id=r.id, agency=r.agency, description=r.description, legal_basis=r.legal_basis,
                                task_type=r.task_type, sla_hours=r.sla_hours, fields=r.fields,
                                criteria=r.when.model_dump(mode="json", exclude_defaults=True),
                                config_version=version, active=True))
        s.execute(update(RoutingRule).where(RoutingRule.id.not_in([r.id for r in cfg.routing_rules]))
                  .values(active=False))
        s.add(ConfigVersion(version=version, loaded_at=uow.clock.now(),
                            loaded_by=uow.subject.user_id if uow.subject else None, sha256=digest, document=document))
        for name, (_, store) in config_sections.items():
            store(uow, cfg, document.get(name) or [], version)
        uow.record(ConfigLoaded(version=version, sha256=digest))
        uow.audit("config:loaded", f"config/{version}", detail={"sha256": digest})
        uow.commit()
    directory.invalidate()
    book.invalidate()
    return {"version": version, "sha256": digest, "agencies": len(cfg.agencies), "users": len(cfg.users),
            "routing_rules": len(cfg.routing_rules)}
