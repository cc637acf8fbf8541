"""Multi-echelon safety stock placement: the guaranteed-service model (Graves & Willems 2000) on spanning
trees (serial, assembly, distribution and mixed), solved exactly by their dynamic programme.

Stage j: processing time T_j (integer periods), holding cost h_j, demand std sigma_j per period, safety
factor z_j. Decisions: integer outbound service times S_j (S_j <= S_j^max for customer-facing stages),
inbound service time SI_j = max(S_i over suppliers i) (or the external supply's quoted time for a source).
Net replenishment time tau_j = SI_j + T_j - S_j >= 0; SS_j = z_j * sigma_j * sqrt(tau_j);
minimise sum_j h_j * SS_j.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.policy.domain.errors import DomainError
from services.policy.domain.validate import FloatArray, non_negative

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GuaranteedServiceSolution:
    """Optimal service times, net replenishment times, safety stock per stage and total holding cost."""

    outbound_service: IntArray
    inbound_service: IntArray
    net_replenishment: IntArray
    safety_stock: FloatArray
    total_cost: float


@dataclass(frozen=True)
class _StageTables:
    kind: str  # "f": parent is downstream (function of own S); "g": parent is upstream (of own SI)
    value: FloatArray  # f_k(S) or g_k(SI) over the grid
    best_other: IntArray  # argmin SI for each S (kind f) or argmin S for each SI (kind g)
    envelope_arg: IntArray  # prefix argmin of f (kind f) or suffix argmin of g (kind g)
    envelope: FloatArray


def _integers(field: str, values: npt.ArrayLike, n: int) -> IntArray:
    array = np.broadcast_to(non_negative(field, values), (n,))
    if np.any(array != np.round(array)):
        raise DomainError(field, "must be whole periods")
    return array.astype(np.int64)


def _labels(n: int, neighbours: list[list[int]]) -> tuple[list[int], list[int]]:
    """Graves-Willems labelling: repeatedly take an unlabelled node with at most one unlabelled neighbour;
    that neighbour becomes its parent p(k). Returns nodes in label order and the parent of each (-1: root)."""
    labelled = np.zeros(n, dtype=bool)
    order: list[int] = []
    parent = [-1] * n
    for _ in range(n):
        for node in range(n):
            if labelled[node]:
                continue
            open_nb = [m for m in neighbours[node] if not labelled[m]]
            if len(open_nb) <= 1:
                labelled[node] = True
                order.append(node)
                parent[node] = open_nb[0] if open_nb else -1
                break
    return order, parent


def solve_guaranteed_service(
    processing_time: npt.ArrayLike,
    holding_cost: npt.ArrayLike,
    demand_std: npt.ArrayLike,
    edges: list[tuple[int, int]],
    z: npt.ArrayLike = 1.6448536269514722,
    max_service_time: npt.ArrayLike = np.inf,
    external_inbound: npt.ArrayLike = 0,
) -> GuaranteedServiceSolution:
    """Exact GSM optimum on a spanning tree by the Graves-Willems DP over integer service times.

    Each node k (in label order) evaluates c_k(S, SI) = h_k z_k sigma_k sqrt(SI + T_k - S)
    + sum_{upstream children i} min_{x <= SI} f_i(x) + sum_{downstream children j} min_{y >= S} g_j(y);
    then f_k(S) = min_SI c_k(S, SI) if its parent is downstream, g_k(SI) = min_S c_k(S, SI) if upstream;
    the last node minimises over both. ``edges`` are (supplier, customer) pairs; there must be n - 1 of
    them connecting all n stages. Service times range over 0..max(external_inbound) + sum(T).
    """
    holding = non_negative("holding_cost", holding_cost)
    n = holding.shape[0]
    lead = _integers("processing_time", processing_time, n)
    external = _integers("external_inbound", external_inbound, n)
    sigma = np.broadcast_to(non_negative("demand_std", demand_std), (n,))
    factor = np.broadcast_to(non_negative("z", z), (n,))
    s_max_raw = np.broadcast_to(np.asarray(max_service_time, dtype=np.float64), (n,))
    if np.any(np.isnan(s_max_raw) | (s_max_raw < 0)):
        raise DomainError("max_service_time", "must be >= 0 (inf for no limit)")
    s_max = s_max_raw
    if len(edges) != n - 1:
        raise DomainError("edges", f"a spanning tree on {n} stages needs {n - 1} edges, got {len(edges)}")
    suppliers: list[list[int]] = [[] for _ in range(n)]
    customers: list[list[int]] = [[] for _ in range(n)]
    for up, down in edges:
        if not (0 <= up < n and 0 <= down < n) or up == down:
            raise DomainError("edges", f"invalid edge ({up}, {down})")
        suppliers[down].append(up)
        customers[up].append(down)
    neighbours = [suppliers[k] + customers[k] for k in range(n)]
    order, parent = _labels(n, neighbours)
    if len(order) != n or sum(p == -1 for p in parent) != 1:
        raise DomainError("edges", "must form a connected tree")

    horizon = int(external.max() + lead.sum())
    grid = np.arange(horizon + 1)
    unit_cost = holding * factor * sigma
    tables: dict[int, _StageTables] = {}

    def stage_cost(k: int) -> FloatArray:
        """c_k on the grid: rows S, columns SI."""
        tau = grid[None, :] + lead[k] - grid[:, None]
        cost = np.where(tau >= 0, unit_cost[k] * np.sqrt(np.maximum(tau, 0)), np.inf)
        cost[grid > s_max[k], :] = np.inf
        if not suppliers[k]:
            cost[:, grid < external[k]] = np.inf
        for child in neighbours[k]:
            if parent[child] != k:
                continue
            envelope = tables[child].envelope
            # An upstream child constrains SI (columns), a downstream child constrains S (rows).
            cost = cost + (envelope[None, :] if child in suppliers[k] else envelope[:, None])
        return cost

    for k in order[:-1]:
        cost = stage_cost(k)
        if parent[k] in customers[k]:
            best = np.argmin(cost, axis=1)
            value = cost[grid, best]
            envelope = np.minimum.accumulate(value)
            arg = _running_argmin(value)
            tables[k] = _StageTables("f", value, best, arg, envelope)
        else:
            best = np.argmin(cost, axis=0)
            value = cost[best, grid]
            envelope = np.minimum.accumulate(value[::-1])[::-1]
            arg = (horizon - _running_argmin(value[::-1]))[::-1]
            tables[k] = _StageTables("g", value, best, arg, envelope)

    root = order[-1]
    root_cost = stage_cost(root)
    flat = int(np.argmin(root_cost))
    if not np.isfinite(root_cost.flat[flat]):
        raise DomainError("max_service_time", "no feasible service times")
    out_service = np.zeros(n, dtype=np.int64)
    in_service = np.zeros(n, dtype=np.int64)
    out_service[root], in_service[root] = divmod(flat, horizon + 1)
    for k in reversed(order[:-1]):
        table, p = tables[k], parent[k]
        if table.kind == "f":  # parent downstream: S_k <= SI_p
            out_service[k] = table.envelope_arg[in_service[p]]
            in_service[k] = table.best_other[out_service[k]]
        else:  # parent upstream: SI_k >= S_p
            in_service[k] = table.envelope_arg[out_service[p]]
            out_service[k] = table.best_other[in_service[k]]
    # Report the actual inbound service time max(S_i) (the DP may tie at a larger SI).
    for k in range(n):
        in_service[k] = max(out_service[i] for i in suppliers[k]) if suppliers[k] else external[k]
    tau = in_service + lead - out_service
    stock = factor * sigma * np.sqrt(tau)
    return GuaranteedServiceSolution(out_service, in_service, tau, stock, float(np.sum(holding * stock)))


def _running_argmin(values: FloatArray) -> IntArray:
    """Index of the first minimum of values[:i + 1] for every i."""
    running = np.minimum.accumulate(values)
    is_new = np.r_[True, running[1:] < running[:-1]]
    positions = np.where(is_new, np.arange(values.shape[0]), 0)
    result: IntArray = np.maximum.accumulate(positions)
    return result
