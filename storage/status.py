"""The post lifecycle: every status, and which moves between them are legal.

Only `storage.lifecycle` changes a post's status; this module just names
the states and the edges of DESIGN.md's lifecycle diagram.
"""

from __future__ import annotations

from enum import StrEnum


class PostStatus(StrEnum):
    PLANNED = "planned"  # a calendar slot; nothing made yet
    DRAFTING = "drafting"  # the caption is being written
    GENERATING = "generating"  # media is being made
    IN_REVIEW = "in_review"  # waiting for a person
    APPROVED = "approved"  # a person approved it; media and caption hashes recorded
    REJECTED = "rejected"  # a person rejected it (terminal)
    PUBLISHING = "publishing"  # an attempt is under way (or crashed: reconcile first)
    PUBLISHED = "published"  # it is on the platform (terminal)
    FAILED = "failed"  # a stage or a publish failed for good; a person may retry
    SKIPPED = "skipped"  # its slot passed beyond the grace period (terminal)
    NEEDS_RECONCILE = "needs_reconcile"  # nobody can tell whether it went out: a person decides


S = PostStatus
TRANSITIONS: dict[PostStatus, frozenset[PostStatus]] = {
    S.PLANNED: frozenset({S.DRAFTING, S.SKIPPED}),
    S.DRAFTING: frozenset({S.GENERATING, S.FAILED}),
    S.GENERATING: frozenset({S.IN_REVIEW, S.FAILED}),
    # back to planned: a person asked for new media (the caption is kept)
    S.IN_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.PLANNED}),
    # back to review: edited after approval, or its files changed on disk
    S.APPROVED: frozenset({S.PUBLISHING, S.SKIPPED, S.IN_REVIEW, S.PLANNED}),
    # back to approved: reconciliation found it is not on the platform, so it is retried
    S.PUBLISHING: frozenset({S.PUBLISHED, S.APPROVED, S.FAILED, S.NEEDS_RECONCILE}),
    S.NEEDS_RECONCILE: frozenset({S.PUBLISHED, S.APPROVED, S.SKIPPED}),
    S.FAILED: frozenset({S.PLANNED}),
    S.REJECTED: frozenset(),
    S.PUBLISHED: frozenset(),
    S.SKIPPED: frozenset(),
}


def is_legal(current: PostStatus, target: PostStatus) -> bool:
    return target in TRANSITIONS[current]
