"""Reference data: HS nomenclature, ISO 3166 countries, ISO 4217 currencies, ISO 6346 and IMO check digits."""
