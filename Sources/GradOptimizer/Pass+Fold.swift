import GradRuntime

/// Constant folding: a node whose operands are all constants becomes a constant, computed by
/// the reference kernel `evaluateOp` (one numeric truth: f32 is folded in f32, so the folded
/// value equals the run-time value bit for bit).
///
/// - Elementwise ops (and `cast`) on splat constants fold to a splat of any size: the kernel
///   runs once on scalars.
/// - `broadcast_to`, `reshape`, `expand_dims`, `squeeze` of a splat give a splat of any size.
/// - Anything else folds only when its operands and result have at most `maxElements`
///   elements, so graphs stay small.
/// - A kernel error (e.g. a malformed node) leaves the node alone; the run-time reports it.
/// - i64 constants beyond ±2⁵³ are held as integers (`AttrValue.int64Value`); the splat path,
///   which computes with doubles, leaves them to the general one.
struct FoldPass: LocalRewrite {
    static let maxElements = 4096

    /// Scalar results already computed, keyed on the op and the operands' bits and dtypes
    /// (gradient graphs fold the same `2 − 1` or `2 == 0` thousands of times).
    private var memo: [MemoKey: Double] = [:]

    struct MemoKey: Hashable {
        var op: Op
        var dtypes: [DType]
        var bits: [UInt64]
        var result: DType
    }

    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        guard !node.inputs.isEmpty, r.op(node.inputs[0]) == .const else { return nil }
        for i in node.inputs where r.op(i) != .const { return nil }
        if node.op.family == .leaf || node.op.family == .derivative { return nil }

        if let v = splatResult(node, r) {
            return r.constant(v, node.type, like: node)
        }
        guard node.type.count <= FoldPass.maxElements,
              node.inputs.allSatisfy({ r.type($0).count <= FoldPass.maxElements }) else { return nil }
        var tensors: [Tensor] = []
        for i in node.inputs {
            guard let t = try? evaluateOp(.const, r.attrs(i), [], resultType: r.type(i)) else { return nil }
            tensors.append(t)
        }
        guard let result = try? evaluateOp(node.op, node.attrs, tensors, resultType: node.type) else { return nil }
        let attrs = constantAttributes(result)
        r.changed = true
        return r.append(Node(op: .const, attrs: attrs, type: node.type, role: node.role, location: node.location))
    }

    /// The splat value of an elementwise op (or a broadcast/reshape) of splat constants.
    private mutating func splatResult(_ node: Node, _ r: Rewriter) -> Double? {
        var splats: [Double] = []
        for i in node.inputs {
            guard let v = r.splat(i) else { return nil }
            splats.append(v)
        }
        if node.op == .broadcast_to || node.op.isView { return splats[0] }
        guard node.op.elementwise != nil || node.op == .cast else { return nil }
        let key = MemoKey(op: node.op, dtypes: node.inputs.map { r.type($0).dtype }, bits: splats.map(\.bitPattern),
                          result: node.type.dtype)
        if node.attrs.isEmpty, let v = memo[key] { return v }
        var scalars: [Tensor] = []
        for (i, v) in zip(node.inputs, splats) {
            scalars.append(Tensor(TensorType(r.type(i).dtype), doubles: [v]))
        }
        guard let t = try? evaluateOp(node.op, node.attrs, scalars, resultType: TensorType(node.type.dtype)),
              let v = constantAttributes(t).exactValue else { return nil }
        if node.attrs.isEmpty { memo[key] = v }
        return v
    }
}

/// The attributes of a constant holding `t` (`value` when every element has the same bits),
/// exactly.
func constantAttributes(_ t: Tensor) -> Attributes {
    var attrs = Attributes()
    if !t.shape.isEmpty { attrs[.shape] = .ints(t.shape) }
    attrs[.dtype] = .dtype(t.dtype)
    let values: [Double]
    switch t.storage {
    case .f32(let v): values = v.map { Double($0) }
    case .f64(let v): values = v
    case .i64(let v) where v.contains(where: { $0.magnitude > 1 << 53 }):
        // Beyond what a double holds: the integers themselves.
        let ints = v.map { Int($0) }
        if ints.allSatisfy({ $0 == ints[0] }) {
            attrs[.value] = .int64Value(ints[0])
        } else {
            attrs[.values] = .int64Values(ints)
        }
        return attrs
    case .i64(let v):
        values = v.map { Double($0) }
    case .bool(let v): values = v.map { $0 ? 1 : 0 }
    }
    if let first = values.first, values.allSatisfy({ $0.bitPattern == first.bitPattern }) {
        attrs[.value] = .float(first)
    } else if values.isEmpty {
        attrs[.value] = .float(0)
    } else {
        attrs[.values] = .floats(values)
    }
    return attrs
}
