"""The fake LinkedIn's data: organizations, member tokens, images, posts and comments.

Pure and synchronous, like the Graph sandbox's state (which holds one as ``state.linkedin``
and makes a new one on reset). Modules that add LinkedIn behaviour keep their data here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .models import Comment, Image, MemberToken, Organization, Post
from .oauth_models import OAuthBook
from .settings import LinkedInSettings

_POST_ID_BASE = 7_000_000_000_000_000_000  # 19 digits, like LinkedIn's activity ids
_IMAGE_ID_BASE = 4_000_000_000  # image URNs are opaque strings; ours stay numeric


@dataclass(slots=True)
class LinkedInStore:
    """Everything that exists on the fake LinkedIn."""

    settings: LinkedInSettings = field(default_factory=LinkedInSettings)
    organizations: dict[str, Organization] = field(default_factory=dict)
    member_tokens: dict[str, MemberToken] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)  # by URN
    uploads: dict[str, str] = field(default_factory=dict)  # upload token -> image URN
    posts: dict[str, Post] = field(default_factory=dict)  # by URN
    posts_by_author: dict[str, list[Post]] = field(default_factory=dict)  # oldest first
    comments: dict[str, list[Comment]] = field(default_factory=dict)  # by post URN
    oauth: OAuthBook = field(default_factory=OAuthBook)  # consent, codes, refresh tokens
    likes: dict[str, int] = field(default_factory=dict)  # post URN -> likes (set by tests)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        """A fresh number (posts, images and comments share one sequence)."""
        return next(self._ids)

    def new_post_urn(self) -> str:
        """``urn:li:share:{id}`` (the Posts API creates shares for organic posts)."""
        return f"urn:li:share:{_POST_ID_BASE + self.next_id()}"

    def new_image_urn(self) -> str:
        """``urn:li:image:{id}``."""
        return f"urn:li:image:C4D{_IMAGE_ID_BASE + self.next_id()}"

    def add_post(self, post: Post) -> Post:
        """Store a new post."""
        self.posts[post.urn] = post
        self.posts_by_author.setdefault(post.author, []).append(post)
        return post

    def live_post(self, urn: str) -> Post | None:
        """A post that exists and is not deleted."""
        post = self.posts.get(urn)
        return post if post is not None and post.deleted_at is None else None
