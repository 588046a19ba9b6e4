/// Vector–Jacobian products, one rule per op: given the gradient `g` flowing into the output
/// `out` of `node`, build the gradient flowing into each operand. `nil` means no gradient
/// flows to that operand (not differentiable, or zero almost everywhere). Every rule uses only
/// differentiable ops, so the result can be differentiated again.
///
/// Conventions at non-differentiable points (the minimum-norm subgradient where one exists):
/// `relu′(0) = 0`, `abs′(0) = 0`, ties of `max`/`min`/`maximum`/`minimum` share the gradient
/// evenly; `sign`, `floor`, `ceil` have zero gradient; `pow(a, b)` gives 0 for the a-gradient
/// where b = 0 and 0 for the b-gradient where a = 0; `atan2` has zero gradient at the origin;
/// `sqrt′(0) = +inf`.
///
/// Zero cotangents are strong zeros. A rule multiplies the incoming gradient by a local slope
/// with `zmul` (and divides with `zdiv`): exactly `g·slope` wherever that is a number, and
/// exactly 0 where g is 0 even if the slope is infinite or NaN (`sqrt`, `log`, `div` at 0, or
/// any op fed an inf/NaN by a `select` branch that was not taken). Because `zmul` is linear in
/// `g` — it is not a `select` on `g == 0` — the backward graph stays a linear function of `g`,
/// and differentiating it again keeps every term, also at points where some `g` is exactly 0.
/// The one rule that cannot keep a zero cotangent zero is `matmul` (`g @ bᵀ` sums 0·inf).
func vjp(_ node: Node, _ out: ValueID, _ g: ValueID, needs: OperandNeeds, _ b: inout GraphBuilder, _ constants: inout ConstantPool) throws(Diagnostic) -> Cotangents {
    let x = node.inputs.first ?? out
    func c(_ v: Double) throws(Diagnostic) -> ValueID { try constants.scalar(v, b.dtype(of: out), &b) }
    /// `p·q`, or the other factor when one is the scalar constant 1 (exact: 1·x = x), so the
    /// seed's multiplications never enter the graph.
    func mul(_ p: ValueID, _ q: ValueID) throws(Diagnostic) -> ValueID {
        if b.isScalar(q), isOne(p) { return q }  // isOne(p): p is a scalar too
        if b.isScalar(p), isOne(q) { return p }
        return try b.binary(.mul, p, q)
    }
    /// The strong-zero product `zmul(v, slope)` of a cotangent `v` and a slope, or the other
    /// factor when one is the scalar constant 1 (exact, as in `mul`).
    func scale(_ v: ValueID, _ slope: ValueID) throws(Diagnostic) -> ValueID {
        if b.isScalar(slope), isOne(v) { return slope }
        if b.isScalar(v), isOne(slope) { return v }
        return try b.binary(.zmul, v, slope)
    }
    /// The strong-zero quotient `zdiv(v, d)` of a cotangent `v` by a denominator.
    func divide(_ v: ValueID, _ d: ValueID) throws(Diagnostic) -> ValueID { try b.binary(.zdiv, v, d) }
    /// Whether `id` is a scalar constant equal to 1 (read in place: passing the node array
    /// would retain it on every multiplication).
    func isOne(_ id: ValueID) -> Bool {
        b.function.nodes[id].op == .const && b.function.nodes[id].type.isScalar && b.function.nodes[id].attrs.value == 1
    }
    func div(_ p: ValueID, _ q: ValueID) throws(Diagnostic) -> ValueID { try b.binary(.div, p, q) }
    func add(_ p: ValueID, _ q: ValueID) throws(Diagnostic) -> ValueID { try b.binary(.add, p, q) }
    func sub(_ p: ValueID, _ q: ValueID) throws(Diagnostic) -> ValueID { try b.binary(.sub, p, q) }
    func neg(_ p: ValueID) throws(Diagnostic) -> ValueID { try b.unary(.neg, p) }
    func unbroadcast(_ v: ValueID, _ operand: Int) throws(Diagnostic) -> ValueID {
        if b.sameShape(v, node.inputs[operand]) { return v }  // the usual case, without copying shapes
        return try sumToShape(v, b.type(of: node.inputs[operand]).shape, &b)
    }

    switch node.op {
    case .input, .const:
        return Cotangents()
    case .grad, .jacobian, .hessian, .jvp, .hvp:
        // Expanded before any backward pass reaches them.
        return Cotangents(none: node.inputs.count)
    case .scan, .result:
        // The backward pass gives a loop its results' cotangents together (`scanCotangents`).
        return Cotangents(none: node.inputs.count)
    case .sign, .floor, .ceil, .floordiv, .eq, .ne, .lt, .le, .gt, .ge, .one_hot, .argmax, .argmin, .iota, .det_sign:
        return Cotangents(none: node.inputs.count)

    // MARK: Elementwise unary
    case .neg: return Cotangents(try neg(g))
    case .abs: return Cotangents(try scale(g, b.unary(.sign, x)))
    case .exp: return Cotangents(try scale(g, out))
    case .log: return Cotangents(try divide(g, x))
    case .log1p: return Cotangents(try divide(g, add(c(1), x)))
    case .expm1: return Cotangents(try scale(g, add(out, c(1))))
    case .sqrt: return Cotangents(try divide(g, mul(c(2), out)))
    case .rsqrt: return Cotangents(try scale(g, mul(c(-0.5), div(out, x))))
    case .square: return Cotangents(try scale(g, mul(c(2), x)))
    case .reciprocal: return Cotangents(try neg(scale(g, b.unary(.square, out))))
    case .sin: return Cotangents(try scale(g, b.unary(.cos, x)))
    case .cos: return Cotangents(try neg(scale(g, b.unary(.sin, x))))
    case .tan: return Cotangents(try scale(g, add(c(1), b.unary(.square, out))))
    case .tanh: return Cotangents(try scale(g, sub(c(1), b.unary(.square, out))))
    case .sigmoid: return Cotangents(try scale(g, mul(out, sub(c(1), out))))
    case .relu: return Cotangents(try b.add(.select, [b.binary(.gt, x, c(0)), g, c(0)]))
    case .softplus: return Cotangents(try scale(g, b.unary(.sigmoid, x)))
    case .erf:
        let slope = try mul(c(2 / Double.pi.squareRoot()), b.unary(.exp, neg(b.unary(.square, x))))
        return Cotangents(try scale(g, slope))

    // MARK: Special functions (issue 17)
    case .lgamma: return Cotangents(try scale(g, b.unary(.digamma, x)))
    case .digamma: return Cotangents(try scale(g, b.binary(.polygamma, c(1), x)))
    case .erfc:
        let slope = try mul(c(-2 / Double.pi.squareRoot()), b.unary(.exp, neg(b.unary(.square, x))))
        return Cotangents(try scale(g, slope))
    case .log_sigmoid: return Cotangents(try scale(g, b.unary(.sigmoid, neg(x))))
    case .polygamma:
        // The order n is integer-valued: no gradient; x: the next order.
        let (order, v) = (node.inputs[0], node.inputs[1])
        return Cotangents(nil, needs[1] ? try unbroadcast(scale(g, b.binary(.polygamma, add(order, c(1)), v)), 1) : nil)
    case .logaddexp:
        // σ(a − b), with a − b read as 0 where a = b are both infinite (a − b is NaN there):
        // the gradient splits evenly, as for a tie. A finite tie keeps a − b, so its second
        // derivative (σ′(0) = ¼) flows.
        let (p, q) = (node.inputs[0], node.inputs[1])
        let difference = try sub(p, q)
        let infiniteTie = try b.add(.select, [b.binary(.ne, difference, difference), c(0), difference])
        let safe = try b.add(.select, [b.binary(.eq, p, q), infiniteTie, difference])
        return Cotangents(needs[0] ? try unbroadcast(scale(g, b.unary(.sigmoid, safe)), 0) : nil,
                          needs[1] ? try unbroadcast(scale(g, b.unary(.sigmoid, neg(safe))), 1) : nil)
    case .xlogy:
        let (p, q) = (node.inputs[0], node.inputs[1])
        return Cotangents(needs[0] ? try unbroadcast(scale(g, b.unary(.log, q)), 0) : nil,
                          needs[1] ? try unbroadcast(scale(g, divide(p, q)), 1) : nil)

    // MARK: Elementwise binary (gradients summed back over broadcast axes)
    case .add:
        return Cotangents(needs[0] ? try unbroadcast(g, 0) : nil, needs[1] ? try unbroadcast(g, 1) : nil)
    case .sub:
        return Cotangents(needs[0] ? try unbroadcast(g, 0) : nil, needs[1] ? try unbroadcast(neg(g), 1) : nil)
    case .mul:
        let (p, q) = (node.inputs[0], node.inputs[1])
        return Cotangents(needs[0] ? try unbroadcast(scale(g, q), 0) : nil, needs[1] ? try unbroadcast(scale(g, p), 1) : nil)
    case .div:
        let q = node.inputs[1]
        return Cotangents(needs[0] ? try unbroadcast(divide(g, q), 0) : nil,
                needs[1] ? try unbroadcast(neg(divide(scale(g, out), q)), 1) : nil)
    case .zmul:
        // The zero of `p` stays strong in the gradient it sends to q: 0 even where g is
        // infinite (the adjoint of a cotangent, in a second derivative, can be).
        let (p, q) = (node.inputs[0], node.inputs[1])
        return Cotangents(needs[0] ? try unbroadcast(scale(g, q), 0) : nil, needs[1] ? try unbroadcast(scale(p, g), 1) : nil)
    case .zdiv:
        let q = node.inputs[1]
        return Cotangents(needs[0] ? try unbroadcast(divide(g, q), 0) : nil,
                needs[1] ? try unbroadcast(neg(divide(scale(out, g), q)), 1) : nil)
    case .pow:
        // The a-slope b·a^(b−1) is a strong-zero product, so it is 0 where b = 0 even where
        // a^(−1) is infinite, and its derivative in b there is still a^(−1). Where a = 0 the
        // b-slope uses ln 1 = 0 (the convention; the true one-sided limit is 0 or infinite).
        let (base, exponent) = (node.inputs[0], node.inputs[1])
        var result: Cotangents = [nil, nil]
        if needs[0] {
            let slope = try scale(exponent, b.binary(.pow, base, sub(exponent, c(1))))
            result[0] = try unbroadcast(scale(g, slope), 0)
        }
        if needs[1] {
            let safeBase = try b.add(.select, [b.binary(.eq, base, c(0)), c(1), base])
            result[1] = try unbroadcast(scale(g, mul(out, b.unary(.log, safeBase))), 1)
        }
        return result
    case .maximum, .minimum:
        let (p, q) = (node.inputs[0], node.inputs[1])
        let wins: Op = node.op == .maximum ? .gt : .lt
        let half = try mul(g, c(0.5))
        let tie = try b.binary(.eq, p, q)
        var result: Cotangents = [nil, nil]
        if needs[0] {
            let share = try b.add(.select, [tie, half, c(0)])
            result[0] = try unbroadcast(b.add(.select, [b.binary(wins, p, q), g, share]), 0)
        }
        if needs[1] {
            let share = try b.add(.select, [tie, half, c(0)])
            result[1] = try unbroadcast(b.add(.select, [b.binary(wins, q, p), g, share]), 1)
        }
        return result
    case .atan2:
        let (p, q) = (node.inputs[0], node.inputs[1])
        let denominator = try add(b.unary(.square, p), b.unary(.square, q))
        return Cotangents(needs[0] ? try unbroadcast(divide(scale(g, q), denominator), 0) : nil,
                needs[1] ? try unbroadcast(neg(divide(scale(g, p), denominator)), 1) : nil)
    case .mod:
        // mod(a, b) = a − b·floordiv(a, b), floordiv piecewise constant.
        let (p, q) = (node.inputs[0], node.inputs[1])
        return Cotangents(needs[0] ? try unbroadcast(g, 0) : nil,
                needs[1] ? try unbroadcast(neg(scale(g, b.binary(.floordiv, p, q))), 1) : nil)
    case .select:
        let cond = node.inputs[0]
        return Cotangents(nil,
                needs[1] ? try unbroadcast(b.add(.select, [cond, g, c(0)]), 1) : nil,
                needs[2] ? try unbroadcast(b.add(.select, [cond, c(0), g]), 2) : nil)

    // MARK: Reductions
    case .sum:
        return Cotangents(try expandReduced(g, node, &b))
    case .mean:
        let xType = b.type(of: x)
        let n = xType.count / max(node.type.count, 1)
        return Cotangents(try div(expandReduced(g, node, &b), c(Double(n))))
    case .max, .min:
        // The gradient is shared evenly among the elements equal to the extremum.
        let extremum = try expandReduced(out, node, &b)
        let mask = try b.cast(b.binary(.eq, x, extremum), to: node.type.dtype)
        let count = try expandReduced(b.reduce(.sum, mask, axes: node.attrs.axes, keepdims: node.attrs.keepdims), node, &b)
        // mask/count is 0/0 = NaN where the extremum is NaN (a NaN maximum has a NaN
        // gradient), but a zero g still sends back 0.
        return Cotangents(try scale(expandReduced(g, node, &b), div(mask, count)))
    case .prod:
        // The product of the other elements, without dividing by x (exact where x = 0, and
        // a polynomial in x, so every higher derivative is right there too).
        return Cotangents(try scale(expandReduced(g, node, &b), productOfOthers(node, &b)))
    case .logsumexp:
        let shifted = try sub(x, expandReduced(out, node, &b))
        return Cotangents(try scale(expandReduced(g, node, &b), b.unary(.exp, shifted)))

    // MARK: Linear algebra
    case .matmul:
        let (p, q) = (node.inputs[0], node.inputs[1])
        var result: Cotangents = [nil, nil]
        if needs[0] { result[0] = try unbroadcast(b.binary(.matmul, g, swapLastAxes(q, &b)), 0) }
        if needs[1] { result[1] = try unbroadcast(b.binary(.matmul, swapLastAxes(p, &b), g), 1) }
        return result
    case .transpose:
        let perm = node.attrs.perm ?? Array((0..<node.type.rank).reversed())
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Cotangents(try b.transpose(g, inverse))
    case .dot:
        let (p, q) = (node.inputs[0], node.inputs[1])
        return Cotangents(needs[0] ? try scale(g, q) : nil, needs[1] ? try scale(g, p) : nil)

    // MARK: Factorizations and solves (issue 17): the literature's adjoint formulas as graph
    // nodes (triangular solves, matmuls, triangles), so they differentiate again.
    case .cholesky:
        // Murray (2016), for S = (A + Aᵀ)/2 = L·Lᵀ: Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹).
        let l = out
        let m = try b.matmul(swapLastAxes(l, &b), g)
        let phi = try add(b.triangle(m, k: -1, lower: true), mul(b.diag(b.diagonal(m)), c(0.5)))
        let y = try solveTriangular(l, phi, lower: true, transpose: true, &b)                       // L⁻ᵀ Φ
        let z = try swapLastAxes(solveTriangular(l, swapLastAxes(y, &b), lower: true, transpose: true, &b), &b)  // L⁻ᵀ Φ L⁻¹
        return Cotangents(try mul(add(z, swapLastAxes(z, &b)), c(0.5)))
    case .triangular_solve:
        // X = op(L)⁻¹ B: B̄ = op(L)⁻ᵀ X̄; L̄ = −B̄·Xᵀ (op = id) or −X·B̄ᵀ (op = ᵀ), on L's triangle.
        let (lower, transposed) = (node.attrs.lower, node.attrs.transposed)
        let bBar = try solveTriangular(node.inputs[0], g, lower: lower, transpose: !transposed, &b)
        var result: Cotangents = [nil, nil]
        if needs[0] {
            let outer = transposed ? try b.matmul(out, swapLastAxes(bBar, &b)) : try b.matmul(bBar, swapLastAxes(out, &b))
            result[0] = try neg(b.triangle(outer, k: 0, lower: lower))
        }
        if needs[1] { result[1] = bBar }
        return result
    case .logdet:
        // d ln det S = tr(S⁻¹ dA): Ā = g·S⁻¹ = g·L⁻ᵀL⁻¹ with L⁻¹ = triangular_solve(L, I).
        let t = b.type(of: x)
        let n = t.shape[t.rank - 1]
        let l = try b.add(.cholesky, [x])
        let identity = try b.broadcast(b.eye(n, dtype: t.dtype), to: t.shape)
        let inverseFactor = try solveTriangular(l, identity, lower: true, transpose: false, &b)
        let inverse = try b.matmul(swapLastAxes(inverseFactor, &b), inverseFactor)
        return Cotangents(try scale(b.reshape(g, b.type(of: out).shape + [1, 1]), inverse))

    case .solve:
        // X = A⁻¹B: B̄ = A⁻ᵀX̄, Ā = −B̄·Xᵀ.
        let bBar = try b.add(.solve, [swapLastAxes(node.inputs[0], &b), g])
        var result: Cotangents = [nil, nil]
        if needs[0] { result[0] = try neg(b.matmul(bBar, swapLastAxes(out, &b))) }
        if needs[1] { result[1] = bBar }
        return result
    case .det:
        // Ā = g·det·A⁻ᵀ (A⁻¹ = solve(A, I)); a singular A gives 0·inf = NaN where g ≠ 0.
        let batch = b.type(of: out).shape + [1, 1]
        let inverse = try b.inverse(x)
        return Cotangents(try scale(b.reshape(g, batch), mul(b.reshape(out, batch), swapLastAxes(inverse, &b))))
    case .logabsdet:
        // d ln|det A| = tr(A⁻¹ dA): Ā = g·A⁻ᵀ; a singular A gives inf/NaN where g ≠ 0.
        let batch = b.type(of: out).shape + [1, 1]
        return Cotangents(try scale(b.reshape(g, batch), swapLastAxes(b.inverse(x), &b)))

    // MARK: Shape
    case .reshape, .expand_dims, .squeeze:
        return Cotangents(try b.reshape(g, b.type(of: x).shape))
    case .broadcast_to:
        return Cotangents(try unbroadcast(g, 0))
    case .slice:
        let shape = b.type(of: x).shape
        let (start, step) = (node.attrs.start ?? [], node.attrs.step ?? [])
        var high: [Int] = []
        for i in shape.indices {
            let n = node.type.shape[i]
            high.append(n == 0 ? shape[i] - start[i] : shape[i] - (start[i] + (n - 1) * step[i] + 1))
        }
        return Cotangents(try b.add(.pad, [g], Attributes([.low: .ints(start), .high: .ints(high), .step: .ints(step)])))
    case .pad:
        let shape = b.type(of: x).shape
        let (low, step) = (node.attrs.low ?? [], node.attrs.step ?? [])
        let stop = shape.indices.map { i in shape[i] == 0 ? low[i] : low[i] + (shape[i] - 1) * step[i] + 1 }
        return Cotangents(try b.add(.slice, [g], Attributes([.start: .ints(low), .stop: .ints(stop), .step: .ints(step)])))
    case .concat:
        let axis = normalizeAxis(node.attrs.axis ?? 0, rank: node.type.rank) ?? 0
        var offset = 0
        var result: Cotangents = []
        for (k, input) in node.inputs.enumerated() {
            let width = b.type(of: input).shape[axis]
            defer { offset += width }
            guard needs[k] else {
                result.append(nil)
                continue
            }
            var start = [Int](repeating: 0, count: node.type.rank)
            var stop = node.type.shape
            start[axis] = offset
            stop[axis] = offset + width
            let steps = [Int](repeating: 1, count: node.type.rank)
            result.append(try b.add(.slice, [g], Attributes([.start: .ints(start), .stop: .ints(stop), .step: .ints(steps)])))
        }
        return result
    case .cumsum:
        var attrs = node.attrs
        attrs[.reverse] = node.attrs.reverse ? nil : .bool(true)
        return Cotangents(try b.add(.cumsum, [g], attrs))

    // MARK: Indexing (linear in the float operands; no gradient to the indices)
    case .take, .take_along_axis:
        // Each read element sends its g back to where it was read, repeated reads summing.
        let scatter: Op = node.op == .take ? .scatter_add : .scatter_add_along_axis
        return Cotangents(needs[0] ? try b.add(scatter, [b.zeros(like: x), node.inputs[1], g], node.attrs) : nil, nil)
    case .scatter_add, .scatter_add_along_axis:
        let take: Op = node.op == .scatter_add ? .take : .take_along_axis
        return Cotangents(needs[0] ? g : nil, nil, needs[2] ? try b.add(take, [g, node.inputs[1]], node.attrs) : nil)
    case .cast:
        let from = b.type(of: x).dtype
        return Cotangents(from.isFloat && node.type.dtype.isFloat ? try b.cast(g, to: from) : nil)

    // MARK: Neural-network helpers
    case .softmax:
        let axis = node.attrs.axis ?? -1
        let dotted = try b.reduce(.sum, scale(g, out), axes: [axis], keepdims: true)
        return Cotangents(try scale(sub(g, dotted), out))
    case .log_softmax:
        let axis = node.attrs.axis ?? -1
        let total = try b.reduce(.sum, g, axes: [axis], keepdims: true)
        return Cotangents(try sub(g, scale(total, b.unary(.exp, out))))
    case .softmax_cross_entropy:
        let (logits, labels) = (node.inputs[0], node.inputs[1])
        let rank = b.type(of: logits).rank
        let axis = normalizeAxis(node.attrs.axis ?? -1, rank: rank) ?? (rank - 1)
        let ge = try b.add(.expand_dims, [g], Attributes([.axis: .int(axis)]))
        var result: Cotangents = [nil, nil]
        if needs[0] {
            let probabilities = try b.add(.softmax, [logits], Attributes([.axis: .int(axis)]))
            let mass = try b.reduce(.sum, labels, axes: [axis], keepdims: true)
            result[0] = try scale(ge, sub(mul(probabilities, mass), labels))
        }
        if needs[1] {
            let logp = try b.add(.log_softmax, [logits], Attributes([.axis: .int(axis)]))
            result[1] = try neg(scale(ge, logp))
        }
        return result

    // MARK: Convolution (bilinear: each rule is one of the other two ops)
    case .conv2d, .conv2d_input_grad, .conv2d_kernel_grad:
        let (p, q) = (node.inputs[0], node.inputs[1])
        var attrs = node.attrs
        attrs[.shape] = nil
        func with(_ spatial: [Int]) -> Attributes {
            var a = attrs
            a[.shape] = .ints(spatial)
            return a
        }
        let pt = b.type(of: p).shape, qt = b.type(of: q).shape
        var result: Cotangents = [nil, nil]
        switch node.op {
        case .conv2d:
            // x: the transposed convolution of g; w: the correlation of x with g.
            if needs[0] { result[0] = try b.add(.conv2d_input_grad, [g, q], with([pt[2], pt[3]])) }
            if needs[1] { result[1] = try b.add(.conv2d_kernel_grad, [p, g], with([qt[2], qt[3]])) }
        case .conv2d_input_grad:
            // out = Aᵀ(p; q) with p the forward cotangent and q the kernel.
            if needs[0] { result[0] = try b.add(.conv2d, [g, q], attrs) }
            if needs[1] { result[1] = try b.add(.conv2d_kernel_grad, [g, p], with([qt[2], qt[3]])) }
        default:
            // out = dw(p; q) with p the input and q the forward cotangent.
            if needs[0] { result[0] = try b.add(.conv2d_input_grad, [q, g], with([pt[2], pt[3]])) }
            if needs[1] { result[1] = try b.add(.conv2d, [p, g], attrs) }
        }
        return result

    // MARK: Pooling: max pooling's derivative is linear in the cotangent with weights that are
    // piecewise constant in x (zero derivative in x, as `max`), average pooling is linear.
    case .max_pool2d:
        return Cotangents(try b.add(.max_pool2d_grad, [x, g], node.attrs))
    case .max_pool2d_grad:
        return Cotangents(nil, needs[1] ? try b.add(.max_pool2d_tangent, [x, g], node.attrs) : nil)
    case .max_pool2d_tangent:
        return Cotangents(nil, needs[1] ? try b.add(.max_pool2d_grad, [x, g], node.attrs) : nil)
    case .avg_pool2d:
        var attrs = node.attrs
        let shape = b.type(of: x).shape
        attrs[.shape] = .ints([shape[2], shape[3]])
        return Cotangents(try b.add(.avg_pool2d_grad, [g], attrs))
    case .avg_pool2d_grad:
        var attrs = node.attrs
        attrs[.shape] = nil
        return Cotangents(try b.add(.avg_pool2d, [g], attrs))
    }
}

/// Sums `v` over the axes that broadcasting added or stretched, giving `shape`.
func sumToShape(_ v: ValueID, _ shape: [Int], _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
    let from = b.type(of: v).shape
    if from == shape { return v }
    let extra = from.count - shape.count
    var axes = Array(0..<max(extra, 0))
    for (i, d) in shape.enumerated() where d == 1 && from[i + extra] != 1 {
        axes.append(i + extra)
    }
    var r = v
    if !axes.isEmpty {
        r = try b.reduce(.sum, v, axes: axes, keepdims: false)
    }
    return try b.reshape(r, shape)
}

/// Broadcasts a reduction's result (or its gradient) back to the reduced operand's shape.
func expandReduced(_ v: ValueID, _ node: Node, _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
    let xShape = b.type(of: node.inputs[0]).shape
    let axes = (node.attrs.axes ?? Array(0..<xShape.count)).compactMap { normalizeAxis($0, rank: xShape.count) }
    let kept = xShape.indices.map { axes.contains($0) ? 1 : xShape[$0] }
    return try b.broadcast(b.reshape(v, kept), to: xShape)
}

/// For a `prod` node over `axes` of x: for every element of x, the product of the other
/// elements of its reduced slice, shaped like x.
/// ```
/// others_i = (x_0 ⋯ x_{i−1}) · (x_{i+1} ⋯ x_{n−1})
/// ```
/// The reduced axes are moved last and flattened to one axis of length n; exclusive prefix
/// and suffix products along it come from a Hillis–Steele scan (⌈log₂ n⌉ shifted products each
/// way), so the rule costs O(n log n) and never divides.
func productOfOthers(_ node: Node, _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
    let x = node.inputs[0]
    let t = b.type(of: x)
    let reduced = Set((node.attrs.axes ?? Array(0..<t.rank)).compactMap { normalizeAxis($0, rank: t.rank) })
    let kept = (0..<t.rank).filter { !reduced.contains($0) }
    let perm = kept + reduced.sorted()
    let n = reduced.reduce(1) { $0 * t.shape[$1] }
    let m = kept.reduce(1) { $0 * t.shape[$1] }
    let permuted = perm.map { t.shape[$0] }
    let rows = try b.reshape(b.transpose(x, perm), [m, n])
    let one = try b.constant(1, TensorType(t.dtype, [m, 1]))
    func ones(_ k: Int) throws(Diagnostic) -> ValueID {
        k == 1 ? one : try b.constant(1, TensorType(t.dtype, [m, k]))
    }
    func columns(_ v: ValueID, _ start: Int, _ stop: Int) throws(Diagnostic) -> ValueID {
        try b.slice(v, axis: 1, start: start, stop: stop)
    }
    func joined(_ p: ValueID, _ q: ValueID) throws(Diagnostic) -> ValueID {
        try b.add(.concat, [p, q], Attributes([.axis: .int(1)]))
    }
    var others: ValueID
    if n <= 1 {
        others = try ones(n)
    } else {
        // Inclusive scans: after the step with shift s, element i holds the product of the
        // (up to 2s) elements ending (prefix) or starting (suffix) at i.
        var prefix = rows
        var suffix = rows
        var shift = 1
        while shift < n {
            prefix = try b.binary(.mul, prefix, joined(ones(shift), columns(prefix, 0, n - shift)))
            suffix = try b.binary(.mul, suffix, joined(columns(suffix, shift, n), ones(shift)))
            shift *= 2
        }
        let before = try joined(one, columns(prefix, 0, n - 1))
        let after = try joined(columns(suffix, 1, n), one)
        others = try b.binary(.mul, before, after)
    }
    var inverse = [Int](repeating: 0, count: perm.count)
    for (i, p) in perm.enumerated() { inverse[p] = i }
    return try b.transpose(b.reshape(others, permuted), inverse)
}

/// Swaps the last two axes (the matrix transpose of a batched matrix).
/// `triangular_solve(l, rhs, lower:, transpose:)`.
func solveTriangular(_ l: ValueID, _ rhs: ValueID, lower: Bool, transpose: Bool, _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
    try b.add(.triangular_solve, [l, rhs], Attributes([.lower: .bool(lower), .transpose: .bool(transpose)]))
}

func swapLastAxes(_ v: ValueID, _ b: inout GraphBuilder) throws(Diagnostic) -> ValueID {
    let r = b.type(of: v).rank
    var perm = Array(0..<r)
    perm.swapAt(r - 1, r - 2)
    return try b.transpose(v, perm)
}
