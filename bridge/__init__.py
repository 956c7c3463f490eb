"""tokenlink.bridge: PyTorch tokens <-> channel symbols (analog and digital),
DLPack exchange, and the differentiable link layer.

Sits between :mod:`tokenlink.semantic` and :mod:`tokenlink.phy`; it knows
nothing about tasks or models. Not built yet: the phy/ link comes first.
"""
