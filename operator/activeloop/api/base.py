"""The base of every API model: camelCase aliases, unknown fields refused, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base of every API model: camelCase aliases, unknown fields forbidden, frozen.

    Field names are snake_case in Python and camelCase in YAML, JSON and Kubernetes
    (``batchSize``); both are accepted when reading. Unknown fields are refused, so a typo never
    silently becomes a default.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def dump(self) -> dict:
        """The JSON form with camelCase keys (what Kubernetes and the REST API show)."""
        return self.model_dump(mode="json", by_alias=True)
