"""Coded errors: every failure a user can cause says what went wrong and what to do next."""

from __future__ import annotations

MAX_PART_CHARS = 400  # a message quoting a 100 KB input must still fit on one readable line


def _fit(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces, cut to MAX_PART_CHARS."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_PART_CHARS else flat[: MAX_PART_CHARS - 1] + "…"


def shown(value, limit: int = 60) -> str:
    """A user's input quoted in an error message, cut to `limit` characters."""
    text = repr(value)  # strings in quotes, numbers and lists as written
    return text if len(text) <= limit else text[:limit] + "…"


class DawsosError(Exception):
    """An error with a stable code and a suggestion, printed as one line by the CLI."""

    def __init__(self, code: str, message: str, suggestion: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.suggestion = suggestion

    def one_line(self) -> str:
        """The error as the one line a user sees: `error CODE: message (suggestion: ...)`."""
        return f"error {self.code}: {_fit(self.message)} (suggestion: {_fit(self.suggestion)})"

    def to_dict(self) -> dict:
        """The error as JSON fields, for `--json` output."""
        return {"code": self.code, "message": self.message, "suggestion": self.suggestion}


# Database and server
DB_URL_INVALID = "DB_URL_INVALID"
DB_UNREACHABLE = "DB_UNREACHABLE"
DB_NOT_SEEDED = "DB_NOT_SEEDED"
DB_NOT_MIGRATED = "DB_NOT_MIGRATED"
DB_ALREADY_SEEDED = "DB_ALREADY_SEEDED"
EMBEDDED_START_FAILED = "EMBEDDED_START_FAILED"
EMBEDDED_NOT_USED = "EMBEDDED_NOT_USED"
PORT_IN_USE = "PORT_IN_USE"
DB_NOT_MIGRATED = "DB_NOT_MIGRATED"
DB_SERVER_ERROR = "DB_SERVER_ERROR"
EMBEDDED_HOME_UNREACHABLE = "EMBEDDED_HOME_UNREACHABLE"
HOME_NOT_OWN_FOLDER = "HOME_NOT_OWN_FOLDER"
SEED_ARGUMENT_INVALID = "SEED_ARGUMENT_INVALID"

# Command line and configuration
USAGE_ERROR = "USAGE_ERROR"
SLACK_CONFIG_INVALID = "SLACK_CONFIG_INVALID"
INTERNAL_ERROR = "INTERNAL_ERROR"
RUN_PRELOAD_UNAVAILABLE = "RUN_PRELOAD_UNAVAILABLE"  # runs go through Dagster's own launcher meanwhile
EXECUTOR_CONFIG_INVALID = "EXECUTOR_CONFIG_INVALID"  # steps at once: max_concurrent or Dagster's variable

# Migrations
MIGRATION_FILE_INVALID = "MIGRATION_FILE_INVALID"
MIGRATION_CHECKSUM_MISMATCH = "MIGRATION_CHECKSUM_MISMATCH"
MIGRATION_OUT_OF_ORDER = "MIGRATION_OUT_OF_ORDER"
MIGRATION_STATE_UNKNOWN = "MIGRATION_STATE_UNKNOWN"
MIGRATION_ORPHANS_FOUND = "MIGRATION_ORPHANS_FOUND"
MIGRATION_LOCK_TIMEOUT = "MIGRATION_LOCK_TIMEOUT"
MIGRATION_NOT_FOUND = "MIGRATION_NOT_FOUND"
MIGRATION_POLICY_INVALID = "MIGRATION_POLICY_INVALID"
MIGRATION_POLICY_CONFLICT = "MIGRATION_POLICY_CONFLICT"
MIGRATION_STEP_FAILED = "MIGRATION_STEP_FAILED"
MIGRATION_SERVER_ERROR = "MIGRATION_SERVER_ERROR"
MIGRATION_DEPENDENT_UNSAFE = "MIGRATION_DEPENDENT_UNSAFE"
MIGRATION_PRIVILEGE_MISSING = "MIGRATION_PRIVILEGE_MISSING"
BACKUP_NOT_FOUND = "BACKUP_NOT_FOUND"
BACKUP_FAILED = "BACKUP_FAILED"
BACKUP_INVALID = "BACKUP_INVALID"

# Patterns (names follow the plan's error taxonomy)
PATTERN_NOT_FOUND = "PATTERN_NOT_FOUND"
PATTERN_INVALID = "PATTERN_INVALID"
PATTERN_INPUT_INVALID = "PATTERN_INPUT_INVALID"
PATTERN_EXECUTION_FAILED = "PATTERN_EXECUTION_FAILED"
CAPABILITY_NOT_FOUND = "CAPABILITY_NOT_FOUND"
INVALID_PORTFOLIO_ID = "INVALID_PORTFOLIO_ID"
PORTFOLIO_NOT_FOUND = "PORTFOLIO_NOT_FOUND"
PRICING_PACK_NOT_FOUND = "PRICING_PACK_NOT_FOUND"
