"""Differential testing: the reference model and a real kernel driven in lockstep.

* ``ops``: the operation vocabulary (one frozen value per harness call) and how each is applied;
* ``compare``: the normalised result of a step and the diff of two results;
* ``scenario``: a disagreement as ready-to-paste harness code, and the helpers that code calls;
* ``lockstep``: both targets stepped together, raising ``Disagreement`` at the first difference;
* ``machine``: the hypothesis state machine drawing random operation sequences.
"""

from conformance.differential.lockstep import Disagreement, Lockstep, TooSlow

__all__ = ["Disagreement", "Lockstep", "TooSlow"]
