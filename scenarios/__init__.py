"""The scenario files shipped with tokenlink (data only: YAML files and their README).

Installed as ``tokenlink.scenarios`` so that a wheel install has them too;
read them with ``importlib.resources.files("tokenlink.scenarios") / "demo.yaml"``
or :func:`tokenlink.cli.shipped_scenario`. The table of what each studies is
``scenarios/README.md``.
"""
