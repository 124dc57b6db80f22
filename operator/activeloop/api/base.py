"""The base of every API model: camelCase aliases, unknown fields refused, immutable."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.types import Strict
from typing_extensions import Self


class Model(BaseModel):
    """Base of every API model: camelCase aliases, unknown fields forbidden, frozen.

    Field names are snake_case in Python and camelCase in YAML, JSON and Kubernetes
    (``batchSize``); both are accepted when reading. Unknown fields are refused, so a typo never
    silently becomes a default.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Numbers are numbers: a number field refuses ``true``, a quoted ``"96"`` and ``96.5`` for a
        whole number (pydantic's strict mode, field by field, for every int and float field)."""
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for f in cls.model_fields.values():
            ann = f.annotation
            args = set(get_args(ann)) if isinstance(ann, types.UnionType) or get_origin(ann) is Union else {ann}
            numbers = args - {type(None)}
            if numbers and numbers <= {int, float} and not any(isinstance(m, Strict) for m in f.metadata):
                f.metadata.append(Strict())
                changed = True
        if changed:
            cls.model_rebuild(force=True)

    def dump(self) -> dict:
        """The JSON form with camelCase keys (what Kubernetes and the REST API show)."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def lenient(cls, raw: Mapping[str, Any] | None) -> Self:
        """The model of what an API server holds: unknown keys (kopf's, say) are ignored, and a
        status it cannot read gives the defaults rather than an error."""
        known = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
        try:
            return cls.model_validate({k: v for k, v in dict(raw or {}).items() if k in known})
        except ValidationError:
            return cls()
