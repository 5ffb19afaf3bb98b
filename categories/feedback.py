"""DisCoPy's feedback diagrams as machines: its syntax for delays, our loop.

A ``discopy.feedback.Diagram`` (DisCoPy's syntax for streams, after Di Lavore, de
Felice and Román; ``reference/delayed-trace.md`` §7) is translated, with a map of
its objects and boxes to our types and diagrams, into one :class:`Machine`, which
the interpreters run as one loop. The translation is a functor given as data,
``FeedbackFunctor(ob, ar)``, as DisCoPy's own ``Functor(ob, ar)``:

* ``ob``: DisCoPy's (undelayed) objects ↦ our types, a dict or a function;
* ``ar``: boxes ↦ our diagrams, Para maps or machines (stateful boxes), a dict or
  a function; a box with no input whose output is a head (``Box('zero', Ty(),
  X.head)``) is an initial value, and ``ar`` gives its value (an array, or a number
  for every entry).

How the delays are read. A wire delayed k times carries a stream that starts at
step k; every wire is read from its own first step, so a box delayed k times is
the box itself, and a swap, copy or nested feedback is read as it is drawn. A
box acts at the step of its earliest wire; an input delayed j steps more is read
through j delay registers (δ, the previous value). ``FollowedBy(X)`` : X.head ⊗
X.d → X, the initial value followed by the delayed stream, is the register δⁱ
(i the head's value). A feedback's memory, the output M at step t read as the
input M.d at step t + 1, is then the same stream on both sides: the loop is
closed at the same step, through the registers on it (DisCoPy's types put one
on every loop: the path from M.d back to M must come down a step).

Where DisCoPy's stream has no value (a wire delayed k times, at its first k
steps) there is none to compute with. A box reading such a wire without a head
to start it (``Box('f', X @ M.d, Y @ M).feedback()``: a feedback without a delay
on its memory) is refused, naming the box and the wire, unless ``fill`` is
given: the register then starts from the fill value. The diagram's outputs are
written in real time: an output X.d^k gives its stream's value at step t − k,
and the fill value (zeros by default) at the first k steps. Its inputs are read
from step 0 (a delayed input is refused), and a box writing a later step than
it acts at (it would need inputs not yet read) is refused.

DisCoPy's Fibonacci doctest, run by our loop:

>>> import numpy as np
>>> from discopy.feedback import Ty, Box, Copy, Swap, FollowedBy
>>> from paralens.categories import Real, Add
>>> X = Ty('X')
>>> fby, wait = FollowedBy(X), Swap(X, X.d).feedback()
>>> zero, one = Box('zero', Ty(), X.head), Box('one', Ty(), X.head)
>>> copy, plus = Copy(X), Box('plus', X @ X, X)
>>> fib = (copy.d >> one.d @ wait.d @ X.d >> fby.d @ X.d >> plus.d
...        >> zero @ X.d >> fby >> copy).feedback()
>>> m = from_feedback(fib, ob={X: Real()}, ar={zero: 0.0, one: 1.0, plus: Add(Real())})
>>> m
Machine(state Real() @ Real(); Ty() → Real())
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from .adapter import Diagram, StreamReading, Ty, equations, read_feedback
from .para import Para
from .stateful import Machine, machine
from .syntax import function

__all__ = ["FeedbackFunctor", "from_feedback"]


class _Register:
    """A state wire of the translated machine: its type, initial value and the value
    it takes next (set once the node that writes it is read)."""

    def __init__(self, ty: Ty, initial, value: int):
        self.ty, self.initial, self.value, self.next = ty, initial, value, None


class _Graph:
    """The translated machine under construction: numbered values, the equations
    making them (our boxes), the registers, and the feedback memories' aliases."""

    def __init__(self):
        self.count = itertools.count()
        self.types: dict = {}           # value ↦ its one-wire type
        self.equations: list = []       # (box, ins, outs, DisCoPy box name)
        self.registers: list = []
        self.params: dict = {}          # Param handle ↦ value
        self.alias: dict = {}           # a memory input ↦ the memory output it reads
        self.memory: dict = {}          # a memory input ↦ (wire name, feedback name)

    def value(self, ty: Ty) -> int:
        v = next(self.count)
        self.types[v] = ty
        return v

    def resolve(self, v: int) -> int:
        seen = []
        while v in self.alias:
            if v in seen:
                wire, where = self.memory[v]
                raise ValueError(f"from_feedback: the memory {wire} of {where} is fed straight "
                                 f"back to itself (an algebraic loop): no FollowedBy delays it")
            seen.append(v)
            v = self.alias[v]
        return v


class FeedbackFunctor:
    """The translation of DisCoPy feedback diagrams into machines, given by ``ob``
    (DisCoPy objects ↦ our types) and ``ar`` (boxes ↦ our diagrams, Para maps,
    machines, or initial values for boxes into a head). See the module's docstring."""

    def __init__(self, ob, ar, fill=None):
        self.ob, self.ar, self.fill = ob, ar, fill

    # -- the maps -------------------------------------------------------------------
    def _type(self, wire, where: str) -> Ty:
        ob = self.ob
        try:
            ty = ob(wire.base) if callable(ob) else ob[wire.base]
        except KeyError:
            ty = None
        if not isinstance(ty, Ty):
            found = "" if ty is None else f" (it gives {ty!r}, not a type)"
            raise TypeError(f"from_feedback: the object map gives no type for the wire "
                            f"{wire.name} of {where}{found}")
        return ty

    def _arrow(self, node):
        ar = self.ar
        try:
            found = ar(node.box) if callable(ar) else ar[node.box]
        except KeyError:
            found = None
        if found is None:
            raise TypeError(f"from_feedback: the box map gives nothing for the box "
                            f"{node.name}")
        return found

    # -- the translation ------------------------------------------------------------
    def __call__(self, diagram) -> Machine:
        return self.translate(read_feedback(diagram))

    def translate(self, reading: StreamReading) -> Machine:
        """The machine of a diagram already read (``adapter.read_feedback``)."""
        g = _Graph()
        inputs = []
        for w in reading.dom:
            if w.head or w.time:
                raise ValueError(f"from_feedback: the input wire {w.name} is delayed or a "
                                 f"head; inputs are read from step 0 (delay them inside)")
            inputs.append([g.value(t) for t in self._type(w, "the diagram's inputs")])
        outs = self._read(reading, [("value", vs) for vs in inputs], g)
        results = []
        for w, entry in zip(reading.cod, outs):
            if entry[0] == "head":
                raise ValueError(f"from_feedback: the output wire {w.name} is a head (one "
                                 f"value), not a stream")
            values = entry[1]
            for _ in range(w.time):     # X.d^k in real time: k registers, filled
                values = [self._register(g, v, self._filler(g.types[v])) for v in values]
            results.append(values)
        return self._machine(g, inputs, results, reading.name)

    def _filler(self, ty: Ty):
        wire = ty.inside[0]
        return np.full(wire.shape, 0 if self.fill is None else self.fill, dtype=wire.dtype)

    def _register(self, g: _Graph, source: int, initial) -> int:
        r = _Register(g.types[source], initial, g.value(g.types[source]))
        r.next = source
        g.registers.append(r)
        return r.value

    def _read(self, reading: StreamReading, stack: list, g: _Graph) -> list:
        """Read the nodes in order on a stack of entries, one per DisCoPy wire:
        ("value", our values) or ("head", initial values)."""
        stack = list(stack)
        for node in reading.nodes:
            k = len(node.dom)
            ins = stack[node.offset:node.offset + k]
            stack[node.offset:node.offset + k] = self._node(node, ins, g)
        return stack

    def _node(self, node, ins: list, g: _Graph) -> list:
        kind = node.kind
        if kind == "swap":
            return ins[node.left:] + ins[:node.left]
        if kind == "copy":
            return [ins[0]] * len(node.cod)
        if kind == "followed_by":
            (head, first), (tail, rest) = ins
            if head != "head":
                raise ValueError(f"from_feedback: the head wire of {node.name} does not come "
                                 f"from an initial value (a box with no input into a head)")
            if tail != "value":
                raise ValueError(f"from_feedback: {node.name} follows its head by another head")
            return [("value", [self._register(g, v, i) for v, i in zip(rest, first)])]
        if kind == "feedback":
            n = node.mem
            mem_wires = node.body.dom[len(node.body.dom) - n:]
            memory = []
            for w in mem_wires:
                values = [g.value(t) for t in self._type(w, f"the memory of {node.name}")]
                for v in values:
                    g.memory[v] = (w.name, node.name)
                memory.append(("value", values))
            outs = self._read(node.body, ins + memory, g)
            for (_, placeholders), entry, w in zip(memory, outs[len(outs) - n:], mem_wires):
                if entry[0] != "value":
                    raise ValueError(f"from_feedback: the memory {w.name} of {node.name} "
                                     f"is a head, not a stream")
                for p, v in zip(placeholders, entry[1]):
                    g.alias[p] = v
            return outs[:len(outs) - n]
        return self._box(node, ins, g)

    def _box(self, node, ins: list, g: _Graph) -> list:
        where = f"the box {node.name}"
        found = self._arrow(node)
        if not node.dom and len(node.cod) == 1 and node.cod[0].head:   # an initial value
            ty = self._type(node.cod[0], where)
            return [("head", self._initial(found, ty, node.name))]
        wires = node.dom + node.cod
        heads = [w for w in wires if w.head]
        if heads:
            raise ValueError(f"from_feedback: {where} reads or writes the head {heads[0].name}; "
                             f"heads only go from initial values into FollowedBy")
        now = min(w.time for w in wires)          # the box acts at its earliest wire's step
        later = [w for w in node.cod if w.time > now]
        if later:
            raise ValueError(f"from_feedback: {where} writes {later[0].name}, a later step "
                             f"than it acts at (its wires: {', '.join(w.name for w in wires)}); "
                             f"its output would need inputs not yet read")
        if not isinstance(found, (Machine, Para, Diagram)):
            raise TypeError(f"from_feedback: the box map gives {where} "
                            f"{type(found).__name__} {found!r}, not a diagram, Para map or "
                            f"machine")
        m = machine(found)
        dom = Ty().tensor(*(self._type(w, where) for w in node.dom))
        cod = Ty().tensor(*(self._type(w, where) for w in node.cod))
        if (m.dom, m.cod) != (dom, cod):
            raise TypeError(f"from_feedback: {where} is {dom!r} → {cod!r} under the object "
                            f"map, but the box map gives it {m.dom!r} → {m.cod!r}")
        for entry in ins:
            if entry[0] != "value":
                raise ValueError(f"from_feedback: {where} reads a head")
        ins = [("value", values) for _, values in ins]
        for k, w in enumerate(node.dom):        # an input delayed j steps more: j registers
            if w.time > now and self.fill is None:
                memory = next((g.memory[v] for v in ins[k][1] if v in g.memory), None)
                what = f", the memory of {memory[1]}," if memory else ""
                raise ValueError(
                    f"from_feedback: {where} acts at step {now} but reads {w.name}{what} which "
                    f"has no value before step {w.time} (a feedback without a delay on its "
                    f"memory): start it with FollowedBy and an initial value, or pass fill= "
                    f"to read a fill value there")
            for _ in range(w.time - now):
                ins[k] = ("value", [self._register(g, v, self._filler(g.types[v]))
                                    for v in ins[k][1]])
        # the stage P ⊗ S ⊗ X → S ⊗ Y, equation by equation, on the graph's values
        for p in m.params:
            if p not in g.params:
                g.params[p] = g.value(p.ty)
        states = [_Register(Ty._of((w, )), i, g.value(Ty._of((w, ))))
                  for w, i in zip(m.state.inside, m.initial)]
        g.registers += states
        local = [g.params[p] for p in m.params] + [r.value for r in states] \
            + [v for _, vs in ins for v in vs]
        eqs, outputs = equations(m.stage.diagram)
        values = dict(enumerate(local))
        for box, eq_ins, eq_outs in eqs:
            made = [g.value(Ty._of((w, ))) for w in box.cod.inside]
            values.update(zip(eq_outs, made))
            g.equations.append((box, [values[i] for i in eq_ins], made, node.name))
        outputs = [values[v] for v in outputs]
        for r, v in zip(states, outputs):
            r.next = v
        outputs = outputs[len(states):]
        result, k = [], 0
        for w in node.cod:
            n = len(self._type(w, where))
            result.append(("value", outputs[k:k + n]))
            k += n
        return result

    @staticmethod
    def _initial(found, ty: Ty, name: str) -> tuple:
        values = found if isinstance(found, tuple) else (found, )
        if len(values) != len(ty):
            raise ValueError(f"from_feedback: the initial value {name} has {len(values)} "
                             f"values for the {len(ty)} wires {ty!r}")
        out = []
        for value, wire in zip(values, ty.inside):
            if isinstance(value, numbers.Number):
                value = np.full(wire.shape, value, dtype=wire.dtype)
            if not isinstance(value, np.ndarray):
                raise TypeError(f"from_feedback: the box map gives the initial value {name} "
                                f"{value!r}, not an array or a number")
            out.append(value)
        return tuple(out)

    def _machine(self, g: _Graph, inputs: list, results: list, name: str) -> Machine:
        """The machine: params ⊗ registers ⊗ inputs → registers ⊗ outputs, its stage
        the equations in an order where each reads only values already made."""
        resolve = g.resolve
        ready = set(g.params.values()) | {r.value for r in g.registers} \
            | {v for vs in inputs for v in vs}
        waiting, readers = [], {}           # per equation: how many of its inputs are not made
        for k, (_, ins, _, _) in enumerate(g.equations):
            missing = {resolve(i) for i in ins} - ready
            waiting.append(len(missing))
            for v in missing:
                readers.setdefault(v, []).append(k)
        order = [k for k, n in enumerate(waiting) if not n]
        for k in order:                     # Kahn's order: grows while it is read
            for v in g.equations[k][2]:
                for j in readers.get(v, ()):
                    waiting[j] -= 1
                    if not waiting[j]:
                        order.append(j)
        if len(order) < len(g.equations):
            self._algebraic_loop(g, [eq for eq, n in zip(g.equations, waiting) if n])
        order = [g.equations[k] for k in order]
        params = tuple(g.params)
        P = Ty().tensor(*(p.ty for p in params))
        S = Ty().tensor(*(r.ty for r in g.registers))
        X = Ty().tensor(*(g.types[v] for vs in inputs for v in vs))
        Y = Ty().tensor(*(g.types[resolve(v)] for vs in results for v in vs))
        sources = [g.params[p] for p in params] + [r.value for r in g.registers] \
            + [v for vs in inputs for v in vs]

        @function(P @ S @ X, S @ Y)
        def stage(*wires):
            env = dict(zip(sources, wires))
            for box, ins, outs, _ in order:
                made = box(*[env[resolve(i)] for i in ins])
                env.update(zip(outs, made if isinstance(made, tuple) else (made, )))
            return tuple(env[resolve(r.next)] for r in g.registers) \
                + tuple(env[resolve(v)] for vs in results for v in vs)
        return Machine(Para(params, stage), S, tuple(r.initial for r in g.registers))

    @staticmethod
    def _algebraic_loop(g: _Graph, left: list):
        """Name a memory wire and a box on a loop with no register on it."""
        waiting = {i for eq in left for i in eq[1]}
        memory = next((g.memory[p] for p in g.memory if p in waiting or g.resolve(p) in
                       {o for eq in left for o in eq[2]}), None)
        box = left[0][3]
        if memory is not None:
            raise ValueError(f"from_feedback: the memory {memory[0]} of {memory[1]} reaches "
                             f"its own input at the same step through the box {box} (an "
                             f"algebraic loop): put a FollowedBy on the loop to delay it")
        raise ValueError(f"from_feedback: the box {box} waits on its own output (an "
                         f"algebraic loop)")


def from_feedback(diagram, ob, ar, fill=None) -> Machine:
    """The machine of a DisCoPy feedback diagram: ``FeedbackFunctor(ob, ar)(diagram)``."""
    return FeedbackFunctor(ob, ar, fill)(diagram)
