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


class PublicationStatus(StrEnum):
    """One approved post on one platform."""

    PENDING = "pending"  # not out yet: due, waiting for its account, or back after a crash
    PUBLISHING = "publishing"  # an attempt is under way (or crashed: reconcile first)
    PUBLISHED = "published"
    FAILED = "failed"  # the platform refused it, or it changed after going out elsewhere
    NEEDS_RECONCILE = "needs_reconcile"  # nobody can tell whether it went out: a person decides
    SKIPPED = "skipped"  # its slot passed beyond the grace period, or a person left it out


P = PublicationStatus


def post_status_for(publications: list[PublicationStatus]) -> PostStatus:
    """An approved post's status as the sum of its publications: approved while none has
    started, publishing while any is in flight or still to go, needs_reconcile when only a
    person can move it on, and at the end published if any went out."""
    if all(p == P.PENDING for p in publications):
        return PostStatus.APPROVED
    if P.PUBLISHING in publications:
        return PostStatus.PUBLISHING
    if P.NEEDS_RECONCILE in publications:
        return PostStatus.NEEDS_RECONCILE
    if P.PENDING in publications:
        return PostStatus.PUBLISHING
    if P.PUBLISHED in publications:
        return PostStatus.PUBLISHED
    return PostStatus.FAILED if P.FAILED in publications else PostStatus.SKIPPED


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
    # With several platforms the post sums up its publications (post_status_for): it may
    # end skipped, or wait for a person while others are still to go.
    S.PUBLISHING: frozenset({S.PUBLISHED, S.APPROVED, S.FAILED, S.NEEDS_RECONCILE, S.SKIPPED}),
    S.NEEDS_RECONCILE: frozenset({S.PUBLISHED, S.APPROVED, S.SKIPPED, S.PUBLISHING, S.FAILED}),
    S.FAILED: frozenset({S.PLANNED}),
    S.REJECTED: frozenset(),
    S.PUBLISHED: frozenset(),
    S.SKIPPED: frozenset(),
}


def is_legal(current: PostStatus, target: PostStatus) -> bool:
    return target in TRANSITIONS[current]


TRANSITIONS_OF_PUBLICATIONS: dict[PublicationStatus, frozenset[PublicationStatus]] = {
    P.PENDING: frozenset({P.PUBLISHING, P.SKIPPED, P.FAILED}),
    # back to pending: not on the platform after a crash, or the account must wait
    P.PUBLISHING: frozenset({P.PUBLISHED, P.PENDING, P.FAILED, P.NEEDS_RECONCILE}),
    P.NEEDS_RECONCILE: frozenset({P.PUBLISHED, P.PENDING, P.SKIPPED}),
    P.PUBLISHED: frozenset(),
    P.FAILED: frozenset(),
    P.SKIPPED: frozenset(),
}
