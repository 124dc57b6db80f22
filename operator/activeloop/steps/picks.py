"""The scientist's picks: variants a person adds to a round's batch.

Picks are proposed as given, ahead of the model's choices; the model fills the rest of the batch
and never proposes a pick itself (they are pending for it, like earlier proposals without a
result). They are checked when a round is asked for (so a bad pick is refused before anything
starts) and again by the round's steps against its pinned inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import InputError, VariantError
from activeloop.ml.library import Library
from activeloop.steps import ingest
from activeloop.steps.data import pending_names
from activeloop.store.base import ArtifactStore


def batch_size(spec: CampaignSpec, round_number: int) -> int:
    """The batch of round ``round_number``: the first batch's size, then ``acquisition.batchSize``."""
    return spec.initial_batch_size if round_number == 1 else spec.acquisition.batch_size


def check_picks(library: Library, picks: Sequence[str], tried: Collection[str], pending: Collection[str],
                batch: int, field: str = "picks") -> list[str]:
    """The picks' canonical names, or an :class:`InputError` naming the first bad one
    (``picks[2]: ...``): a spelling the campaign does not read, a variant outside the library or
    its constraints, one measured already or proposed and still pending, a repeat, or more picks
    than the batch holds."""
    if len(picks) > batch:
        raise InputError(field, f"{len(picks)} picks for a batch of {batch}: pick at most {batch}")
    parser = library.parser
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(picks):
        where = f"{field}[{i}]"
        name = parser.name(raw, where)
        if name in seen:
            raise InputError(where, f"{raw} is {field}[{seen[name]}] again")
        try:
            library.rows_of([name])
        except VariantError as exc:
            raise InputError(where, exc.problem) from None
        if name in tried:
            raise InputError(where, f"{name} is measured already (its result is in the campaign)")
        if name in pending:
            raise InputError(where, f"{name} was proposed in an earlier round and has no result yet")
        seen[name] = i
        out.append(name)
    return out


def check_next_picks(store: ArtifactStore, spec: CampaignSpec, library: Library, picks: Sequence[str],
                     round_number: int) -> list[str]:
    """:func:`check_picks` for round ``round_number`` against what the campaign holds now."""
    data = ingest.measurements(store, ingest.list_assays(store))
    tried = set(data["variant"])
    return check_picks(library, picks, tried, pending_names(store, library, tried, round_number),
                       batch_size(spec, round_number))


__all__ = ["batch_size", "check_next_picks", "check_picks"]
