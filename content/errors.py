"""The one exception tree of vibot.

    VibotError                      exit status 1 unless a subclass says otherwise
    ├── UserError                   bad input a person can fix (exit status 2)
    │   ├── PersonaError            one or more problems in persona files
    │   ├── NotFoundError           an id, file or name that does not exist
    │   │   └── PostNotFoundError   no post with that id
    │   └── ConfigError             a setting or argument that cannot work
    ├── GenerationError             a content stage failed while running
    ├── StorageError                the database refused or lost a race
    │   ├── IllegalTransitionError  a status change the lifecycle forbids
    │   └── ConflictError           another process changed the post first
    ├── PublishError                a publisher could not publish
    │   └── ApprovalMismatchError   media or caption changed after approval
    └── LockHeldError               another vibot process holds the lock

`storage` imports this module too (and nothing else from `content`): one
root lets the command line turn every failure into one line and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


class VibotError(Exception):
    """Root of every error vibot raises on purpose."""

    exit_code = 1


class UserError(VibotError):
    """Bad input: the message says what is wrong and how to fix it."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem in one file, at one place."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        # One line whatever the file holds: a value quoted in the message may hold line breaks,
        # separators or terminal escapes; each is written as an escape sequence instead.
        text = f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}"
        if text.isprintable():
            return text
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class PersonaError(UserError):
    """Persona files that do not validate; `problems` holds one entry per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class NotFoundError(UserError):
    pass


class PostNotFoundError(NotFoundError):
    def __init__(self, post_id: int) -> None:
        self.post_id = post_id
        super().__init__(f"there is no post {post_id} — list posts with 'vibot queue list'")


class ConfigError(UserError):
    pass


class GenerationError(VibotError):
    pass


class StorageError(VibotError):
    pass


class IllegalTransitionError(StorageError):
    def __init__(self, post_id: int, current: str, target: str) -> None:
        self.post_id, self.current, self.target = post_id, current, target
        super().__init__(f"post {post_id} is {current}; it cannot become {target} from there")


class ConflictError(StorageError):
    def __init__(self, post_id: int, expected: str, target: str) -> None:
        self.post_id, self.expected, self.target = post_id, expected, target
        super().__init__(
            f"post {post_id} was no longer {expected} when moving it to {target}: "
            "another process changed it first"
        )


class PublishError(VibotError):
    pass


class ApprovalMismatchError(PublishError):
    pass


class PublishRejectedError(PublishError):
    """The platform refused the post before publishing it (e.g. a spec error): not published;
    the reason goes to review."""


class RateLimitedError(PublishError):
    """Not published: the account must cool down before the next try."""

    def __init__(self, message: str, retry_after_s: float = 900.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccountHeldError(PublishError):
    """Not published: the account needs a person (expired token, challenge, feedback block)."""


class LockHeldError(VibotError):
    pass
