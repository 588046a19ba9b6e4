/// Rewrites to numerically stable forms. These change bits on purpose — the new forms are more
/// accurate (tested against high-precision expectations) — and run at `-O2` (the default).
///
/// ```
/// log(softmax(x, axis))                         → log_softmax(x, axis)
/// log(1 + x), log(x + 1)                        → log1p(x)
/// exp(x) − 1                                    → expm1(x)
/// log(sum(exp(x), axes, keepdims))              → logsumexp(x, axes, keepdims)
/// −sum(y · log_softmax(z, a), axes=[a])         → softmax_cross_entropy(z, y, axis=a)
/// sum(−(y · log_softmax(z, a)), axes=[a])       → softmax_cross_entropy(z, y, axis=a)
/// ```
/// (`y · log_softmax` may be written either way round; the label and logit shapes must match.)
struct StabilizePass: LocalRewrite {
    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        let t = node.type
        guard t.dtype.isFloat else { return nil }
        switch node.op {
        case .log:
            let x = node.inputs[0]
            switch r.op(x) {
            case .softmax:
                return try r.emit(.log_softmax, [r.inputs(x)[0]], r.attrs(x), like: node)
            case .add:
                let (a, b) = (r.inputs(x)[0], r.inputs(x)[1])
                if r.isSplat(a, 1), r.type(b) == t { return try r.emit(.log1p, [b], like: node) }
                if r.isSplat(b, 1), r.type(a) == t { return try r.emit(.log1p, [a], like: node) }
            case .sum:
                let s = r[x]
                let e = s.inputs[0]
                if r.op(e) == .exp {
                    return try r.emit(.logsumexp, [r.inputs(e)[0]], s.attrs, like: node)
                }
            default:
                break
            }
        case .sub:
            let (a, b) = (node.inputs[0], node.inputs[1])
            if r.op(a) == .exp, r.isSplat(b, 1), r.type(a) == t {
                return try r.emit(.expm1, [r.inputs(a)[0]], like: node)
            }
        case .neg:
            let x = node.inputs[0]
            if r.op(x) == .sum, let product = crossEntropyProduct(r[x], r) {
                return try fusedCrossEntropy(product, r[x], node, &r)
            }
        case .sum:
            let x = node.inputs[0]
            if r.op(x) == .neg, let product = crossEntropyProduct(node, r, operand: r.inputs(x)[0]) {
                return try fusedCrossEntropy(product, node, node, &r)
            }
        default:
            break
        }
        return nil
    }

    /// For `sum(y · log_softmax(z, a), axes=[a])`: the labels, logits and axis.
    private func crossEntropyProduct(_ sum: Node, _ r: Rewriter, operand: ValueID? = nil) -> (labels: ValueID, logits: ValueID, axis: Int)? {
        let m = operand ?? sum.inputs[0]
        guard r.op(m) == .mul, !sum.attrs.keepdims, let axes = sum.attrs.axes, axes.count == 1 else { return nil }
        let (p, q) = (r.inputs(m)[0], r.inputs(m)[1])
        let (labels, ls) = r.op(q) == .log_softmax ? (p, q) : (q, p)
        guard r.op(ls) == .log_softmax else { return nil }
        let logits = r.inputs(ls)[0]
        let rank = r.type(logits).rank
        guard r.type(labels) == r.type(logits), r.type(m) == r.type(logits),
              let a = normalizeAxis(axes[0], rank: rank),
              let lsAxis = normalizeAxis(r.attrs(ls).axis ?? -1, rank: rank), a == lsAxis else { return nil }
        return (labels, logits, a)
    }

    private func fusedCrossEntropy(_ p: (labels: ValueID, logits: ValueID, axis: Int), _ sum: Node, _ node: Node,
                                   _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        try r.emit(.softmax_cross_entropy, [p.logits, p.labels], Attributes([.axis: .int(p.axis)]), like: node)
    }
}
