"""The 13 DawsOS analytics patterns: JSON step pipelines, their engine, and real capabilities."""
