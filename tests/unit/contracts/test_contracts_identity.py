"""Golden keys and composite keys; GS1 check digits against an independent computation."""

from __future__ import annotations

import random

import pytest

from contracts.identity import (
    dimension_key,
    golden_customer_key,
    golden_product_key,
    gs1_check_digit,
    kpi_key,
    normalise_gtin,
    normalise_vat,
    parse_dimension_key,
    parse_sku_at_site,
    parse_source_key,
    sku_at_site,
    source_key,
)


def independent_gs1_check(body: str) -> int:
    """GS1 General Specifications 7.9.1, written separately: pad to 17 digits, weights 3,1,3,...,3."""
    padded = body.rjust(17, "0")
    weights = [3 if i % 2 == 0 else 1 for i in range(17)]  # position 1 (leftmost of 17) has weight 3
    total = 0
    for w, ch in zip(weights, padded, strict=True):
        total += w * int(ch)
    nearest_ten_up = ((total + 9) // 10) * 10
    return nearest_ten_up - total


# Published examples: EAN-13 of Wikipedia's EAN article (4006381333931, 5901234123457), UPC-A
# 036000291452 (Wikipedia UPC article), EAN-8 96385074 (Wikipedia EAN-8 article).
KNOWN_VALID_GTINS = ["4006381333931", "5901234123457", "036000291452", "96385074"]


@pytest.mark.parametrize("gtin", KNOWN_VALID_GTINS)
def test_known_real_world_gtins_are_valid(gtin: str) -> None:
    assert gs1_check_digit(gtin[:-1]) == int(gtin[-1])
    assert normalise_gtin(gtin) == gtin.zfill(14)
    assert golden_product_key(source="PIM", source_id="1", gtin=gtin) == "gtin:" + gtin.zfill(14)


def test_check_digit_matches_independent_computation_on_random_bodies() -> None:
    rng = random.Random(20240305)
    for length in (7, 11, 12, 13, 16):
        for _ in range(300):
            body = "".join(rng.choice("0123456789") for _ in range(length))
            assert gs1_check_digit(body) == independent_gs1_check(body), body


def test_gln_priority_and_validation() -> None:
    body = "401234500000"
    gln = body + str(independent_gs1_check(body))
    assert gln == "4012345000009"
    key = golden_customer_key(source="SAP-EU", source_id="1000", gln=gln, duns="123456789", vat="DE123456789")
    assert key == "gln:4012345000009"
    assert golden_customer_key(source="S", source_id="1", gln="4012345 00000-9") == "gln:4012345000009"
    wrong = body + str((independent_gs1_check(body) + 1) % 10)
    with pytest.raises(ValueError, match="check digit"):
        golden_customer_key(source="S", source_id="1", gln=wrong, duns="123456789")
    with pytest.raises(ValueError, match="13 digits"):
        golden_customer_key(source="S", source_id="1", gln="40123450000")
    with pytest.raises(ValueError, match="only digits"):
        golden_customer_key(source="S", source_id="1", gln="40123450000A9")


def test_duns_vat_and_source_scoped_fallbacks() -> None:
    assert golden_customer_key(source="S", source_id="1", duns="15-048-3782", vat="DE1") == "duns:150483782"
    assert golden_customer_key(source="S", source_id="1", vat="de 123.456.789") == "vat:DE123456789"
    assert golden_customer_key(source="S", source_id="1", vat="123456789", country="DE") == "vat:DE123456789"
    assert golden_customer_key(source="S", source_id="1", vat="094259216", country="GR") == "vat:EL094259216"
    assert golden_customer_key(source="SAP-EU", source_id="1000") == "src:SAP-EU:1000"
    assert golden_customer_key(source="SAP-EU", source_id="1000", gln="  ", duns="") == "src:SAP-EU:1000"
    with pytest.raises(ValueError, match="9 digits"):
        golden_customer_key(source="S", source_id="1", duns="12345678")
    with pytest.raises(ValueError, match="country prefix"):
        normalise_vat("123456789")
    with pytest.raises(ValueError, match="source"):
        golden_customer_key(source="SAP:EU", source_id="1")
    with pytest.raises(ValueError, match="empty"):
        golden_customer_key(source="SAP", source_id="  ")


def test_gtin_lengths_and_errors() -> None:
    for length in (8, 12, 13, 14):
        body = "7" * (length - 1)
        gtin = body + str(independent_gs1_check(body))
        assert normalise_gtin(gtin) == gtin.zfill(14)
    # the same item as GTIN-12 and GTIN-13 has one golden key
    assert normalise_gtin("036000291452") == normalise_gtin("0036000291452") == "00036000291452"
    with pytest.raises(ValueError, match="8, 12, 13 or 14"):
        normalise_gtin("1234567890")
    with pytest.raises(ValueError, match="check digit"):
        normalise_gtin("4006381333932")
    assert golden_product_key(source="SAP-EU", source_id="MAT-1") == "src:SAP-EU:MAT-1"


def test_composite_keys_round_trip() -> None:
    assert sku_at_site("SKU-1", "DC-NL") == "SKU-1@DC-NL"
    assert parse_sku_at_site("SKU-1@DC-NL") == ("SKU-1", "DC-NL")
    for bad in ["SKU1", "a@b@c", "@DC", "SKU@"]:
        with pytest.raises(ValueError):
            parse_sku_at_site(bad)
    with pytest.raises(ValueError):
        sku_at_site("a@b", "c")
    key = dimension_key("customer", "gln:4012345000009")
    assert key == "customer:gln:4012345000009"
    assert parse_dimension_key(key) == ("customer", "gln:4012345000009")
    with pytest.raises(ValueError, match="dimension"):
        dimension_key("store", "1")
    with pytest.raises(ValueError):
        parse_dimension_key("customer")
    assert source_key("SAP-EU", "1000") == "SAP-EU:1000"
    assert parse_source_key("SAP-EU:10:00") == ("SAP-EU", "10:00")
    assert kpi_key("PLATINUM", "otif") == "PLATINUM:otif"
    with pytest.raises(ValueError):
        kpi_key("A:B", "otif")
