"""Recipes: one module per chapter's trained artifacts, beside the zoo.

``sine_reference``: the NUTS reference posterior of the 1-D sine network
(``bayesdl.zoo.nuts_sine``) and the fits of the reference-posterior chapter.
"""

from . import sine_reference

__all__ = ["sine_reference"]
