"""``deident post``: a bundle ready to share on social platforms, checked before anything is written.

See ``bundle.py`` for the order of steps and docs/post.md for the choices behind them.
"""

from __future__ import annotations

from deident.post.bundle import PostResult, build_post, compose_text
from deident.post.hashtags import field_names, hashtags_for

__all__ = ["PostResult", "build_post", "compose_text", "field_names", "hashtags_for"]
