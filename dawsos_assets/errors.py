"""Coded errors: every failure a user can cause says what went wrong and what to do next."""

from __future__ import annotations


class DawsosError(Exception):
    """An error with a stable code and a suggestion, printed as one line by the CLI."""

    def __init__(self, code: str, message: str, suggestion: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.suggestion = suggestion

    def one_line(self) -> str:
        return f"error {self.code}: {self.message} (suggestion: {self.suggestion})"

    def to_dict(self) -> dict:
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
SEED_ARGUMENT_INVALID = "SEED_ARGUMENT_INVALID"

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
MIGRATION_DEPENDENT_UNSAFE = "MIGRATION_DEPENDENT_UNSAFE"
MIGRATION_PRIVILEGE_MISSING = "MIGRATION_PRIVILEGE_MISSING"
BACKUP_NOT_FOUND = "BACKUP_NOT_FOUND"
BACKUP_FAILED = "BACKUP_FAILED"

# Patterns (names follow the plan's taxonomy, facts §11.3)
PATTERN_NOT_FOUND = "PATTERN_NOT_FOUND"
PATTERN_INVALID = "PATTERN_INVALID"
PATTERN_EXECUTION_FAILED = "PATTERN_EXECUTION_FAILED"
CAPABILITY_NOT_FOUND = "CAPABILITY_NOT_FOUND"
INVALID_PORTFOLIO_ID = "INVALID_PORTFOLIO_ID"
PORTFOLIO_NOT_FOUND = "PORTFOLIO_NOT_FOUND"
PRICING_PACK_NOT_FOUND = "PRICING_PACK_NOT_FOUND"
