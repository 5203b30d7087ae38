"""
Parts of a public page rendered once and reused for as long as what they show is the
same: a corridor's card, a site's row of the overview. A write re-renders only the
parts it changed; the rest comes from each process's memory.

    {% cache 86400 "overview-corridor" summary|digest LANGUAGE_CODE calendar using="fragments" %}
      {% include "corridors/_overview_card.html" with summary=summary only %}
    {% endcache %}

The key is the *content*, not a version to bump: `digest` reads everything the rows
given to the fragment carry (every loaded field, annotation and attached object, at any
depth), so a fragment cannot outlive a change of what it shows, and nothing has to
remember to invalidate it. The discipline that makes this hold:

- the fragment's template gets those rows and nothing else (`include … only`), so it
  cannot read anything the key does not cover;
- what depends on the clock is worked out before, onto the rows (a window's state and
  the minutes it has left), and `calendar` (tracker/wording.py) stands for
  what the date tags read of the clock themselves;
- the language is in the key.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from django import template
from django.db.models import QuerySet

register = template.Library()


@register.filter
def digest(value: Any) -> str:
    """
    A fingerprint of everything `value` holds: its pickle (a model instance pickles its
    loaded fields, annotations and related objects it carries; a dataclass or list its
    items). Equal content gives equal pickles, so the same key; the rare object that
    pickles differently with equal content only costs a render. A query set not yet
    read is refused: reading it here would hide a query in a key.
    """
    if isinstance(value, QuerySet) and value._result_cache is None:
        raise TypeError("digest() of a query set not read yet: give it a list")
    return hashlib.blake2b(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), digest_size=16).hexdigest()
