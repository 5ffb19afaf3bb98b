"""paralens categories: the syntax of models and the constructions on it.

Types and diagrams (the one DisCoPy adapter), generators each declaring its
reverse derivative as a lens of diagrams, Para, the reverse-derivative
combinator R, and executable laws.
"""

from .adapter import (
    Bool, Box, CompositionError, Diagram, Id, Real, Seq, Ty, Wire, describe, step_of)
from .generator import Generator, LinearGenerator
from .structural import (
    Add, BatchWeight, Copy, Discard, Permutation, SumBatch, Swap, Zero, add, copy, discard, sum_batch, swap,
    zero)
from .smooth import (
    Bias, Constant, Cos, Exp, Linear, LinearT, Log, Mul, Neg, Outer, Reciprocal, Relu,
    LogSumExp, Scale, Sigmoid, Sin, Softmax, Spread, Sqrt, Step, Sum, Tanh)
from .syntax import function
from .linalg import Einsum, Eye, LogDet, Solve
from . import messages
from .boolean import (
    And, Bits, BooleanDifference, Broadcast, Gather, MajorityBatch, Not, One, Or,
    OracleGenerator, Parity, Scatter, VoteBatch, Xor)
from .reverse import forward_derivative, reverse
from .para import Para, Param, Parameters, Scope, dense, lecun, normal, zeros
from .circuits import (
    PseudoLinear, gate_layer, logic_gate_network, lookup_table, pseudo_linear, random_bits,
    zero_bits)
from .stateful import Loop, Machine, delay, dtrace, machine
from .cells import elman, gru
from .feedback import FeedbackFunctor, from_feedback
from . import laws

__all__ = [
    "Add", "add", "And", "BatchWeight", "Bias", "Bits", "Bool", "BooleanDifference", "Box", "Broadcast",
    "CompositionError", "Constant", "Copy", "copy", "Cos", "dense", "describe", "Diagram",
    "Discard", "discard", "Einsum", "Exp", "Eye", "FeedbackFunctor", "forward_derivative", "from_feedback", "function", "gate_layer", "Gather",
    "Generator", "Id", "laws", "elman", "gru", "Loop", "Machine", "machine", "delay", "dtrace", "Seq", "step_of", "lecun", "Linear", "LinearGenerator", "LinearT", "Log",
    "logic_gate_network", "LogDet", "LogSumExp", "lookup_table", "MajorityBatch", "Mul", "Neg",
    "normal", "Not", "One", "Or", "OracleGenerator", "Outer", "Para", "Param", "Parameters", "Parity",
    "Permutation", "pseudo_linear", "PseudoLinear", "random_bits", "Real", "Reciprocal",
    "Relu", "reverse", "Scale", "Scatter", "Scope", "Sigmoid", "Sin", "Softmax", "Solve", "Spread", "Sqrt",
    "Step", "Sum", "sum_batch", "SumBatch", "swap", "Swap", "Tanh", "Ty", "VoteBatch",
    "Wire", "Xor", "Zero", "zero", "zero_bits", "zeros",
]
