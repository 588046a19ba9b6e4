// Fusion of elementwise chains: part of the backend-neutral execution plan.

/// A chain (in fact a tree) of elementwise nodes evaluated in one loop over the elements of
/// the root's shape: each element of the root is computed from the leaves' elements by the
/// small expression the member nodes form, without materializing the intermediate values.
///
/// Invariants (established by `formFusionGroups`):
/// - `nodes` are in topological order and end with `root`; every member has the root's
///   shape; every member except the root has exactly one use, inside the group, and is not
///   an output of the function.
/// - Members are `unary`/`binary` ops on `dtype`, comparisons of two `dtype` operands, or
///   `select` with `dtype` branches. Inside the loop a boolean is the `dtype` value 1 or 0.
/// - `leaves` are the distinct values read from outside, in order of first use; each has
///   dtype `dtype` or `bool` and a shape that broadcasts to the root's shape.
public struct FusionGroup: Hashable, Sendable {
    /// The value the group produces.
    public var root: ValueID
    /// Members in evaluation order (root last).
    public var nodes: [ValueID]
    /// Values read from outside the group, in order of first use.
    public var leaves: [ValueID]
    /// The element type the expression is computed in (`f32` or `f64`).
    public var dtype: DType
}

/// The largest number of nodes fused into one group (bounds the VM's per-group scratch).
public let maxFusionGroupSize = 16

/// The type an elementwise node computes in, if it can be part of a fused loop: `f32` or
/// `f64` for float unary/binary ops, comparisons of floats and selects of floats.
public func fusedComputeType(_ node: Node, in f: Function) -> DType? {
    guard let e = node.op.elementwise, let first = node.inputs.first, first >= 0, first < f.nodes.count else { return nil }
    let t = e.computeDType(result: node.type.dtype, firstOperand: f.nodes[first].type.dtype)
    return t.isFloat ? t : nil
}

/// Whether a scalar (rank-0) `f64` elementwise node: these run as one compact instruction of
/// the VM's scalar machine, never fused.
public func isScalarF64Elementwise(_ node: Node, in f: Function) -> Bool {
    node.type.rank == 0 && fusedComputeType(node, in: f) == .f64
}

/// Groups the scheduled elementwise nodes of `f` into fusion groups, greedily from the
/// latest node backwards: a fusible node not yet in a group starts one, and absorbs each
/// operand that is fusible, has the same shape and compute type, is used only once and is
/// not an output. Scalar `f64` nodes are left to the scalar machine.
///
/// Returns the groups (in the order of their roots) and, for each node, the index of its
/// group or `nil`.
public func formFusionGroups(_ f: Function, schedule: Schedule) -> (groups: [FusionGroup], groupOf: [Int?]) {
    let nodes = f.nodes
    var groupOf = [Int?](repeating: nil, count: nodes.count)
    var groups: [FusionGroup] = []
    for root in schedule.order.reversed() where groupOf[root] == nil {
        let rootNode = nodes[root]
        guard let dtype = fusedComputeType(rootNode, in: f), !isScalarF64Elementwise(rootNode, in: f) else { continue }
        let index = groups.count
        var members: Set<ValueID> = [root]
        groupOf[root] = index
        var stack = [root]
        if rootNode.type.rank > 0 {
            while let n = stack.popLast() {
                for operand in nodes[n].inputs where members.count < maxFusionGroupSize {
                    let candidate = nodes[operand]
                    guard groupOf[operand] == nil, schedule.useCount[operand] == 1, !schedule.isOutput[operand],
                          candidate.type.shape == rootNode.type.shape,
                          fusedComputeType(candidate, in: f) == dtype else { continue }
                    members.insert(operand)
                    groupOf[operand] = index
                    stack.append(operand)
                }
            }
        }
        let ordered = members.sorted()
        var leaves: [ValueID] = []
        var seen: Set<ValueID> = []
        for m in ordered {
            for operand in nodes[m].inputs where !members.contains(operand) && !seen.contains(operand) {
                seen.insert(operand)
                leaves.append(operand)
            }
        }
        groups.append(FusionGroup(root: root, nodes: ordered, leaves: leaves, dtype: dtype))
    }
    // Number groups in execution order (by root).
    let sorted = groups.indices.sorted { groups[$0].root < groups[$1].root }
    var renumber = [Int](repeating: 0, count: groups.count)
    for (newIndex, old) in sorted.enumerated() { renumber[old] = newIndex }
    for id in groupOf.indices {
        if let g = groupOf[id] { groupOf[id] = renumber[g] }
    }
    return (sorted.map { groups[$0] }, groupOf)
}
