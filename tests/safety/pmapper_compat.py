"""principalmapper 1.1.5 imports `collections.Mapping` & co., removed in Python 3.10.

Aliased here, for the tests only, before principalmapper is imported; the program never imports it.
"""

from __future__ import annotations

import collections
import collections.abc

for _name in ("Mapping", "MutableMapping", "Iterable", "Sequence", "MutableSet", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.common import Node, Policy  # noqa: E402
from principalmapper.querying.query_interface import local_check_authorization_full  # noqa: E402

__all__ = ["Node", "Policy", "local_check_authorization_full"]
