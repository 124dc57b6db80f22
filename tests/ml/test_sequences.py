import numpy as np
import pytest

from activeloop.errors import VariantError
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.library import VariantLibrary
from activeloop.ml.sequences import (
    VariantParser,
    detokenize,
    parse_mutations,
    tokenize,
)

GB1_SITES = (39, 40, 41, 54)


def test_mutations_are_parsed_sorted_and_named_canonically():
    muts = parse_mutations("D40G:V39A", GB1_PARENT)
    assert [str(m) for m in muts] == ["V39A", "D40G"]
    parser = VariantParser(GB1_PARENT, GB1_SITES)
    assert parser.name("D40G,V39A") == "V39A:D40G"
    assert parser.name("V39A/D40G") == "V39A:D40G"


def test_every_spelling_gives_the_same_variant():
    parser = VariantParser(GB1_PARENT, GB1_SITES)
    seq = parser.sequence("FWAA")
    assert parser.sequence("V39F:D40W:G41A:V54A") == seq
    assert parser.sequence(seq) == seq
    assert parser.name("FWAA") == "V39F:D40W:G41A:V54A"
    assert parser.name("VDGV") == "WT" and parser.sequence("WT") == GB1_PARENT


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("A39V", "the parent has 'V' at 39, not 'A'"),
        ("V99A", "position 99 is outside 1..56"),
        ("V39B", "'B' is not one of the 20 amino acids"),
        ("V39A:V39C", "mutated twice"),
        ("39A", "is not a substitution like V39A"),
        ("VDGX", "'X' is not one of the 20 amino acids"),
        ("HELLO", "is not substitutions"),
    ],
)
def test_bad_variants_name_the_field_and_the_problem(text, problem):
    parser = VariantParser(GB1_PARENT, GB1_SITES)
    with pytest.raises(VariantError) as info:
        parser.sequence(text, "variants[3]")
    assert info.value.field == "variants[3]"
    assert problem in str(info.value)


def test_bad_parent_and_sites_are_refused():
    with pytest.raises(VariantError, match="residue 3 is 'Z'"):
        VariantParser("MKZ")
    with pytest.raises(VariantError, match="site 60 is outside"):
        VariantParser(GB1_PARENT, (60,))


def test_library_tokens_round_trip_and_refuse_duplicates():
    lib = VariantLibrary.from_strings(GB1_PARENT, ["VDGV", "FWAA", "V39A"], GB1_SITES)
    assert lib.names == ("WT", "V39F:D40W:G41A:V54A", "V39A")
    assert detokenize(lib.tokens) == lib.sequences
    assert list(lib.variable_positions) == [38, 39, 40, 53]
    assert list(lib.index_of(["V39A", "WT"])) == [2, 0]
    with pytest.raises(VariantError, match="duplicates variants\\[1\\]"):
        VariantLibrary.from_strings(GB1_PARENT, ["VDGV", "FWAA", "V39F:D40W:G41A:V54A"], GB1_SITES)
    with pytest.raises(VariantError, match="not in the candidate library"):
        lib.index_of(["V39C"])


def test_tokenize_rejects_mixed_lengths_and_bad_letters():
    assert tokenize(["AC", "DE"]).dtype == np.uint8
    with pytest.raises(VariantError, match="different lengths"):
        tokenize(["AC", "D"])
    with pytest.raises(VariantError, match="residue 2 is 'J'"):
        tokenize(["AC", "DJ"])
