/// Shape simplification (all exact: data movement only).
///
/// ```
/// reshape / expand_dims / squeeze to the operand's own shape  → x
/// reshape-like(reshape-like(x))                                → reshape(x)   (or x)
/// transpose(x, identity)                                       → x
/// transpose(transpose(x, p), q)                                → transpose(x, p∘q)
/// broadcast_to(x, x.shape)                                     → x
/// broadcast_to(broadcast_to(x))                                → broadcast_to(x)
/// slice(x) of all of x (start 0, stop dim, step 1)             → x
/// pad(x) with no padding (low = high = 0, step 1)              → x
/// concat(x)                                                    → x
/// ```
/// `sum(broadcast_to(x))` over exactly the broadcast axes equals `x·n` only approximately (a
/// sum of n copies is not n·x in floating point), so it is rewritten only under fast-math.
struct ShapePass: LocalRewrite {
    var fastMath: Bool

    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        let t = node.type
        guard let x = node.inputs.first else { return nil }
        switch node.op {
        case .reshape, .expand_dims, .squeeze:
            if r.type(x) == t { return x }
            if r.op(x).isView {
                let inner = r.inputs(x)[0]
                if r.type(inner) == t { return inner }
                return try r.emit(.reshape, [inner], Attributes([.shape: .ints(t.shape)]), like: node)
            }
            if node.op != .reshape {
                return nil
            }
        case .transpose:
            let perm = node.attrs.perm ?? Array((0..<t.rank).reversed())
            if perm == Array(0..<t.rank) { return x }
            if r.op(x) == .transpose {
                let inner = r.inputs(x)[0]
                let rank = r.type(inner).rank
                let innerPerm = r.attrs(x).perm ?? Array((0..<rank).reversed())
                // out[i] = mid[perm[i]] = inner[innerPerm[perm[i]]]
                let composed = perm.map { innerPerm[$0] }
                if composed == Array(0..<rank) { return inner }
                return try r.emit(.transpose, [inner], Attributes([.perm: .ints(composed)]), like: node)
            }
        case .broadcast_to:
            if r.type(x) == t { return x }
            if r.op(x) == .broadcast_to {
                return try r.emit(.broadcast_to, [r.inputs(x)[0]], node.attrs, like: node)
            }
        case .slice:
            let shape = r.type(x).shape
            if node.attrs.start == Array(repeating: 0, count: shape.count), node.attrs.stop == shape,
               node.attrs.step == Array(repeating: 1, count: shape.count) {
                return x
            }
        case .pad:
            let rank = r.type(x).rank
            let zeros = Array(repeating: 0, count: rank)
            if node.attrs.low == zeros, node.attrs.high == zeros, node.attrs.step == Array(repeating: 1, count: rank) {
                return x
            }
        case .concat:
            if node.inputs.count == 1 { return x }
        case .sum:
            guard fastMath, r.op(x) == .broadcast_to, t.dtype.isFloat else { return nil }
            return try sumOfBroadcast(node, x, &r)
        default:
            break
        }
        return nil
    }

    /// sum(broadcast_to(y, S), axes) where the axes are exactly those the broadcast added or
    /// stretched → reshape(y)·n (fast-math only).
    private func sumOfBroadcast(_ node: Node, _ x: ValueID, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        let y = r.inputs(x)[0]
        let from = r.type(y).shape
        let to = r.type(x).shape
        let extra = to.count - from.count
        var stretched: [Int] = Array(0..<extra)
        for (i, d) in from.enumerated() where d != to[i + extra] { stretched.append(i + extra) }
        let axes = (node.attrs.axes ?? Array(0..<to.count)).compactMap { normalizeAxis($0, rank: to.count) }.sorted()
        guard axes == stretched, !axes.isEmpty else { return nil }
        let n = axes.reduce(1) { $0 * to[$1] }
        let reshaped = r.type(y).shape == node.type.shape ? y
            : try r.emit(.reshape, [y], Attributes([.shape: .ints(node.type.shape)]), like: node)
        let count = r.constant(Double(n), TensorType(node.type.dtype), like: node)
        return try r.emit(.mul, [reshaped, count], like: node)
    }
}
