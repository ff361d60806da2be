"""The benchmarks' synthetic leads: fake people, example.com emails, +3360000xxxx phones.

`iter_leads` yields leads one at a time, deterministic for a seed: erasure_bench.py imports
them, `generate` writes them to files in the input forms of `retention import` (JSON Lines, a
JSON array, a paginatedResultSet page; `lead_file` names them) for import_bench.py.
bench/purge_data.py builds its leads in SQL from the same vocabulary (`FIRST_NAMES`,
`LAST_NAMES`, `PORTALS`, `language_of`, `messages`). Nothing here names a real person: the
names are placeholders in several languages, every email is under example.com and every phone
number lies in +33 6 00 00 xx xx or +33 1 00 00 xx xx.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from harness import log

__all__ = [
    "FIRST_NAMES",
    "FORMATS",
    "LAST_NAMES",
    "PORTALS",
    "SEED",
    "generate",
    "iter_leads",
    "language_of",
    "lead_file",
    "messages",
    "mobile_number",
]

SEED = 20240101
# (portal code, weight): the portal's country is its last three letters.
PORTALS = (
    ("SLG-FRA", 30), ("IWT-DEU", 20), ("IWB-BEL", 10), ("IWT-AUT", 8), ("LIM-FRA", 8),
    ("MAG-FRA", 6), ("BDS-FRA", 6), ("IMN-DEU", 6), ("SIG-FRA", 6),
)  # fmt: skip
CATEGORIES = (("CLASSIFIED", 60), ("PROPERTY_SEARCH", 25), ("AGENCY", 15))
LANGUAGE_OF_COUNTRY = {"FRA": "FR", "DEU": "DE", "BEL": "FR", "AUT": "DE"}
FIRST_NAMES = (
    "Jeanne", "Luc", "Marie", "Paul", "Élodie", "Hélène", "François", "Jürgen", "Anna", "Lukas",
    "Sophie", "Thomas", "Chloé", "Léa", "Maximilian", "Zoë", "Noémie", "Björn", "Inès", "Emma",
)  # fmt: skip
LAST_NAMES = (
    "Exemple", "Beispiel", "Fictif", "Muster", "Testeur", "Placeholder", "Dupont-Fictif",
    "Müller-Beispiel", "Lefèvre-Exemple", "Schröder-Muster", "Voorbeeld", "Synthétique",
)  # fmt: skip
GENDERS = ("MALE", "FEMALE", "OTHER", "PREFER_NOT_TO_DISCLOSE", None)
SENTENCES = (
    "Bonjour, je souhaite visiter ce bien fictif dès que possible, idéalement en fin de semaine.",
    "Nous sommes une famille de quatre personnes et cherchons un logement proche des écoles.",
    "Pourriez-vous me communiquer le montant des charges et de la taxe foncière ?",
    "Le bien est-il toujours disponible ? Je suis disponible pour une visite en soirée.",
    "Guten Tag, ich interessiere mich für diese fiktive Wohnung und hätte gern einen Termin.",
    "Ist eine Besichtigung am Wochenende möglich? Wir sind flexibel und kurzfristig erreichbar.",
    "Gibt es einen Stellplatz oder eine Garage, und wie hoch sind die Nebenkosten monatlich?",
    "Hello, I am relocating for work and would like more details about this fictional flat.",
    "Could you tell me whether pets are allowed and when the property becomes available?",
    "We have a mortgage agreement in principle and can move quickly if the price is right.",
    "Merci de me rappeler sur mon portable, de préférence entre 12h et 14h ou après 18h.",
    "J'aimerais savoir si des travaux sont à prévoir et quelle est la performance énergétique.",
)  # fmt: skip
ESTATE_TYPES = ("APARTMENT", "HOUSE", "LAND", "PARKING", "OFFICE")
DISTRIBUTION_TYPES = ("BUYER", "SELLER", "LANDLORD", "TENANT")
TTL_AFTER_INGESTION = timedelta(days=3 * 365)
INGESTION_WINDOW_SECONDS = 2 * 365 * 86_400


def language_of(portal: str) -> str:
    return LANGUAGE_OF_COUNTRY[portal[-3:]]


def mobile_number(index: int) -> str:
    """A fake French mobile number, +3360000 and four digits of `index`."""
    return f"+3360000{index % 10_000:04d}"


def default_email(index: int) -> str:
    return f"bench.seeker.{index}@example.com"


def message(rng: random.Random, shortest: int = 700, longest: int = 1200) -> str:
    """Shuffled sentences of about `shortest` to `longest` characters (they compress like
    real text)."""
    target = rng.randint(shortest, longest)
    parts: list[str] = []
    length = 0
    while length < target:
        sentence = rng.choice(SENTENCES)
        parts.append(sentence)
        length += len(sentence) + 1
    parts.append("(Synthetic benchmark message.)")
    return " ".join(parts)


def messages(count: int, seed: int, shortest: int, longest: int) -> list[str]:
    """`count` messages of `message`, deterministic for a seed."""
    rng = random.Random(seed)
    return [message(rng, shortest, longest) for _ in range(count)]


def _weighted(choices: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [c for c, _ in choices], [w for _, w in choices]


def _property(rng: random.Random, category: str, index: int) -> dict[str, Any]:
    if category == "CLASSIFIED":
        block: dict[str, Any] = {
            "classifiedId": f"{rng.getrandbits(48):012X}",
            "offererEstateId": f"FAKE-ESTATE-{index:08d}",
            "offererMarketingKey": f"REF-BENCH-{rng.randint(0, 999_999):06d}",
        }
        if rng.random() < 0.3:
            block["projectId"] = f"FAKE-PROJECT-{rng.randint(0, 9999):04d}"
            block["projectOffererEstateId"] = f"FAKE-PROGRAMME-{rng.randint(0, 9999):04d}"
            block["projectOffererMarketingKey"] = f"REF-PROGRAMME-{rng.randint(0, 9999):04d}"
        return block
    return {
        "estateType": rng.sample(ESTATE_TYPES, rng.randint(1, 2)),
        "rooms": {"numberOfRoomsMin": rng.randint(1, 4), "numberOfRoomsMax": rng.randint(4, 7)},
        "spaces": {"spaceMin": rng.randint(20, 80), "spaceMax": rng.randint(80, 250)},
        "budget": {
            "amountMin": rng.randint(50, 200) * 1000,
            "amountMax": rng.randint(200, 900) * 1000,
        },
        "localities": [
            {"postalCode": f"{rng.randint(10000, 99999)}", "name": "Ville-Fictive"}
            for _ in range(rng.randint(1, 3))
        ],
    }


def iter_leads(
    count: int,
    seed: int,
    now: datetime,
    *,
    email: Callable[[int], str] = default_email,
    landline_share: float = 0.3,
) -> Iterator[dict[str, Any]]:
    """`count` leads (about 1.7 KB of compact JSON each: mixed categories and portals,
    ingested over the last two years, TTL three years after), deterministic for a seed and
    generated one at a time. `email(i)` is lead i's email; a lead has a mobile number and,
    at random with `landline_share`, a landline too."""
    rng = random.Random(seed)
    portals, portal_weights = _weighted(PORTALS)
    categories, category_weights = _weighted(CATEGORIES)
    newest = int(now.timestamp())
    for index in range(count):
        portal = rng.choices(portals, portal_weights)[0]
        category = rng.choices(categories, category_weights)[0]
        ingestion = newest - rng.randint(0, INGESTION_WINDOW_SECONDS)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        phones = [
            {"type": "MOBILE", "number": mobile_number(index), "verified": rng.random() < 0.5}
        ]
        if rng.random() < landline_share:
            phones.append(
                {"type": "LANDLINE", "number": f"+3310000{index % 10_000:04d}", "verified": False}
            )
        lead: dict[str, Any] = {
            "metadata": {
                "leadId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "ingestionDate": ingestion,
                "portal": portal,
                "TTL": ingestion + int(TTL_AFTER_INGESTION.total_seconds()),
                "leadCategory": category,
            },
            "contactRequest": {
                "firstName": first,
                "lastName": last,
                "gender": rng.choice(GENDERS),
                "email": email(index),
                "language": language_of(portal),
                "phoneNumbers": phones,
                "message": message(rng),
                "isOwner": rng.random() < 0.2,
            },
        }
        if category == "CLASSIFIED" or (category == "PROPERTY_SEARCH" and rng.random() < 0.9):
            lead["property"] = _property(rng, category, index)
        if category == "PROPERTY_SEARCH":
            lead["distributionType"] = rng.sample(DISTRIBUTION_TYPES, rng.randint(1, 2))
        yield lead


# --- files in the input forms of `retention import` ---------------------------------------

FORMATS = ("jsonl", "array", "page")
FILE_SUFFIX = {"jsonl": "jsonl", "array": "array.json", "page": "page.json"}
GENERATOR_VERSION = "v1"  # part of the file names: bump when the generated content changes


class _Writer:
    """Writes one output form incrementally, so no file is ever built in memory."""

    def __init__(self, form: str, handle: TextIO) -> None:
        self.form = form
        self.handle = handle
        self.first = True

    def start(self) -> None:
        if self.form == "array":
            self.handle.write("[\n")
        elif self.form == "page":
            self.handle.write('{\n  "metadata": {},\n  "links": {},\n  "items": [\n')

    def add(self, lead: dict[str, Any], compact: str) -> None:
        if self.form == "jsonl":
            self.handle.write(compact + "\n")
            return
        indent = "  " if self.form == "array" else "    "
        text = json.dumps(lead, ensure_ascii=False, indent=2).replace("\n", "\n" + indent)
        self.handle.write(("" if self.first else ",\n") + indent + text)
        self.first = False

    def finish(self) -> None:
        self.handle.write({"jsonl": "", "array": "\n]\n", "page": "\n  ]\n}\n"}[self.form])


def lead_file(workdir: Path, count: int, seed: int, form: str) -> Path:
    return workdir / f"leads-{GENERATOR_VERSION}-s{seed}-{count}.{FILE_SUFFIX[form]}"


def generate(workdir: Path, count: int, seed: int, forms: Sequence[str], now: datetime) -> float:
    """Write the missing files of `count` leads in each form, in one pass; return the mean
    compact JSON size of a lead in bytes (0.0 when every file already existed)."""
    missing = [f for f in forms if not lead_file(workdir, count, seed, f).exists()]
    if not missing:
        return 0.0
    started = time.perf_counter()
    total_bytes = 0
    with contextlib.ExitStack() as stack:
        writers = []
        for form in missing:
            partial = lead_file(workdir, count, seed, form).with_suffix(".partial")
            handle = stack.enter_context(partial.open("w", encoding="utf-8", buffering=1 << 20))
            writers.append(_Writer(form, handle))
        for writer in writers:
            writer.start()
        for lead in iter_leads(count, seed, now):
            compact = json.dumps(lead, ensure_ascii=False, separators=(",", ":"))
            total_bytes += len(compact.encode("utf-8"))
            for writer in writers:
                writer.add(lead, compact)
        for writer in writers:
            writer.finish()
    for form in missing:
        final = lead_file(workdir, count, seed, form)
        final.with_suffix(".partial").rename(final)
    mean = total_bytes / count if count else 0.0
    log(
        f"generated {count:,} leads as {', '.join(missing)} in "
        f"{time.perf_counter() - started:.1f} s (mean {mean:,.0f} bytes of compact JSON per lead)"
    )
    return mean
