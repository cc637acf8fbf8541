"""How an entity is keyed across systems: golden ids and composite keys, as pure functions.

Rules:
- Golden customer key, first identifier present wins: GLN (13 digits, GS1 mod-10 check digit)
  ``gln:<13 digits>`` > D-U-N-S (9 digits) ``duns:<9 digits>`` > VAT (country prefix + normalised
  number) ``vat:<CC><number>`` > source-scoped ``src:<source>:<id>``.
- Golden product key: GTIN-8/12/13/14 with a valid check digit, normalised to GTIN-14
  ``gtin:<14 digits>``, else source-scoped ``src:<source>:<id>``.
- An identifier that is given but invalid raises ``ValueError`` with the reason; it never falls back
  silently to a weaker identifier.
- Composite keys: ``sku@site``, ``dimension:entity``, ``source:id`` (MDM topic key), ``segment:kpi``.
"""

from __future__ import annotations

import re

DIMENSIONS: tuple[str, ...] = ("customer", "product", "customer_product", "supplier")

_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_VAT_RE = re.compile(r"^[A-Z]{2}[A-Z0-9+*]{2,13}$")
_SEPARATORS_RE = re.compile(r"[\s.\-/]")
GTIN_LENGTHS: tuple[int, ...] = (8, 12, 13, 14)


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the digits ``body`` (the identifier without its last digit).

    Rule: weights 3, 1, 3, 1, ... from the rightmost digit of ``body``;
    check = (10 - (sum(weight_i * digit_i) mod 10)) mod 10.
    """
    if not body.isdigit() or not body.isascii():
        raise ValueError(f"GS1 body {body!r} must be ASCII digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _digits_only(value: str, label: str) -> str:
    cleaned = _SEPARATORS_RE.sub("", value)
    if not cleaned or not cleaned.isascii() or not cleaned.isdigit():
        raise ValueError(f"{label} {value!r} must contain only digits")
    return cleaned


def _check_gs1(digits: str, label: str) -> None:
    expected = gs1_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise ValueError(f"{label} {digits} has check digit {digits[-1]}, expected {expected}")


def normalise_gln(value: str) -> str:
    """A GLN as its 13 digits (spaces and dashes removed), check digit validated (GS1 mod-10)."""
    digits = _digits_only(value, "GLN")
    if len(digits) != 13:
        raise ValueError(f"GLN {value!r} must have 13 digits, has {len(digits)}")
    _check_gs1(digits, "GLN")
    return digits


def normalise_duns(value: str) -> str:
    """A D-U-N-S number as its 9 digits (dashes and spaces removed)."""
    digits = _digits_only(value, "DUNS")
    if len(digits) != 9:
        raise ValueError(f"DUNS {value!r} must have 9 digits, has {len(digits)}")
    return digits


def normalise_vat(value: str, country: str | None = None) -> str:
    """A VAT number as ``<country prefix><number>``: upper case, spaces, dots, dashes and slashes removed.

    Without a two-letter prefix, ``country`` (ISO 3166 alpha-2; Greece uses ``EL``) is prepended.
    """
    cleaned = _SEPARATORS_RE.sub("", value).upper()
    if not cleaned:
        raise ValueError("VAT number is empty")
    if not cleaned[:2].isalpha() and country:
        prefix = "EL" if country.upper() == "GR" else country.upper()
        cleaned = prefix + cleaned
    if not cleaned.isascii() or not _VAT_RE.match(cleaned):
        raise ValueError(
            f"VAT {value!r} must be a two-letter country prefix followed by 2-13 letters or digits"
        )
    return cleaned


def normalise_gtin(value: str) -> str:
    """A GTIN-8/12/13/14 as GTIN-14 (left-padded with zeros), check digit validated (GS1 mod-10)."""
    digits = _digits_only(value, "GTIN")
    if len(digits) not in GTIN_LENGTHS:
        raise ValueError(f"GTIN {value!r} must have 8, 12, 13 or 14 digits, has {len(digits)}")
    _check_gs1(digits, "GTIN")
    return digits.zfill(14)


def source_key(source: str, source_id: str) -> str:
    """The key of a master-data record in its source system: ``source:id`` (source has no colon)."""
    if not _SOURCE_RE.match(source):
        raise ValueError(f"source {source!r} must match {_SOURCE_RE.pattern} (no colon, no spaces)")
    source_id = source_id.strip()
    if not source_id:
        raise ValueError("source id is empty")
    return f"{source}:{source_id}"


def parse_source_key(key: str) -> tuple[str, str]:
    """Inverse of :func:`source_key`: split at the first colon."""
    source, sep, source_id = key.partition(":")
    if not sep:
        raise ValueError(f"source key {key!r} has no ':'")
    source_key(source, source_id)
    return source, source_id


def source_scoped_key(source: str, source_id: str) -> str:
    """Golden key of last resort: ``src:<source>:<id>``."""
    return "src:" + source_key(source, source_id)


def golden_customer_key(
    *,
    source: str,
    source_id: str,
    gln: str | None = None,
    duns: str | None = None,
    vat: str | None = None,
    country: str | None = None,
) -> str:
    """Golden customer key by identifier priority GLN > DUNS > VAT > source-scoped id.

    ``None`` or blank identifiers are absent; a present but invalid one raises ``ValueError``.
    """
    if gln is not None and gln.strip():
        return "gln:" + normalise_gln(gln)
    if duns is not None and duns.strip():
        return "duns:" + normalise_duns(duns)
    if vat is not None and vat.strip():
        return "vat:" + normalise_vat(vat, country)
    return source_scoped_key(source, source_id)


def golden_product_key(*, source: str, source_id: str, gtin: str | None = None) -> str:
    """Golden product key: ``gtin:<GTIN-14>`` when a GTIN is present, else ``src:<source>:<id>``."""
    if gtin is not None and gtin.strip():
        return "gtin:" + normalise_gtin(gtin)
    return source_scoped_key(source, source_id)


def _check_part(value: str, label: str, forbidden: str) -> None:
    if not value or value != value.strip():
        raise ValueError(f"{label} {value!r} must be non-empty without surrounding spaces")
    if forbidden in value:
        raise ValueError(f"{label} {value!r} must not contain {forbidden!r}")


def sku_at_site(sku: str, site: str) -> str:
    """The key of a stock point: ``sku@site`` (neither part may contain ``@``)."""
    _check_part(sku, "sku", "@")
    _check_part(site, "site", "@")
    return f"{sku}@{site}"


def parse_sku_at_site(key: str) -> tuple[str, str]:
    """Inverse of :func:`sku_at_site`."""
    if key.count("@") != 1:
        raise ValueError(f"sku@site key {key!r} must contain exactly one '@'")
    sku, _, site = key.partition("@")
    sku_at_site(sku, site)
    return sku, site


def dimension_key(dimension: str, entity: str) -> str:
    """The key of a segmented entity: ``dimension:entity`` (dimension one of :data:`DIMENSIONS`)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension {dimension!r} must be one of {', '.join(DIMENSIONS)}")
    if not entity or entity != entity.strip():
        raise ValueError(f"entity {entity!r} must be non-empty without surrounding spaces")
    return f"{dimension}:{entity}"


def parse_dimension_key(key: str) -> tuple[str, str]:
    """Inverse of :func:`dimension_key`: split at the first colon (entity ids may contain colons)."""
    dimension, sep, entity = key.partition(":")
    if not sep:
        raise ValueError(f"dimension key {key!r} has no ':'")
    dimension_key(dimension, entity)
    return dimension, entity


def kpi_key(segment: str, kpi: str) -> str:
    """The key of a KPI alert stream: ``segment:kpi``."""
    _check_part(segment, "segment", ":")
    _check_part(kpi, "kpi", ":")
    return f"{segment}:{kpi}"
