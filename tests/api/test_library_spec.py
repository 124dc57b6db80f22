"""The library size guard is a setting checked per process (shards), and its error says what to change."""

import pytest
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec, LibrarySpec

PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"


def _spec(**fields):
    return CampaignSpec.model_validate({"parentSequence": PARENT, **fields})


def test_a_library_over_the_limit_is_refused_naming_the_settings():
    with pytest.raises(ValidationError, match=r"20\^6 = 64,000,000 candidates in 1 shard\(s\) is 64,000,000 per "
                                              r"process, over library.maxCandidates \(5,000,000\); set "
                                              r"acquisition.shards to at least 13"):
        _spec(library={"sites": [1, 2, 3, 4, 5, 6]})
    assert _spec(library={"sites": [1, 2, 3, 4, 5]}).library.max_candidates == 5_000_000  # 3.2 million


def test_shards_raise_what_a_campaign_can_score():
    spec = _spec(library={"sites": [1, 2, 3, 4, 5, 6]}, acquisition={"shards": 13, "parallelism": 2})
    assert spec.acquisition.shards == 13 and spec.library.combinations(spec.parent_sequence) == 64_000_000
    with pytest.raises(ValidationError, match="12 shard"):
        _spec(library={"sites": [1, 2, 3, 4, 5, 6]}, acquisition={"shards": 12})
    with pytest.raises(ValidationError, match="cascade.mode 'always' and acquisition.shards"):
        _spec(library={"sites": [1, 2]}, acquisition={"shards": 2, "cascade": {"mode": "always"}})


def test_the_limit_can_be_raised_in_yaml_spelling():
    spec = _spec(library={"sites": [1, 2, 3, 4, 5, 6], "maxCandidates": 70_000_000})
    assert spec.library.max_candidates == 70_000_000
    with pytest.raises(ValidationError, match="maxCandidates"):
        LibrarySpec.model_validate({"sites": [1, 2], "maxCandidates": 0})
