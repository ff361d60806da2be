"""The purge benchmark's data set, built in SQL on either backend (bench/purge_store.py).

Per lead number i (0..n-1), all derived from i so that both backends hold the same data:
  h1..h4     multiplicative hashes of i modulo 2^32 (spread, deterministic)
  ingestion  = t0 + i * span / n + h1 % 3600          (rows stored in ingestion order)
  due (i even): ttl = ingestion + (h2 / 2^32) * (now - 3600 - ingestion)
  not due:      ttl = now + DAY + (h2 / 2^32) * 2 years
  lead_id    = UUID-shaped: 8 hex of h3, 4 of h4, ..., last 12 hex digits = i (unique)
Names, portals and messages come from bench/synthetic.py's vocabulary (fake data only); the
floor's statements are here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from synthetic import FIRST_NAMES, LAST_NAMES, PORTALS, language_of, messages

__all__ = [
    "FLOOR_DELETE_SQL",
    "Layout",
    "floor_audit_sql",
    "leads_insert_sql",
    "pg_statement",
    "subjects_insert_sql",
    "word_tables",
]

DAY = 86_400
YEAR = 365 * DAY
INGESTION_WINDOW = int(2.5 * YEAR)
MESSAGES = 1000  # distinct messages of ~1.4 KB, picked per lead by a hash of its number
MESSAGE_SEED = 20261127

_HASHES = {
    "h1": "((i * 2654435761 + 12345) % 4294967296)",
    "h2": "((i * 2246822519 + 777) % 4294967296)",
    "h3": "((i * 3266489917 + 4242) % 4294967296)",
    "h4": "((i * 668265263 + 99) % 4294967296)",
}
_NAMED_PARAMETER = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)\b")


def pg_statement(statement: str) -> str:
    """A statement written with :name parameters and % for modulo, in psycopg's syntax."""
    return _NAMED_PARAMETER.sub(r"%(\1)s", statement.replace("%", "%%"))


def word_tables() -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
    """The temporary tables the load joins: name -> (columns, rows)."""
    portals = [(i, p, language_of(p)) for i, (p, _) in enumerate(PORTALS)]
    texts = messages(MESSAGES, MESSAGE_SEED, 1200, 1600)
    return {
        "bench_first": ("id, name", list(enumerate(FIRST_NAMES))),
        "bench_last": ("id, name", list(enumerate(LAST_NAMES))),
        "bench_message": ("id, message", list(enumerate(texts))),
        "bench_portal": ("id, portal, language", portals),
    }


def _series_sql(dialect: str) -> str:
    """SELECT of the per-lead numbers for i in [:start, :stop)."""
    h = _HASHES
    if dialect == "postgresql":
        source = "generate_series(CAST(:start AS bigint), CAST(:stop AS bigint) - 1) AS g(i)"
        params = {k: f"CAST(:{k} AS bigint)" for k in ("t0", "span", "n", "now")}
        lead_id = (
            f"lpad(to_hex({h['h3']}), 8, '0') || '-' || lpad(to_hex({h['h4']} % 65536), 4, '0')"
            f" || '-4' || lpad(to_hex({h['h1']} % 4096), 3, '0')"
            f" || '-a' || lpad(to_hex({h['h2']} % 4096), 3, '0')"
            " || '-' || lpad(to_hex(i), 12, '0')"
        )
        real = "::float8"
    else:
        source = (
            "(WITH RECURSIVE s(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM s"
            " WHERE i + 1 < :stop) SELECT i FROM s)"
        )
        params = {k: f":{k}" for k in ("t0", "span", "n", "now")}
        lead_id = (
            f"printf('%08x-%04x-4%03x-a%03x-%012x', {h['h3']}, {h['h4']} % 65536,"
            f" {h['h1']} % 4096, {h['h2']} % 4096, i)"
        )
        real = " * 1.0"
    ingestion = f"({params['t0']} + i * {params['span']} / {params['n']} + {h['h1']} % 3600)"
    return f"""
        SELECT i, {lead_id} AS lead_id, ingestion,
               CASE WHEN i % 2 = 0
                    THEN ingestion + CAST(({h["h2"]}{real} / 4294967296)
                                          * ({params["now"]} - 3600 - ingestion) AS BIGINT)
                    ELSE {params["now"]} + {DAY} + CAST(({h["h2"]}{real} / 4294967296)
                                                        * {2 * YEAR} AS BIGINT)
               END AS ttl,
               CASE i % 20 WHEN 0 THEN 'AGENCY' WHEN 1 THEN 'AGENCY' WHEN 2 THEN 'AGENCY'
                    WHEN 3 THEN 'PROPERTY_SEARCH' WHEN 4 THEN 'PROPERTY_SEARCH'
                    WHEN 5 THEN 'PROPERTY_SEARCH' WHEN 6 THEN 'PROPERTY_SEARCH'
                    WHEN 7 THEN 'PROPERTY_SEARCH' ELSE 'CLASSIFIED' END AS category,
               CASE i % 5 WHEN 0 THEN 'MALE' WHEN 1 THEN 'FEMALE' WHEN 2 THEN 'OTHER'
                    WHEN 3 THEN 'FEMALE' ELSE NULL END AS gender,
               {h["h4"]} % {len(FIRST_NAMES)} AS first_id,
               {h["h3"]} % {len(LAST_NAMES)} AS last_id,
               i % {len(PORTALS)} AS portal_id,
               (i * 7919) % {MESSAGES} AS message_id,
               {h["h1"]} % 10 < 5 AS verified,
               {h["h2"]} % 10 < 2 AS is_owner,
               {h["h1"]} AS h1, {h["h3"]} AS h3
        FROM (SELECT i, {ingestion} AS ingestion FROM {source}) AS base
    """


def leads_insert_sql(dialect: str) -> str:
    pg = dialect == "postgresql"
    obj = "jsonb_build_object" if pg else "json_object"
    arr = "jsonb_build_array" if pg else "json_array"
    if pg:
        ts = "to_timestamp({})"
        boolean = "{}"
        hexed = "upper(lpad(to_hex({}), 8, '0'))"
        phone = "'+3360000' || lpad((x.i % 10000)::text, 4, '0')"
        is_owner = "x.is_owner"
    else:
        ts = "strftime('%Y-%m-%d %H:%M:%S', {}, 'unixepoch') || '.000000'"
        boolean = "json(CASE WHEN {} THEN 'true' ELSE 'false' END)"
        hexed = "printf('%08X', {})"
        phone = "'+3360000' || substr('0000' || (x.i % 10000), -4, 4)"
        is_owner = "CASE WHEN x.is_owner THEN 1 ELSE 0 END"
    email = "'bench.seeker.' || x.i || '@example.com'"
    phones = (
        f"{arr}({obj}('type', 'MOBILE', 'number', {phone},"
        f" 'verified', {boolean.format('x.verified')}))"
    )
    payload = f"""{obj}(
            'metadata', {obj}('leadId', x.lead_id, 'ingestionDate', x.ingestion,
                              'portal', p.portal, 'TTL', x.ttl, 'leadCategory', x.category),
            'contactRequest', {obj}('firstName', f.name, 'lastName', l.name,
                                    'gender', x.gender, 'email', {email},
                                    'language', p.language, 'phoneNumbers', {phones},
                                    'message', m.message,
                                    'isOwner', {boolean.format("x.is_owner")}),
            'property', {obj}('classifiedId', {hexed.format("x.h1")} || {hexed.format("x.h3")},
                              'offererEstateId', 'FAKE-ESTATE-' || x.i,
                              'offererMarketingKey', 'REF-BENCH-' || (x.h3 % 1000000)))"""
    return f"""
        INSERT INTO leads (lead_id, category, portal, ingestion_date, ttl, first_name,
                           last_name, name, gender, email, language, message, is_owner,
                           phone_numbers, payload, imported_at, updated_at)
        SELECT x.lead_id, x.category, p.portal, {ts.format("x.ingestion")},
               {ts.format("x.ttl")}, f.name, l.name, f.name || ' ' || l.name, x.gender,
               {email}, p.language, m.message, {is_owner}, {phones}, {payload},
               :loaded, :loaded
        FROM ({_series_sql(dialect)}) AS x
        JOIN bench_first AS f ON f.id = x.first_id
        JOIN bench_last AS l ON l.id = x.last_id
        JOIN bench_portal AS p ON p.id = x.portal_id
        JOIN bench_message AS m ON m.id = x.message_id
        ORDER BY x.i
    """


def subjects_insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        digest = "sha256(convert_to('{}:' || lead_id, 'UTF8'))"
    else:
        digest = "randomblob(32)"  # no hash function in SQLite; 256 random bits are unique
    return (
        "INSERT INTO lead_subjects (lead_id, kind, subject_hash) "
        f"SELECT lead_id, 'email', {digest.format('e')} FROM leads "
        f"UNION ALL SELECT lead_id, 'phone', {digest.format('p')} FROM leads"
    )


def floor_audit_sql(dialect: str) -> str:
    details = '\'{"category":"\' || category || \'","portal":"\' || portal || \'","rule":"ttl"}\''
    if dialect == "postgresql":
        prev_hash = "encode(sha256(convert_to('prev:' || lead_id, 'UTF8')), 'hex')"
        this_hash = "encode(sha256(convert_to('this:' || lead_id, 'UTF8')), 'hex')"
    else:
        prev_hash = this_hash = "lower(hex(randomblob(32)))"
    return (
        "INSERT INTO audit_events (occurred_at, action, lead_id, run_id, details, prev_hash, hash)"
        f" SELECT :now, 'lead.purged', lead_id, 1, {details}, {prev_hash}, {this_hash}"
        " FROM leads WHERE ttl <= :now"
    )


FLOOR_DELETE_SQL = "DELETE FROM leads WHERE ttl <= :now"


@dataclass(frozen=True, slots=True)
class Layout:
    """When the synthetic leads were ingested and expire, relative to `now` (epoch seconds)."""

    now: int
    leads: int

    def params(self, start: int, stop: int) -> dict[str, int]:
        return {
            "start": start, "stop": stop, "t0": self.now - INGESTION_WINDOW,
            "span": INGESTION_WINDOW - DAY, "n": self.leads, "now": self.now,
        }  # fmt: skip
