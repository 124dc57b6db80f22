"""Plate-reader CSVs -> AssayResult manifests (for ``kubectl apply`` or a GitOps repository).

A plate file has a ``variant`` column and a value column (``value`` or the campaign objective's
name), and optionally ``replicate`` and ``unit`` columns. Every row is checked against the
campaign (variant spelling, library membership, finite value); every bad row is reported with its
line number and no manifest is produced if any row is bad.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import API_VERSION, AssayResultSpec
from activeloop.errors import RecordError
from activeloop.ml.sequences import VariantLibrary
from activeloop.steps.data import check_measurements

MAX_PER_OBJECT = 4096  # the CRD's maxItems of spec.measurements


def read_plate(path: str | Path) -> pd.DataFrame:
    """The plate table as strings (header = line 1)."""
    path = Path(path)
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise RecordError(str(path), [(1, f"not a readable CSV: {exc}")]) from None


def _column(df: pd.DataFrame, *names: str) -> str | None:
    cols = {c.lower().strip(): c for c in df.columns}
    return next((cols[n] for n in names if n and n.lower() in cols), None)


def measurement_columns(
    df: pd.DataFrame, spec: CampaignSpec, source: str, value_column: str | None = None
) -> tuple[str, str]:
    """The variant and value columns of a table (``value_column`` names the latter explicitly)."""
    vcol = _column(df, "variant", "variants", "mutant")
    ycol = value_column if value_column in df.columns else None
    if value_column is None:
        ycol = _column(df, "value", spec.objective.name, "fitness")
    if vcol is None or ycol is None:
        raise RecordError(source, [(1, f"need a 'variant' and a 'value' column, found {list(df.columns)}")])
    return vcol, ycol


def plate_measurements(
    df: pd.DataFrame,
    spec: CampaignSpec,
    source: str,
    library: VariantLibrary | None = None,
    value_column: str | None = None,
) -> list[dict[str, Any]]:
    """Validated measurements (``variant``, ``value``, ``replicate``) of a plate table.

    Replicates: the ``replicate`` column if present, else repeated variants are numbered 1, 2, ...
    in file order.
    """
    vcol, ycol = measurement_columns(df, spec, source, value_column)
    rcol = _column(df, "replicate", "rep")
    names, values, errors = check_measurements(list(df[vcol]), list(df[ycol]), spec, library)
    bad = {i for i, _ in errors}
    errors = [(i + 2, msg) for i, msg in errors]
    reps: list[int | None] = []
    if rcol is not None:
        for i, raw in enumerate(df[rcol]):
            if i in bad:
                continue
            if raw.strip() == "":
                reps.append(None)
            elif raw.strip().isdigit() and int(raw) >= 1:
                reps.append(int(raw))
            else:
                errors.append((i + 2, f"replicate: {raw!r} is not a whole number from 1"))
    if errors:
        raise RecordError(source, sorted(errors))
    totals = Counter(names)
    counts: Counter[str] = Counter()
    rows = []
    for k, (name, value) in enumerate(zip(names, values)):
        counts[name] += 1
        rep = reps[k] if reps else None
        if rep is None and totals[name] > 1:
            rep = counts[name]
        rows.append({"variant": name, "value": value} | ({"replicate": rep} if rep else {}))
    seen: dict[tuple[str, int | None], int] = {}
    dup = []
    for k, r in enumerate(rows):
        key = (r["variant"], r.get("replicate"))
        if key in seen:
            dup.append((k + 2, f"variant {r['variant']} replicate {key[1]} repeats line {seen[key] + 2}"))
        seen.setdefault(key, k)
    if dup:
        raise RecordError(source, dup)
    return rows


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50] or "plate"


def assay_manifests(
    campaign: str,
    rows: list[dict[str, Any]],
    *,
    name: str,
    round_number: int | None = None,
    unit: str | None = None,
    supersedes: list[str] | None = None,
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    """AssayResult objects for ``rows``, split into parts of at most 4,096 measurements."""
    chunks = [rows[i : i + MAX_PER_OBJECT] for i in range(0, len(rows), MAX_PER_OBJECT)] or [[]]
    out = []
    for k, chunk in enumerate(chunks):
        obj_name = _dns(name) if len(chunks) == 1 else f"{_dns(name)}-{k + 1}"
        spec: dict[str, Any] = {"campaign": campaign, "measurements": chunk}
        if round_number is not None:
            spec["round"] = round_number
        if unit:
            spec["unit"] = unit
        if supersedes:
            spec["supersedes"] = list(supersedes)
        AssayResultSpec.model_validate(spec)  # the same checks the operator makes
        meta: dict[str, Any] = {"name": obj_name, "labels": {"activeloop.dev/campaign": campaign}}
        if namespace:
            meta["namespace"] = namespace
        out.append({"apiVersion": API_VERSION, "kind": "AssayResult", "metadata": meta, "spec": spec})
    return out
