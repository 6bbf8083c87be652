"""dawsos-assets: refactor and guard the DawsOS portfolio-analytics database as Dagster data assets."""
