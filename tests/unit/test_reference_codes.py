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
