"""Constraints on a site library (issue 20): per-site residues, a substitution budget and forbidden
motifs, computed arithmetically and checked here against enumeration with Python's own regexes."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import ConfigError, VariantError
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.library import CombinatorialLibrary
from activeloop.testing.workstation import Lab

PARENT = "MNQSTCKLNAYSTGNVS"
SITES = [3, 9, 2, 12, 15]  # not in position order: the rows follow the listed order
RESIDUES = ["ACDN", "NPQST", "KLN", "STV", "NPG"]  # the parent's Q3 is not in site 3's set


def _occurrences(sequence: str, motif: str) -> set[int]:
    pattern = re.compile("(?=" + motif.replace("X", ".") + ")")
    return {m.start() for m in pattern.finditer(sequence)}


def _enumerated(budget, forbidden):
    """Every combination in itertools.product order, kept if within the budget, with whether it
    introduces a forbidden motif (an occurrence the parent does not have)."""
    single = {f for f in forbidden if len(f) == 1}
    sets = ["".join(r for r in res if r not in single or r == PARENT[s - 1]) for s, res in zip(SITES, RESIDUES)]
    rows = []
    for combo in itertools.product(*sets):
        seq = list(PARENT)
        for s, a in zip(SITES, combo):
            seq[s - 1] = a
        if budget is not None and sum(PARENT[s - 1] != a for s, a in zip(SITES, combo)) > budget:
            continue
        seq = "".join(seq)
        rows.append((seq, any(_occurrences(seq, f) - _occurrences(PARENT, f) for f in forbidden)))
    return rows


@pytest.mark.parametrize("budget", [None, 1, 2, 3, 5])
@pytest.mark.parametrize("forbidden", [(), ("C",), ("N[^P][ST]",), ("C", "N[^P][ST]", "KX[LN]", "[ST]N")])
def test_constrained_rows_equal_enumeration_in_order(budget, forbidden):
    lib = CombinatorialLibrary(PARENT, SITES, residues=RESIDUES, max_substitutions=budget, forbidden=forbidden)
    expected = _enumerated(budget, forbidden)
    assert len(lib) == len(expected)
    rows = np.arange(len(lib))
    assert lib.sequences_of(rows) == [seq for seq, _ in expected]
    banned = {i for i, (_, bad) in enumerate(expected) if bad}
    assert set(lib.excluded_rows().tolist()) == banned
    assert lib.size == len(expected) - len(banned)
    np.testing.assert_array_equal(lib.rank(lib.digits(rows)), rows)
    names = lib.names_of(rows)
    assert [lib.contains(n) for n in names] == [i not in banned for i in range(len(lib))]
    allowed = [n for i, n in enumerate(names) if i not in banned]
    np.testing.assert_array_equal(lib.rows_of(allowed), [i for i in range(len(lib)) if i not in banned])


def test_a_library_without_constraints_keeps_the_product_order():
    lib = CombinatorialLibrary(PARENT, SITES, alphabet="ACDEG")
    expected = ["".join(c) for c in itertools.product("ACDEG", repeat=len(SITES))]
    tokens = lib.sequences_of(np.arange(len(lib)))
    assert [ "".join(seq[s - 1] for s in SITES) for seq in tokens] == expected


def test_a_large_budgeted_library_is_counted_and_indexed_without_enumeration():
    lib = CombinatorialLibrary(GB1_PARENT, [39, 40, 41, 54, 10, 20, 30], max_substitutions=3,
                               forbidden=["C", "N[^P][ST]"])
    # C(7,k) 18^k for k <= 3 (no cysteine: 18 residues per site besides the parent's)
    assert len(lib) == sum(18**k * len(list(itertools.combinations(range(7), k))) for k in range(4)) == 211_051
    rows = np.random.default_rng(0).choice(len(lib), 5000, replace=False)
    np.testing.assert_array_equal(lib.rank(lib.digits(rows)), rows)
    subs = (lib.site_tokens(rows) != lib.parent_site_tokens).sum(axis=1)
    assert subs.max() <= 3 and "C" not in "".join(lib.sequences_of(rows[:200]))


def test_variants_outside_the_constraints_are_refused_saying_why():
    lib = CombinatorialLibrary(PARENT, SITES, residues=RESIDUES, max_substitutions=2, forbidden=["N[^P][ST]"])
    with pytest.raises(VariantError, match="site 3 allows only ACDN, not the parent's Q"):
        lib.rows_of(["N2K"])
    with pytest.raises(VariantError, match="3 substitutions; library.maxSubstitutions is 2"):
        lib.rows_of(["N2K:Q3A:N9P"])
    with pytest.raises(VariantError, match="introduces a forbidden motif"):
        lib.rows_of(["Q3N"])  # N3 S4 T5: a new N[^P][ST] (the parent has N2 Q3 S4 and N15 V16 S17)
    assert not lib.contains("Q3N") and lib.contains("Q3D")


def test_motifs_that_would_exclude_too_much_are_refused():
    with pytest.raises(ConfigError, match="library.forbidden"):
        class Small(CombinatorialLibrary):
            MAX_MOTIF_ROWS = 100
        Small(GB1_PARENT, [39, 40, 41, 54], forbidden=["[ACDEFGHIKLMNPQRSTW]X"])  # V39 anything new


SPEC = {"parentSequence": GB1_PARENT, "initialBatchSize": 8, "acquisition": {"batchSize": 8}}


@pytest.mark.parametrize("library,field,problem", [
    ({"sites": [39, {"position": 39, "residues": "AV"}]}, "library.sites", "site 39 is listed twice"),
    ({"sites": [{"position": 40, "residues": "AZ"}]}, "library.sites.0.SiteSpec.residues", "'Z'"),
    ({"sites": [39, 40], "forbidden": ["C", "N[^P"]}, "library.forbidden", "item 2: 'N\\[\\^P': the '\\[' at column 2"),
    ({"sites": [39, 40], "forbidden": ["N-S"]}, "library.forbidden", "column 2 is '-'"),
    ({"sites": [39, 40], "maxSubstitutions": 0}, "library.maxSubstitutions", "greater than or equal to 1"),
    ({"variantsUri": "library/v.csv", "maxSubstitutions": 2}, "library", "constrain a site library"),
    ({"sites": [{"position": 40, "residues": "C"}], "forbidden": ["C"]}, "library.sites\\[0\\]",
     "site 40 allows no residue"),
    ({"sites": [39, 40], "maxSubstitutions": 1}, "initialBatchSize", "more than the library's 39 variants"),
])
def test_bad_constraints_name_the_field(library, field, problem):
    with pytest.raises(ValueError, match=f"(?s){field}.*{problem}"):
        CampaignSpec.model_validate({**SPEC, "initialBatchSize": 40, "library": library})


def test_a_spec_with_constraints_round_trips():
    spec = CampaignSpec.model_validate({**SPEC, "library": {
        "sites": [39, {"position": 40, "residues": "avilmfwy"}, 41], "maxSubstitutions": 2, "forbidden": ["c"]}})
    again = CampaignSpec.model_validate(spec.dump())
    assert again == spec and again.library.positions == [39, 40, 41]
    assert again.library.residues(GB1_PARENT)[1] == "AVILMFWY" and "C" not in again.library.residues(GB1_PARENT)[0]


CONSTRAINED = {
    "parentSequence": GB1_PARENT,
    "library": {"sites": [39, {"position": 40, "residues": "ADEFNSTW"}, 41, 54], "alphabet": "ACDEFGHIKNSTVW",
                "maxSubstitutions": 2, "forbidden": ["C", "N[^P][ST]"], "exclude": ["V39A"]},
    "surrogate": {"kind": "gp_epistasis", "encoding": "onehot"},
    "acquisition": {"strategy": "ucb", "batchSize": 12, "shards": 3},
    "initialBatchSize": 24,
    "rounds": 2,
}


def _measure(lab: Lab, tmp_path, proposals, name: str) -> None:
    variants = list(pd.read_csv(proposals.path)["variant"])
    out = tmp_path / name
    pd.DataFrame({"variant": variants, "value": [float(sum(map(ord, v)) % 13) for v in variants]}).to_csv(out, index=False)
    lab.record(out)


def test_proposals_keep_the_constraints_sharded_or_not(tmp_path):
    """Every proposal within the constraints, and the sharded batch the one-process batch."""
    batches = []
    for jobs in (1, 2):
        lab = Lab(tmp_path / f"run{jobs}")
        detail = lab.init(CONSTRAINED)
        library = lab.service.run(lab.name).library()
        assert detail.library_size == library.size < len(library)
        first = lab.propose()
        _measure(lab, tmp_path, first, f"plate{jobs}.csv")
        second = lab.propose(jobs=jobs)
        batches.append(list(pd.read_csv(second.path)["variant"]))
        for v in list(pd.read_csv(first.path)["variant"]) + batches[-1]:
            assert library.contains(v), v
            assert len(v.split(":")) <= 2 and "C" not in v and v != "V39A"
            seq = library.parser.sequence(v)
            assert not (_occurrences(seq, "N[^P][ST]") - _occurrences(GB1_PARENT, "N[^P][ST]")), v
    assert batches[0] == batches[1]
