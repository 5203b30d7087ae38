"""
Words that cannot be misread: three different things said of a flag never share a word,
in either language.

- the review of a flag by a coordinator (open, acknowledged, dismissed, withdrawn);
- how certain the overlap in time is (certain, possible);
- the verification of the report itself (unverified, verified, disputed, retracted).

«Підтверджена» (acknowledged) beside «підтверджено» (a certain overlap) read as one.
"""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext

from corridors.models import Flag
from corridors.templatetags.corridors import certainty_word
from tracker.models import Verification


def stems(phrases: list[str]) -> set[str]:
    """The first five letters of each word of five letters or more: «підтверджена» and «підтверджено» meet."""
    return {word[:5] for phrase in phrases for word in re.findall(r"\w+", phrase.lower()) if len(word) >= 5}


@pytest.mark.parametrize("language", ["en", "uk"])
def test_review_certainty_and_verification_never_share_a_word(language):
    with translation.override(language):
        groups = {
            "review": [str(label) for label in Flag.Status.labels]
            + [gettext("Acknowledge"), gettext("Flag acknowledged."), gettext("Acknowledge the selected flags")],
            "certainty": [str(label) for label in Flag.Certainty.labels]
            + [certainty_word(value) for value in Flag.Certainty.values],
            "verification": [str(label) for label in Verification.labels],
        }
    found = {name: stems(phrases) for name, phrases in groups.items()}
    for name, mine in found.items():
        for other, theirs in found.items():
            if name < other:
                assert not mine & theirs, f"{language}: {name} and {other} share {mine & theirs}"
