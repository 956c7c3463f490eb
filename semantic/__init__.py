"""tokenlink.semantic: the models of token communication for multimodal
models (Paper A) around the link -- data sets, device encoders, token
compression, the foundation model with LoRA, contrastive split fine-tuning
and collaborative fine-tuning with the channel in the loop.

Reaches the channel only through :mod:`tokenlink.bridge`. Modules in the
order data flows: ``data`` -> ``encoders`` (``audio``) -> ``receiver``
(projection) -> ``compression`` -> bridge -> ``receiver`` (MLP) ->
``foundation`` -> ``losses``; ``pipeline`` wires them, ``task`` prepares a
data set, ``train`` trains and evaluates, ``checkpoint`` saves, ``config``
validates the scenario's ``semantic:`` section. See docs/semantic.md.
"""
