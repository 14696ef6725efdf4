"""The office of entry must be one of the administration's offices; unclassified goods (HS 99) are refused."""

import pytest

from concord.agencies.handlers import parse_config
from concord.bootstrap import CONFIG_SECTIONS
from concord.declarations.messages import AmendDeclaration, SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import InvalidDocument
from support import declaration, demo_config_text, item, subjects


def submit(app, doc):
    doc = parse_declaration(doc).model_dump(mode="json")
    return app.bus.handle(SubmitDeclaration(document=doc), subject=subjects(app)["hollandfoods"])


def test_an_office_outside_the_config_is_refused_and_a_configured_one_accepted(concord):
    with pytest.raises(InvalidDocument) as e:
        submit(concord, declaration(office_of_entry="NLXXX"))  # a well-formed UN/LOCODE, but not our office
    assert [p.pointer for p in e.value.problems] == ["/office_of_entry"]
    assert "NLAMS, NLRTM, NLVEN" in e.value.problems[0].message
    lodged = submit(concord, declaration(office_of_entry="NL RTM"))  # the UN/LOCODE's spaced form is the same office
    doc = parse_declaration(declaration(office_of_entry="DEHAM")).model_dump(mode="json")
    with pytest.raises(InvalidDocument) as e:
        concord.bus.handle(AmendDeclaration(declaration_id=lodged["id"], document=doc),
                           subject=subjects(concord)["hollandfoods"])
    assert [p.pointer for p in e.value.problems] == ["/office_of_entry"]


@pytest.mark.parametrize("code", ["999999", "99999900"])
def test_goods_not_specified_according_to_kind_are_refused(concord, code):
    with pytest.raises(InvalidDocument) as e:
        submit(concord, declaration(items=[item(code, "Assorted goods", "CN")]))
    problem = e.value.problems[0]
    assert problem.pointer == "/items/0/hs_code" and "chapter 99" in problem.message


def test_the_config_checks_its_offices():
    text = demo_config_text().replace("{code: NLVEN, name: Venlo road and rail terminal}",
                                      "{code: NLRTM, name: Rotterdam again}")
    text = text.replace("      NLAMS: {red: 0.05", "      BEANR: {red: 0.05")
    with pytest.raises(InvalidDocument) as e:
        parse_config(text, "config", sections=CONFIG_SECTIONS)
    messages = " ".join(f"{p.pointer} {p.message}" for p in e.value.problems)
    assert "duplicate code 'NLRTM'" in messages and "'BEANR' is not among the offices" in messages
