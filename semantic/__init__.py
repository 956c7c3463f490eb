"""tokenlink.semantic: device encoders, token compression, alignment,
foundation model with LoRA, tasks and data sets, federated split learning.

Reaches the channel only through :mod:`tokenlink.bridge`. Not built yet:
it stands on the bridge.
"""
