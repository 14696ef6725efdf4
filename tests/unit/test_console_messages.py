"""Every user-facing string of the console is in the French catalogue, translated, and the committed .mo files
say what the .po files say."""

from pathlib import Path

import pytest

babel = pytest.importorskip("babel")
CONSOLE = Path(__file__).resolve().parents[2] / "concord" / "console"


def _extracted() -> set:
    from babel.messages.extract import extract_from_dir

    with open(CONSOLE / "babel.cfg") as f:
        from babel.messages.frontend import parse_mapping_cfg

        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,), "N_": None}
    return {m[2] for m in extract_from_dir(str(CONSOLE), method_map, options_map, keywords=keywords)}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_catalogue_covers_every_message_and_is_compiled(lang):
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    po = read_po(open(CONSOLE / "locale" / lang / "LC_MESSAGES" / "messages.po", "rb"))
    ids = {m.id for m in po if m.id}
    missing = {m for m in _extracted() if m and m not in ids}
    assert not missing, f"run `make messages` and translate: {missing}"
    if lang == "fr":
        assert not [m.id for m in po if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
        assert po.num_plurals == 2
    mo = read_mo(open(CONSOLE / "locale" / lang / "LC_MESSAGES" / "messages.mo", "rb"))
    po_pairs = _pairs(po)
    compiled = {k: v for k, v in _pairs(mo).items() if k in po_pairs or v != k}
    assert compiled == po_pairs, "recompile the .mo files (make messages)"


def _pairs(catalog) -> dict:
    def key(x):
        return tuple(x) if isinstance(x, (list, tuple)) else x

    return {key(m.id): key(m.string) for m in catalog if m.id and any(key(m.string))}


def test_every_template_is_compiled_at_start_up_in_every_language():
    """The server's start-up compiles them (the first visit of a screen paid 30–230 ms for it), so a template
    that does not compile fails here, not at an officer's first visit."""
    from concord.console.web import LANGUAGES, compile_templates, environment

    compile_templates()
    names = {p.name for p in (CONSOLE / "templates").glob("*.html")}
    for lang in LANGUAGES:
        cached = {t.name for t in environment(lang).cache.values()}
        assert cached >= names and len(names) > 25, (lang, names - cached)
