import numpy as np
import pytest

from activeloop.errors import ConfigError
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.encodings import descriptor_table, get_encoder
from activeloop.ml.library import VariantLibrary
from activeloop.ml.sequences import AMINO_ACIDS

LIB = VariantLibrary.from_strings(GB1_PARENT, ["VDGV", "FWAA", "FDGV"], (39, 40, 41, 54))


def test_onehot_has_one_indicator_per_site():
    X = get_encoder("onehot").encode(LIB)
    assert X.shape == (3, 80)
    assert (X.sum(1) == 4).all()
    # FDGV differs from WT only at the first site
    assert np.abs(X[0] - X[2]).sum() == 2
    assert X[1, AMINO_ACIDS.index("F")] == 1 and X[1, 20 + AMINO_ACIDS.index("W")] == 1


def test_physchem_descriptors_are_standardised_and_distinguish_residues():
    table = descriptor_table()
    assert table.shape[0] == 20 and table.shape[1] >= 20
    np.testing.assert_allclose(table.mean(0), 0, atol=1e-9)
    assert len({tuple(r) for r in table.round(6)}) == 20
    X = get_encoder("physchem").encode(LIB)
    assert X.shape == (3, 4 * table.shape[1])
    np.testing.assert_allclose(X[0, table.shape[1]:], X[2, table.shape[1]:])
    assert not np.allclose(X[0, : table.shape[1]], X[2, : table.shape[1]])


def test_onehot_physchem_concatenates():
    X = get_encoder("onehot_physchem").encode(LIB)
    assert X.shape == (3, 4 * (20 + descriptor_table().shape[1]))


def test_unknown_encoding_names_the_field():
    with pytest.raises(ConfigError, match="encoding: unknown encoding 'blosum'"):
        get_encoder("blosum")
