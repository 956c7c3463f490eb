"""tokenlink: link-level simulation of token communication."""

__version__ = "0.1.0"

__all__ = ["__version__", "load_scenario", "Scenario", "ScenarioError", "SweepPoint", "run", "RunResult"]

_SCENARIO_API = ("load_scenario", "Scenario", "ScenarioError", "SweepPoint")
_RUNNER_API = ("run", "RunResult")


def __getattr__(name: str):
    # Lazy: importing the scenario module loads torch and Sionna, which
    # `tokenlink --version` and `import tokenlink` should not pay for.
    if name in _SCENARIO_API:
        from . import scenario

        return getattr(scenario, name)
    if name in _RUNNER_API:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'tokenlink' has no attribute {name!r}")
