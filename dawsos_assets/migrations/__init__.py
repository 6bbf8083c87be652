"""Migrations 014-019: SQL files in sql/migrations/, a runner that converges from any real state, and one Dagster asset
per migration.
"""
