"""paralens lenses: the lens (optic) category whose halves are diagrams, the
reverse-derivative functor R into it, and learning."""

from .lens import Lens, R

__all__ = ["Lens", "R"]
