"""gradgen: readable, standalone gradient code for NumPy functions.

The core is a pipeline from source text to source text (:mod:`gradgen.driver`);
this package's doors onto it are the Python API below, the ``gradgen`` CLI
(:mod:`gradgen.cli`) and the import-time decorator.
"""

__version__ = "0.1.0"

from gradgen.api import (
    compile_module,
    grad,
    grad_from_source,
    hvp,
    hvp_from_source,
    jvp,
    jvp_from_source,
    source,
    source_from_text,
    vjp,
    vjp_from_source,
)
from gradgen.decorator import differentiable
from gradgen.errors import (
    GradgenError,
    NonDifferentiableError,
    SourceChangedError,
    SourceNotFoundError,
    TemplateError,
    UnknownPrimitiveError,
    UnsupportedSyntaxError,
    UsageError,
)
from gradgen.options import Options

__all__ = [
    "GradgenError",
    "NonDifferentiableError",
    "Options",
    "SourceChangedError",
    "SourceNotFoundError",
    "TemplateError",
    "UnknownPrimitiveError",
    "UnsupportedSyntaxError",
    "UsageError",
    "__version__",
    "compile_module",
    "differentiable",
    "grad",
    "grad_from_source",
    "hvp",
    "hvp_from_source",
    "jvp",
    "jvp_from_source",
    "source",
    "source_from_text",
    "vjp",
    "vjp_from_source",
]
