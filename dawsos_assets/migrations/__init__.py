"""Migrations 014-018: SQL files in sql/migrations/, a runner with a ledger, and one Dagster asset per migration."""
