"""The library size guard is a setting, and its error says what to change."""

import pytest
from pydantic import ValidationError

from activeloop.api.campaign import LibrarySpec


def test_a_library_over_the_limit_is_refused_naming_the_setting():
    with pytest.raises(ValidationError, match=r"20\^6 = 64,000,000 combinations is over library.maxCandidates"):
        LibrarySpec(sites=[1, 2, 3, 4, 5, 6])
    assert LibrarySpec(sites=[1, 2, 3, 4, 5]).max_candidates == 5_000_000  # 3.2 million: accepted


def test_the_limit_can_be_raised_in_yaml_spelling():
    spec = LibrarySpec.model_validate({"sites": [1, 2, 3, 4, 5, 6], "maxCandidates": 70_000_000})
    assert spec.max_candidates == 70_000_000
    with pytest.raises(ValidationError, match="maxCandidates"):
        LibrarySpec.model_validate({"sites": [1, 2], "maxCandidates": 0})
