"""The analysed program as a networkx DAG, and block instances."""

from __future__ import annotations

import networkx as nx

import alphanas
from alphanas import zoo

SE_RESIDUAL = """
block se(x, c: int) {
  s = relu(conv2d(adaptive_avgpool(x, 1), c // 4))
  return mul(x, sigmoid(conv2d(s, c)))
}
model m(x: [8, 6, 6]) {
  h = se(x, 8)
  y = add(h, h)
  return concat(y, x)
}
"""


def test_dag_has_shapes_on_edges_and_ports_in_order() -> None:
    inst = alphanas.analyze(alphanas.parse(SE_RESIDUAL))
    dag = inst.dag()
    assert nx.is_directed_acyclic_graph(dag)
    assert dag.nodes["x"]["op"] == "input"
    assert dag.nodes["h"]["op"] == "se" and dag.nodes["h"]["shape"] == (8, 6, 6)
    # add(h, h): two parallel edges, one per port, both carrying h's shape
    edges = sorted((d["port"], d["shape"]) for _, _, d in dag.in_edges("y", data=True))
    assert edges == [(0, (8, 6, 6)), (1, (8, 6, 6))]
    out = dag.nodes[inst.graph.output]
    assert out["op"] == "concat" and out["shape"] == (16, 6, 6)
    assert [u for u, _, d in sorted(dag.in_edges(inst.graph.output, data=True), key=lambda e: e[2]["port"])] == ["y", "x"]


def test_block_instance_dag_is_the_block_body_with_its_bound_shapes() -> None:
    inst = alphanas.analyze(alphanas.parse(SE_RESIDUAL))
    body = inst.calls["h"].dag()
    assert body.graph["name"] == "se"
    squeezed = [n for n, d in body.nodes(data=True) if d["op"] == "conv2d" and d["shape"] == (2, 1, 1)]
    assert len(squeezed) == 1  # c // 4 with c = 8
    assert [n for n in body if body.in_degree(n) == 0] == ["x"]  # the block input is the only source


def test_identical_instances_are_analysed_once_and_walk_visits_every_op() -> None:
    inst = alphanas.analyze(zoo.load("resnet50"))
    bottlenecks = {id(i) for i in inst.calls.values() if i.graph.name == "bottleneck"}
    assert len(bottlenecks) == 4  # 12 calls, one distinct instance per stage width
    paths = [path for path, _, _ in inst.walk()]
    assert len(paths) == len(set(paths))
    convs = sum(1 for _, _, n in inst.walk() if n.op == "conv2d")
    assert convs == 53  # torchvision's resnet50 has 53 Conv2d modules
