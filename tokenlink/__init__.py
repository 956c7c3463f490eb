"""tokenlink: link-level simulation of token communication."""

__version__ = "0.1.0"

__all__ = ["__version__", "load_scenario", "Scenario", "ScenarioError", "SweepPoint", "run", "RunResult"]

_SCENARIO_API = ("load_scenario", "Scenario", "ScenarioError", "SweepPoint")
_RUNNER_API = ("run", "RunResult")


def __getattr__(name: str):
    # Lazy: `tokenlink --version` and `import tokenlink` pay for neither the
    # schema (pydantic, YAML) nor the runner.
    if name in _SCENARIO_API:
        from . import scenario

        return getattr(scenario, name)
    if name in _RUNNER_API:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'tokenlink' has no attribute {name!r}")
