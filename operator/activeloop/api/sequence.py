"""The residue alphabet and sequence validation: what a spec's sequences may contain.

Pure Python, shared by the schemas (``api``) and the ML layer (``ml.sequences`` builds on it).
"""

from __future__ import annotations

from activeloop.errors import VariantError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 canonical amino acids; index ``i`` in token matrices means ``AMINO_ACIDS[i]``."""


def validate_sequence(sequence: str, field_name: str = "sequence") -> str:
    """Return ``sequence`` upper-cased, or raise naming the first residue outside the alphabet."""
    seq = sequence.strip().upper()
    if not seq:
        raise VariantError(field_name, "is empty")
    for i, ch in enumerate(seq, start=1):
        if ch not in AMINO_ACIDS:
            raise VariantError(
                field_name,
                f"residue {i} is {ch!r}, not one of the 20 amino acids {AMINO_ACIDS}",
            )
    return seq


__all__ = ["AMINO_ACIDS", "validate_sequence"]
