"""Whole-log verification against signed tree heads: a rewritten chain is caught by the Merkle roots."""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.chain import seal_entry
from services.audit.domain.checkpoint import public_key_bytes, sign_tree_head
from services.audit.domain.merkle import EMPTY_ROOT, root
from services.audit.domain.verify import verify_log
from tests.unit.audit.helpers import make_chain, make_record

SEED = bytes([3]) * 32
PUBLIC = public_key_bytes(Ed25519PrivateKey.from_private_bytes(SEED))


def heads_for(chain: list, sizes: list[int]) -> list:  # type: ignore[type-arg]
    return [
        sign_tree_head(SEED, n, root([e.entry_hash for e in chain[:n]]), "2026-01-01T00:00:00Z")
        for n in sizes
    ]


def test_intact_log_with_checkpoints_verifies() -> None:
    chain = make_chain(40)
    result = verify_log(chain, heads_for(chain, [0, 10, 10, 25, 40]), PUBLIC)
    assert result.ok and result.checked == 40
    assert verify_log(chain, [], PUBLIC).ok


def test_a_chain_rewritten_from_seq_17_is_caught_by_the_checkpoint_covering_it() -> None:
    chain = make_chain(40)
    heads = heads_for(chain, [10, 20, 30])
    # A superuser edits seq 17 and recomputes every later hash: the chain alone looks fine.
    forged = list(chain[:17])
    prev = chain[16].entry_hash
    for seq in range(17, 40):
        record = make_record(seq)
        if seq == 17:
            record["subject"] = "forged"
        entry = seal_entry(prev, **record)  # type: ignore[arg-type]
        forged.append(entry)
        prev = entry.entry_hash
    result = verify_log(forged, heads, PUBLIC)
    assert (result.ok, result.first_bad_seq) == (False, 10)
    assert result.reason.startswith("root_mismatch: entries 10..19")  # type: ignore[union-attr]


def test_chain_breaks_truncation_and_bad_signatures() -> None:
    chain = make_chain(30)
    heads = heads_for(chain, [10, 30])
    edited = list(chain)
    edited[22] = dataclasses.replace(edited[22], offset=1)
    assert verify_log(edited, heads, PUBLIC).first_bad_seq == 22
    result = verify_log(chain[:25], heads, PUBLIC)
    assert (result.ok, result.first_bad_seq) == (False, 25)
    assert result.reason.startswith("truncated")  # type: ignore[union-attr]
    forged_head = dataclasses.replace(heads[0], tree_size=11)
    assert verify_log(chain, [forged_head], PUBLIC).reason.startswith("bad_signature")  # type: ignore[union-attr]
    empty_head = sign_tree_head(SEED, 0, root([b"x"]), "2026-01-01T00:00:00Z")
    assert not verify_log(chain, [empty_head], PUBLIC).ok
    assert verify_log(chain, [sign_tree_head(SEED, 0, EMPTY_ROOT, "2026-01-01T00:00:00Z")], PUBLIC).ok
