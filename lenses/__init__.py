"""paralens lenses: the lens (optic) category whose halves are diagrams, the
reverse-derivative functor R into it, and learning."""

from .lens import Lens, R
from .tangent import tangent

__all__ = ["Lens", "R", "tangent"]
