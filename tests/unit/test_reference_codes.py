from concord.reference import codes


def test_iso6346_check_digits():
    assert codes.container_problem("CSQU3054383") is None  # the standard's own example
    assert codes.container_problem("MSCU1234566") is None
    assert "should be 6" in codes.container_problem("MSCU1234567")
    assert "ISO 6346" in codes.container_problem("MSC1234567")


def test_imo_check_digit():
    assert codes.imo_problem("IMO9074729") is None
    assert codes.imo_problem("9074729") is None
    assert "should be 9" in codes.imo_problem("IMO9074728")


def test_hs_countries_currencies_locodes():
    assert codes.hs_problem("090111") is None and codes.hs_problem("0901110010") is None
    assert "not in the Harmonized System" in codes.hs_problem("090199")
    assert codes.hs_problem("0901") is not None
    assert codes.country_problem("DE") is None and codes.country_problem("XX")
    assert codes.currency_problem("EUR") is None and codes.currency_problem("EUX")
    assert codes.locode_problem("NLRTM") is None
    assert codes.locode_problem("XXRTM") and codes.locode_problem("NLRT")


def _reference_check_digit(first10: str) -> int:
    """ISO 6346 as written: letter values from A=10 skipping multiples of 11, weights 2**position, mod 11 mod 10."""
    def value(ch):
        if ch.isdigit():
            return int(ch)
        v = 10 + ord(ch) - ord("A")
        return v + (v - 1) // 10 if v > 10 else v
    return sum(value(ch) * 2 ** i for i, ch in enumerate(first10)) % 11 % 10


def test_table_driven_check_digit_matches_the_formula():
    import random

    rng = random.Random(7)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(20000):
        number = "".join(rng.choice(alphabet) for _ in range(10))
        assert codes.iso6346_check_digit(number) == _reference_check_digit(number), number
        full = number + str(_reference_check_digit(number))
        if full[:3].isalpha() and full[3] in "UJZ" and full[4:].isdigit():
            assert codes.iso6346_valid(full) and codes.container_problem(full) is None
            wrong = full[:10] + str((int(full[10]) + 1) % 10)
            assert not codes.iso6346_valid(wrong) and "should be" in codes.container_problem(wrong)
    # other lengths and other scripts' digits (which the pattern's \d lets through) take the general path
    for number in ("MSCU12345", "MSCU1234566X", "", "MSCU\u0661\u0662\u0663\u0664\u0665\u0666"):
        assert codes.iso6346_check_digit(number) == _reference_check_digit(number)
    assert codes.container_problem("MSCU\u0661\u0662\u0663\u0664\u0665\u0666\u0666") is None


def test_hs_subheadings_are_the_six_digit_codes_a_declaration_may_carry():
    subheadings = codes.hs_subheadings()
    assert "090111" in subheadings and "0901" not in subheadings
    # chapter 99 ("commodities not specified according to kind") classifies nothing: refused at lodgement
    assert subheadings == {c for c in codes.hs_nomenclature() if len(c) == 6 and c.isdigit()} - {"999999"}
    assert "chapter 99" in codes.hs_problem("999999") and codes.hs_problem("090111") is None


def test_cached_checks_answer_as_before():
    for _ in range(2):  # the second round comes from the caches
        assert codes.country_problem("XX") == "'XX' is not an ISO 3166-1 alpha-2 country code (e.g. DE, CN, BR)"
        assert codes.currency_problem("EUR") is None
        assert codes.hs_problem("090199") == "HS subheading 090199 is not in the Harmonized System nomenclature"
        assert codes.locode_problem("XXRTM") == "UN/LOCODE country part 'XX' is not an ISO 3166-1 country"
