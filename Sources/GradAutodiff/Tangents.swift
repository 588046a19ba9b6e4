/// Forward mode (docs/forward-mode.md): the tangent pass behind `jvp`, `hvp` and
/// `jacobian(…, forward=true)`. Like the reverse pass it appends ordinary nodes to the graph.
///
/// It visits the nodes from the xs towards the ys, in graph order, and gives each value on a
/// path between them its tangent — the directional derivative along the xs' tangents vs. A
/// node's tangent comes from the op's VJP rule, not from a second table of rules: the rule
/// builds ū ↦ (J₁ᵀū, J₂ᵀū, …), a linear function of a placeholder cotangent ū, and the tangent
/// J₁ṫ₁ + J₂ṫ₂ + … is that function transposed — a reverse sweep over the rule's few nodes,
/// from its outputs (seeded with the operands' tangents ṫₖ) back to ū. Transposing a transpose
/// gives the forward formula itself (`zmul(ṫ, slope)` for an elementwise op, `ȧ@b + a@ḃ` for
/// `matmul`, a `broadcast_to` for a `sum`), on the slopes the rule computes, so a tangent costs
/// what a hand-written JVP rule would; the placeholder and the rule's ū-side nodes are dead
/// afterwards and the optimizer removes them. Conventions (subgradients at kinks, strong zeros)
/// are the reverse rules': forward and reverse mode agree exactly.
///
/// A loop's tangent is a loop (`scanTangents`): the body's own tangent, built by this pass,
/// run over the carries and their tangents, so forward mode through a loop stores no tape.
extension Expansion {
    /// Σᵢ (∂y/∂xᵢ)·vᵢ for each y: one forward sweep (`vs[i]` has the type of `xs[i]`).
    mutating func tangents(of ys: [ValueID], wrt xs: [ValueID], along vs: [ValueID]) throws(Diagnostic) -> [ValueID] {
        let saved = builder.role
        builder.role = .gradient
        defer { builder.role = saved }
        let relevant = relevantNodes(from: ys, wrt: xs)
        let lowest = relevant.lowest
        // The tangent of each value in lowest…highest so far (−1: none — a zero tangent).
        var tangent = [ValueID](repeating: -1, count: relevant.flags.count)
        // An x's own tangent is added to what reaches it through other xs (an x may be
        // computed from another).
        var seed: [ValueID: ValueID] = [:]
        for (x, v) in zip(xs, vs) where relevant[x] {
            seed[x] = try seed[x].map { e throws(Diagnostic) in try builder.binary(.add, e, v) } ?? v
        }
        // The tangent loop of each loop, and where each of the loop's values has its tangent.
        var loopTangents: [ValueID: (loop: ValueID, tangentIndex: [Int?])] = [:]
        for id in lowest..<(lowest + relevant.flags.count) where relevant[id] {
            let node = builder.function.nodes[id]
            builder.location = node.location
            var t: ValueID? = nil
            switch node.op {
            case .input, .const:
                break
            case .scan:
                let operandTangents = node.inputs.map { k in relevant[k] && tangent[k - lowest] >= 0 ? tangent[k - lowest] : nil }
                if operandTangents.contains(where: { $0 != nil }), let loop = try scanTangents(id, operandTangents) {
                    loopTangents[id] = loop
                }
            case .result:
                if let (loop, tangentIndex) = loopTangents[node.inputs[0]], let k = node.attrs.int(.index),
                   k >= 0, k < tangentIndex.count, let j = tangentIndex[k] {
                    t = try builder.add(.result, [loop], Attributes([.index: .int(j)]))
                }
            default:
                let operandTangents = node.inputs.map { k in relevant[k] && tangent[k - lowest] >= 0 ? tangent[k - lowest] : nil }
                if node.type.dtype.isFloat, operandTangents.contains(where: { $0 != nil }) {
                    t = try transposedRule(node, id, operandTangents)
                }
            }
            if let s = seed[id] { t = try t.map { e throws(Diagnostic) in try builder.binary(.add, e, s) } ?? s }
            if let t { tangent[id - lowest] = t }
        }
        var result: [ValueID] = []
        for y in ys {
            if relevant[y], tangent[y - lowest] >= 0 { result.append(tangent[y - lowest]) } else { result.append(try builder.zeros(like: y)) }
        }
        return result
    }

    /// The tangent of `node` (value `out`) from its operands' tangents (`nil`: zero): its VJP
    /// rule applied to a placeholder ū, transposed by a reverse sweep over the rule's nodes.
    /// `nil` when no tangent flows (the op has zero derivative in the operands that move).
    mutating func transposedRule(_ node: Node, _ out: ValueID, _ operandTangents: [ValueID?]) throws(Diagnostic) -> ValueID? {
        // A fresh node, not a pooled constant: the sweep below differentiates with respect
        // to it, and no other node may share it.
        let placeholder = try builder.zeros(like: out)
        let needs = OperandNeeds(count: node.inputs.count) { operandTangents[$0] != nil }
        let cotangents = try vjp(node, out, placeholder, needs: needs, &builder, &constants)
        var seeds: [(value: ValueID, seed: ValueID)] = []
        for k in 0..<min(node.inputs.count, cotangents.count) {
            // A cotangent not built from ū (a zero a rule returns) is not a function of it.
            if let t = operandTangents[k], let ct = cotangents[k], ct >= placeholder { seeds.append((ct, t)) }
        }
        guard !seeds.isEmpty else { return nil }
        let relevant = relevantNodes(from: seeds.map(\.value), wrt: [placeholder])
        return try backward(seeds: seeds, wrt: [placeholder], relevant: relevant)[0]
    }

    /// `jacobian(y, x, forward=true)`: one tangent pass per element of x, seeded with a
    /// one-hot tensor, each giving a column; shape `y.shape + x.shape`.
    mutating func forwardJacobian(of y: ValueID, wrt x: ValueID) throws(Diagnostic) -> ValueID {
        let saved = builder.role
        builder.role = .gradient
        defer { builder.role = saved }
        let yType = builder.type(of: y)
        let xType = builder.type(of: x)
        let (seedElements, o1) = xType.count.multipliedReportingOverflow(by: xType.count)
        let (resultElements, o2) = yType.count.multipliedReportingOverflow(by: xType.count)
        guard !o1, !o2, seedElements <= maxJacobianElements, resultElements <= maxJacobianElements else {
            throw Diagnostic(.other("the Jacobian of a \(yType) value with respect to \(xType) is too large to expand: \(xType.count) forward passes and \(yType.count) × \(xType.count) elements (at most \(maxJacobianElements)); use jvp for a directional derivative"),
                             at: builder.location)
        }
        if xType.count == 0 || yType.count == 0 { return try builder.constant(0, TensorType(yType.dtype, yType.shape + xType.shape)) }
        var columns: [ValueID] = []
        for j in 0..<xType.count {
            var attrs = Attributes()
            attrs[.dtype] = .dtype(xType.dtype)
            attrs[.shape] = .ints(xType.shape)
            var values = [Double](repeating: 0, count: xType.count)
            values[j] = 1
            attrs[.values] = .floats(values)
            let direction = try builder.add(.const, [], attrs)
            let column = try tangents(of: [y], wrt: [x], along: [direction])[0]
            columns.append(try builder.reshape(column, [yType.count, 1]))
        }
        let stacked = columns.count == 1 ? columns[0] : try builder.add(.concat, columns, Attributes([.axis: .int(1)]))
        return try builder.reshape(stacked, yType.shape + xType.shape)
    }

    /// Whether `jacobian(y, x)` is built forward: as asked (`forward=`), else when x has
    /// fewer elements than y (fewer passes).
    func jacobianIsForward(_ node: Node, y: ValueID, x: ValueID) -> Bool {
        if case .bool(let forward)? = node.attrs[.forward] { return forward }
        return builder.type(of: x).count < builder.type(of: y).count
    }
}
