"""Goods, parties and conveyances the demo declares; codes are real, check digits computed."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from concord.reference.codes import iso6346_check_digit


@dataclass(frozen=True)
class Goods:
    hs_code: str
    description: str
    unit: str
    eur_per_unit: float
    kg_per_unit: float
    origins: tuple[str, ...]
    documents: tuple[str, ...] = ()  # documents a compliant trader attaches
    modes: tuple[str, ...] = ("sea",)


CATALOG = [
    Goods("080390", "Fresh bananas, Cavendish, in cartons", "KGM", 0.8, 1.0, ("EC", "CO", "CR"), ("N851",)),
    Goods("070200", "Fresh tomatoes, vine", "KGM", 1.6, 1.0, ("MA", "TR"), ("N851",), ("road", "sea")),
    Goods("060311", "Fresh cut roses", "KGM", 6.0, 1.0, ("KE", "ET", "CO"), ("N851",), ("air",)),
    Goods("090111", "Green coffee beans, not roasted, not decaffeinated", "KGM", 4.2, 1.0, ("BR", "VN", "CO", "ET"), ("N851",)),
    Goods("080211", "Almonds in shell", "KGM", 5.5, 1.0, ("US",), ("N851", "C085")),
    Goods("120242", "Groundnuts, shelled", "KGM", 1.9, 1.0, ("IN", "AR", "US"), ("N851", "C085")),
    Goods("030617", "Frozen shrimps and prawns", "KGM", 8.5, 1.0, ("VN", "IN", "EC"), ("C678",)),
    Goods("020130", "Fresh boneless beef", "KGM", 11.0, 1.0, ("BR", "AR", "UY"), ("C678",)),
    Goods("040690", "Cheese, hard, matured", "KGM", 14.0, 1.0, ("CH", "GB"), ("C678",), ("road",)),
    Goods("160414", "Tuna, prepared, in cans", "NAR", 1.2, 0.2, ("TH", "PH"), ("C678",)),
    Goods("300490", "Medicaments, in packings for retail sale", "KGM", 140.0, 1.0, ("IN", "CH", "US"), ("C079",), ("air",)),
    Goods("950300", "Toys: plastic construction sets", "NAR", 9.0, 0.6, ("CN",), ("Y923",)),
    Goods("851762", "Network switches and routers", "NAR", 210.0, 2.5, ("CN", "TW"), ("Y923",), ("sea", "air")),
    Goods("847130", "Portable computers (laptops)", "NAR", 520.0, 2.0, ("CN",), ("Y923",), ("sea", "air")),
    Goods("850440", "Static converters, power supplies", "NAR", 18.0, 0.4, ("CN", "VN"), ("Y923",)),
    Goods("930200", "Pistols for sport shooting", "NAR", 650.0, 1.1, ("US", "AT"), ("L100",), ("air",)),
    Goods("293291", "Isosafrole, drums", "KGM", 32.0, 1.0, ("CN", "IN"), ("L100",)),
    Goods("440349", "Tropical hardwood logs, sapele", "MTQ", 420.0, 650.0, ("CM", "GA", "CG"), ("N851", "C400")),
    Goods("010620", "Live reptiles (ball pythons) for the pet trade", "NAR", 80.0, 1.5, ("ID", "MY"), ("C400", "C678"), ("air",)),
    Goods("391510", "Waste and scrap of polyethylene", "KGM", 0.2, 1.0, ("GB", "US"), ("C716",)),
    Goods("720449", "Ferrous waste and scrap", "KGM", 0.35, 1.0, ("GB", "NO"), ("C716",)),
    Goods("360200", "Prepared explosives for mining", "KGM", 3.0, 1.0, ("NO", "SE"), ("L100",)),
    Goods("852691", "Radio navigational aid apparatus", "NAR", 68000.0, 40.0, ("US", "JP"), ("Y923",)),
    Goods("240220", "Cigarettes containing tobacco", "NAR", 0.12, 0.001, ("AE",)),
    Goods("854143", "Photovoltaic modules", "NAR", 95.0, 22.0, ("MY", "VN", "CN")),
    Goods("610910", "T-shirts of cotton, knitted", "NAR", 2.8, 0.2, ("BD", "TR", "CN")),
    Goods("640399", "Footwear with leather uppers", "PR", 18.0, 0.9, ("VN", "CN")),
    Goods("870323", "Passenger cars, spark-ignition, 1500-3000 cc", "NAR", 21000.0, 1400.0, ("JP", "KR", "US")),
    Goods("940360", "Wooden furniture", "NAR", 120.0, 30.0, ("VN", "ID")),
    Goods("210690", "Food preparations, protein concentrates", "KGM", 6.0, 1.0, ("US", "GB"), (), ("sea", "road")),
]

CARRIERS = ("MSC", "MAE", "CMA", "HLX", "ONE", "EVE", "COS", "YML")
OFFICES = {"sea": "NLRTM", "air": "NLAMS", "road": "NLVEN", "rail": "NLVEN"}
CITIES = {"EC": "Guayaquil", "CO": "Cartagena", "CR": "Limon", "MA": "Agadir", "TR": "Izmir", "KE": "Nairobi",
          "ET": "Addis Ababa", "BR": "Santos", "VN": "Ho Chi Minh City", "US": "Oakland", "IN": "Chennai",
          "AR": "Buenos Aires", "UY": "Montevideo", "CH": "Basel", "GB": "Felixstowe", "TH": "Bangkok",
          "PH": "Manila", "CN": "Shenzhen", "TW": "Kaohsiung", "AT": "Steyr", "CM": "Douala", "GA": "Libreville",
          "CG": "Pointe-Noire", "ID": "Jakarta", "MY": "Port Klang", "NO": "Oslo", "SE": "Gothenburg",
          "JP": "Yokohama", "AE": "Jebel Ali", "BD": "Chittagong", "KR": "Busan"}


def container_number(rng: random.Random) -> str:
    first10 = rng.choice(CARRIERS) + "U" + f"{rng.randrange(10**6):06d}"
    return first10 + str(iso6346_check_digit(first10))


def imo_number(rng: random.Random) -> str:
    digits = f"{rng.randrange(9000000, 9999999) // 10:06d}"
    return "IMO" + digits + str(sum(int(d) * (7 - i) for i, d in enumerate(digits)) % 10)


def exporter(origin: str, goods: Goods) -> dict:
    city = CITIES.get(origin, "Capital City")
    word = goods.description.split(",")[0].split(" ")[-1].title()
    return {"id": f"{origin}EXP{zlib.crc32((origin + goods.hs_code).encode()) % 10**6:06d}",
            "name": f"{city} {word} Exporters Ltd", "country": origin, "address": f"1 Harbour Road, {city}"}
