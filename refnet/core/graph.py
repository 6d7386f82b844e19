"""Containers: ``Graph`` (a DAG of named nodes) and ``Sequential`` (a chain).

Both obey the layer contract of :mod:`refnet.core.layer`, so a whole network is a layer: its
``vjp`` is backpropagation, its ``jvp`` forward mode (derived in :class:`Graph`'s Notes).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .._checks import as_input, as_rng
from .layer import Layer, lead_shape
from .tree import tree_leaves, tree_map

__all__ = ["Node", "Graph", "GraphCache", "Sequential"]


class Node(NamedTuple):
    """One node of a :class:`Graph`: ``name = layer(*inputs)``."""

    name: str
    layer: Layer
    inputs: tuple[str, ...]


class GraphCache(NamedTuple):
    """What a :class:`Graph` keeps from the forward pass."""

    caches: dict   #: node name -> that layer's cache
    shapes: dict   #: value name (the input and every node) -> its full shape (B, ...)


def _as_node(item, position: int) -> Node:
    if not isinstance(item, (tuple, list)) or len(item) != 3:       # a Node is a tuple
        raise TypeError(f"Graph: node {position} must be Node(name, layer, inputs) or a "
                        f"(name, layer, inputs) tuple, got {item!r}")
    name, layer, inputs = item
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"Graph: node {position} has name {name!r}; expected a non-empty "
                         "string without '/'")
    if not isinstance(layer, Layer):
        raise TypeError(f"Graph: node {name!r} has layer {layer!r}; expected a refnet Layer")
    inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    if not all(isinstance(i, str) for i in inputs):
        raise TypeError(f"Graph: node {name!r} has inputs {inputs!r}; expected names (str)")
    if layer.n_inputs is None and len(inputs) < 2:
        raise ValueError(f"Graph: node {name!r} ({type(layer).__name__}) merges two or "
                         f"more inputs, got {list(inputs)}")
    if layer.n_inputs is not None and len(inputs) != layer.n_inputs:
        raise ValueError(f"Graph: node {name!r} ({type(layer).__name__}) takes "
                         f"{layer.n_inputs} input(s), got {list(inputs)}")
    return Node(name, layer, inputs)


class Graph(Layer):
    """A network as a directed acyclic graph of named nodes.

    ``nodes`` are :class:`Node` or ``(name, layer, inputs)`` tuples, ``name = layer(*inputs)``,
    in any order (sorted topologically, ties keeping the given order); ``inputs`` name other
    nodes or ``input_name`` (a tuple for a merge layer).  ``output`` defaults to the last node;
    with ``input_shape`` (per example) every node's shape is checked here.  ValueError for
    duplicate or unknown names, a cycle, a wrong number of inputs, a node that does not
    contribute to the output, or shapes that do not fit.

    Notes
    -----
    Parameters are ``{node_name: that layer's params}``.  Forward, for each node
    in topological order::

        value[node] = node.layer(params[node], value[node.inputs])

    VJP, for each node in reverse topological order; where a value feeds several nodes
    (fan-out, as in ``y = x + f(x)``) the derivative is the SUM over the paths::

        inputs_bar, params_bar[node] = node.layer.vjp(params[node], cache[node], value_bar[node])
        value_bar[i] = value_bar[i] + inputs_bar[i]    for each input i

    JVP, for each node in topological order::

        value_dot[node] = node.layer.jvp(params[node], cache[node], value_dot[node.inputs])

    ``vjp`` and ``jvp`` also take ``source`` and ``target`` names: the partial
    derivative of ``value[target]`` with respect to ``value[source]``, values
    that do not depend on ``source`` held fixed.

    Examples
    --------
    A residual block ``y = x + W2 @ relu(W1 @ x)``:

    >>> import numpy as np
    >>> from refnet.layers import Linear, ReLU, Add
    >>> block = Graph([("fc1", Linear(4, 4), "input"), ("act", ReLU(), "fc1"),
    ...                ("fc2", Linear(4, 4), "act"), ("sum", Add(), ("input", "fc2"))],
    ...               input_shape=(4,))
    >>> params = block.init(np.random.default_rng(0))
    >>> block(params, np.ones((2, 4))).shape
    (2, 4)
    """

    can_skip_input = True

    def __init__(self, nodes: Sequence, *, output: str | None = None,
                 input_name: str = "input", input_shape: tuple | None = None):
        if not isinstance(input_name, str) or not input_name or "/" in input_name:
            raise ValueError(f"Graph: input_name must be a non-empty string without '/', "
                             f"got {input_name!r}")
        given = [_as_node(item, i) for i, item in enumerate(nodes)]
        if not given:
            raise ValueError("Graph: needs at least one node, got none")
        known = {input_name}
        for node in given:
            if node.name in known:
                raise ValueError(f"Graph: duplicate name {node.name!r}")
            known.add(node.name)
        for node in given:
            unknown = [i for i in node.inputs if i not in known]
            if unknown:
                raise ValueError(f"Graph: node {node.name!r} reads unknown name(s) {unknown}; "
                                 f"known names are {sorted(known)}")
        self.input_name = input_name
        self.nodes: tuple[Node, ...] = tuple(self._toposort(given))
        self._index = {node.name: i for i, node in enumerate(self.nodes)}
        self.output = self.nodes[-1].name if output is None else output
        if self.output not in self._index:
            raise ValueError(f"Graph: output {self.output!r} is not a node; nodes are "
                             f"{[n.name for n in given]}")
        dead = [n.name for n in self.nodes if n.name not in self._ancestors(self.output)]
        if dead:
            raise ValueError(f"Graph: node(s) {dead} do not contribute to the output "
                             f"{self.output!r}; their parameters would never get a gradient")
        self.is_linear = all(node.layer.is_linear for node in self.nodes)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        if self.input_shape is not None:
            self.output_shape(self.input_shape)

    def _toposort(self, nodes: list[Node]) -> list[Node]:
        done, order, pending = {self.input_name}, [], list(nodes)
        while pending:
            ready = [n for n in pending if all(i in done for i in n.inputs)]
            if not ready:
                raise ValueError("Graph: the nodes form a cycle through "
                                 f"{sorted(n.name for n in pending)}")
            order += ready
            done.update(n.name for n in ready)
            pending = [n for n in pending if n.name not in done]
        return order

    def _ancestors(self, name: str) -> set[str]:
        """``name`` and every value it depends on (the input included)."""
        seen = {name}
        for node in reversed(self.nodes):           # topological order: one pass
            if node.name in seen:
                seen.update(node.inputs)
        return seen

    def _descendants(self, name: str) -> set[str]:
        """``name`` and every node that depends on it."""
        seen = {name}
        for node in self.nodes:
            if any(i in seen for i in node.inputs):
                seen.add(node.name)
        return seen

    def _check_name(self, role: str, name: str) -> None:
        if name != self.input_name and name not in self._index:
            raise ValueError(f"Graph: {role} {name!r} is not a node; names are "
                             f"{[self.input_name] + list(self._index)}")

    def __getitem__(self, name: str) -> Layer:
        """The layer at node ``name``."""
        self._check_name("node", name)
        return self.nodes[self._index[name]].layer

    def children(self):
        return [(node.name, node.layer) for node in self.nodes]

    def param_shapes(self):
        return {node.name: node.layer.param_shapes() for node in self.nodes}

    def check_params(self, params):
        owner, names = type(self).__name__, sorted(self._index)
        if not isinstance(params, dict):
            raise TypeError(f"{owner}: params must be a dict keyed by node name, "
                            f"got {type(params).__name__}")
        if sorted(params) != names:
            raise ValueError(f"{owner}: params has keys {sorted(params)}, expected the node "
                             f"names {names}")

    def shapes(self, in_shape) -> dict[str, tuple]:
        """Per-example shape of every value (input and nodes) for ``in_shape``."""
        shapes = {self.input_name: tuple(in_shape)}
        for node in self.nodes:
            ins = self._inputs_of(node, shapes)
            try:
                shapes[node.name] = tuple(node.layer.output_shape(ins))
            except ValueError as err:
                raise ValueError(f"{type(self).__name__}: node {node.name!r} "
                                 f"({type(node.layer).__name__}) cannot take input shape "
                                 f"{ins}: {err}") from None
        return shapes

    def output_shape(self, in_shape):
        return self.shapes(in_shape)[self.output]

    def summary(self, in_shape=None) -> str:
        """A table of nodes: name, layer, inputs, output shape and parameter count."""
        in_shape = self.input_shape if in_shape is None else in_shape
        shapes = self.shapes(in_shape) if in_shape is not None else {}
        rows = [("node", "layer", "inputs", "shape", "params")]
        for node in self.nodes:
            count = sum(int(np.prod(s)) for _, s in tree_leaves(node.layer.param_shapes()))
            rows.append((node.name, repr(node.layer), ", ".join(node.inputs),
                         str(shapes.get(node.name, "?")), str(count)))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                         for r in rows)

    def __repr__(self):
        return f"{type(self).__name__}(\n{self.summary()}\n)"

    def init(self, rng):
        rng = as_rng(rng)
        return {node.name: node.layer.init(rng) for node in self.nodes}

    @staticmethod
    def _inputs_of(node: Node, values: dict):
        ins = tuple(values[i] for i in node.inputs)
        return ins[0] if node.layer.n_inputs == 1 else ins

    def forward(self, params, x):
        values, cache = self.forward_all(params, x, keep=(self.output,))
        return values[self.output], cache

    def forward_all(self, params, x, keep=None):
        """``(values, cache)``: the values named in ``keep`` (a name or names; default
        all) as ``{name: (B, ...) array}``, and the :class:`GraphCache`; values no later
        node reads and ``keep`` does not name are freed as soon as they are read."""
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if self.input_shape is not None and x.shape[1:] != self.input_shape:
            raise ValueError(f"{type(self).__name__}: x has shape {x.shape}, expected "
                             f"(B, {', '.join(map(str, self.input_shape))}): its input_shape")
        # a single name is one name, not the set of its characters
        keep = {keep} if isinstance(keep, str) else set(self._index) | {
            self.input_name} if keep is None else set(keep)
        for name in sorted(keep):
            self._check_name("keep", name)
        remaining = {name: 0 for name in [self.input_name, *self._index]}
        for node in self.nodes:
            for i in node.inputs:
                remaining[i] += 1
        values, caches, shapes = {self.input_name: x}, {}, {self.input_name: x.shape}
        for node in self.nodes:
            y, caches[node.name] = node.layer.forward(params[node.name],
                                                      self._inputs_of(node, values))
            values[node.name], shapes[node.name] = y, np.shape(y)
            for i in node.inputs:
                remaining[i] -= 1
                if remaining[i] == 0 and i not in keep:
                    del values[i]
        return {k: v for k, v in values.items() if k in keep}, GraphCache(caches, shapes)

    def _path(self, source, target):
        """``(source, target, the values on a path between them)``, defaults filled in."""
        source = self.input_name if source is None else source
        target = self.output if target is None else target
        self._check_name("source", source)
        self._check_name("target", target)
        active = self._ancestors(target) & self._descendants(source)
        if source not in active:
            raise ValueError(f"Graph: {target!r} does not depend on {source!r}")
        return source, target, active

    def vjp(self, params, cache, y_bar, *, need_params=True, source=None, target=None,
            need_input=True):
        """Cotangent ``y_bar`` (*lead, B, *target_shape) of ``target`` (default the output)
        back to ``source`` (default the input): ``(x_bar, params_bar)``; ``need_params``
        needs ``source`` to be the input, and nodes ``target`` does not depend on get
        zero cotangents.  ``need_input=False`` returns ``x_bar = None`` and lets the
        nodes reading only ``source`` skip their input cotangent (``can_skip_input``)."""
        source, target, active = self._path(source, target)
        if need_params and source != self.input_name:
            raise ValueError("Graph.vjp: need_params=True needs source to be the graph input; "
                             "pass need_params=False for a partial derivative")
        lead = lead_shape("y_bar", y_bar, cache.shapes[target], type(self).__name__)
        bars, todo = {target: y_bar}, active - {source}
        params_bar = {} if need_params else None
        for node in reversed(self.nodes):
            node_bar = bars.pop(node.name, None) if node.name in todo else None
            if node_bar is None:
                continue
            skip = not need_input and node.layer.can_skip_input and set(node.inputs) == {source}
            inputs_bar, p_bar = node.layer.vjp(params[node.name], cache.caches[node.name],
                                               node_bar, need_params=need_params,
                                               **({"need_input": False} if skip else {}))
            if need_params:
                params_bar[node.name] = p_bar
            if skip:
                continue
            inputs_bar = (inputs_bar,) if node.layer.n_inputs == 1 else inputs_bar
            for name, bar in zip(node.inputs, inputs_bar):
                if name in active:
                    bars[name] = bar if name not in bars else bars[name] + bar
        if need_params:
            params_bar = {node.name: params_bar[node.name] if node.name in params_bar else
                          tree_map(lambda p: np.zeros(lead + np.shape(p), np.asarray(p).dtype),
                                   params[node.name]) for node in self.nodes}
        return (bars[source] if need_input else None), params_bar

    def jvp(self, params, cache, x_dot, *, source=None, target=None):
        """Tangent ``x_dot`` (*lead, B, *source_shape) of ``source`` to that of ``target``."""
        source, target, active = self._path(source, target)
        lead = lead_shape("x_dot", x_dot, cache.shapes[source], type(self).__name__)
        dots, todo = {source: x_dot}, active - {source}
        for node in self.nodes:
            if node.name in todo:
                ins = {i: dots[i] if i in dots else np.zeros(lead + cache.shapes[i])
                       for i in node.inputs}
                dots[node.name] = node.layer.jvp(params[node.name], cache.caches[node.name],
                                                 self._inputs_of(node, ins))
        return dots[target]


class Sequential(Graph):
    """A chain of layers, each feeding the next: ``y = f_k(... f_2(f_1(x)))``.

    ``layers`` are Layers, called ``"0"``, ``"1"``, ... by position, or ``(name, layer)``
    pairs; ``input_shape`` as for :class:`Graph`, whose node ``i`` reads node ``i - 1``.
    With layers ``f_i`` and caches ``c_i``, the chain rule::

        forward:  h_0 = x;      h_i, c_i = f_i.forward(params[i], h_{i-1});      y = h_k
        VJP:      g_k = y_bar;  g_{i-1}, params_bar[i] = f_i.vjp(params[i], c_i, g_i)
        JVP:      t_0 = x_dot;  t_i = f_i.jvp(params[i], c_i, t_{i-1})

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.layers import Linear, ReLU
    >>> net = Sequential([("fc1", Linear(3, 5)), ("act", ReLU()), ("fc2", Linear(5, 2))])
    >>> sorted(net.init(np.random.default_rng(0)))
    ['act', 'fc1', 'fc2']
    """

    def __init__(self, layers: Sequence, *, input_shape: tuple | None = None):
        nodes, previous = [], "input"
        for i, item in enumerate(layers):
            if isinstance(item, Layer):
                item = (str(i), item)
            elif not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"Sequential: item {i} must be a Layer or a (name, Layer) "
                                f"pair, got {item!r}")
            nodes.append(Node(item[0], item[1], (previous,)))
            previous = item[0]
        if not nodes:
            raise ValueError("Sequential: needs at least one layer, got none")
        super().__init__(nodes, output=previous, input_shape=input_shape)

    @property
    def layers(self) -> list[Layer]:
        """The layers in order."""
        return [node.layer for node in self.nodes]
