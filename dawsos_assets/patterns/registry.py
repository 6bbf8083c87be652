"""Capability routing: which agent's function answers a capability name, with the plan's consolidation map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

# capability_mapping.py's 15 consolidation entries used by the 13 patterns: legacy name -> consolidated name.
CAPABILITY_MAPPING = {
    "optimizer.propose_trades": "financial_analyst.propose_trades",
    "optimizer.analyze_impact": "financial_analyst.analyze_impact",
    "optimizer.suggest_hedges": "financial_analyst.suggest_hedges",
    "optimizer.suggest_deleveraging_hedges": "financial_analyst.suggest_deleveraging_hedges",
    "ratings.dividend_safety": "financial_analyst.dividend_safety",
    "ratings.moat_strength": "financial_analyst.moat_strength",
    "ratings.resilience": "financial_analyst.resilience",
    "ratings.aggregate": "financial_analyst.aggregate_ratings",
    "charts.macro_overview": "financial_analyst.macro_overview_charts",
    "charts.scenario_deltas": "financial_analyst.scenario_charts",
    "alerts.suggest_presets": "macro_hound.suggest_alert_presets",
    "alerts.create_if_threshold": "macro_hound.create_alert_if_threshold",
    "reports.render_pdf": "data_harvester.render_pdf",
    "reports.export_csv": "data_harvester.export_csv",
    "reports.export_excel": "data_harvester.export_excel",
}


@dataclass(frozen=True)
class Capability:
    """A registered capability: its name, the agent that provides it, its function and the tables it reads."""

    name: str
    agent: str
    function: Callable
    reads: tuple[str, ...] = ()  # the DawsOS tables it queries: the pattern assets' lineage (a test measures them)


class CapabilityRegistry:
    """Capabilities by name, with DawsOS's legacy names mapped to their consolidated ones."""

    def __init__(self):
        self._capabilities: dict[str, Capability] = {}

    def register(self, name: str, agent: str, reads: tuple[str, ...] = ()):
        """Decorator that registers a function as capability `name` of `agent`."""

        def decorate(function: Callable) -> Callable:
            self._capabilities[name] = Capability(name, agent, function, reads)
            return function

        return decorate

    def names(self) -> list[str]:
        """The registered capability names, sorted."""
        return sorted(self._capabilities)

    def _find(self, name: str) -> Capability | None:
        """The registered capability, directly or through the consolidation map (which, unlike DawsOS's
        runtime, really rescues a legacy name whose target is registered).
        """
        return self._capabilities.get(name) or self._capabilities.get(CAPABILITY_MAPPING.get(name))

    def knows(self, name: str) -> bool:
        """True when `name` (or its consolidated name) is registered."""
        return self._find(name) is not None

    def resolve(self, name: str, pattern: str | None = None, step: str | None = None) -> Capability:
        """The capability `name` stands for; a one-line error naming the pattern and step when none does."""
        capability = self._find(name)
        if capability:
            return capability
        target = CAPABILITY_MAPPING.get(name)
        where = f"{pattern}, step '{step}': " if pattern else ""
        raise DawsosError(
            errors.CAPABILITY_NOT_FOUND,
            f"{where}no agent registers capability '{name}'"
            + (f" (nor its consolidated name '{target}')" if target else ""),
            "register it in dawsos_assets/patterns/capabilities/ or fix the step's capability name",
        )


REGISTRY = CapabilityRegistry()


def default_registry() -> CapabilityRegistry:
    """The registry with every capability module imported."""
    from dawsos_assets.patterns.capabilities import (  # noqa: F401  (registered on import)
        actions,
        attribution,
        macro,
        portfolio,
        rebalance,
        research,
        risk,
    )

    return REGISTRY
