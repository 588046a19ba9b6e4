
/// How an op's result varies with its operands, for the Hessian's interaction analysis.
enum Curvature {
    /// The derivative is zero almost everywhere (sign, floor, comparisons, integer results).
    case constant
    /// Linear, or piecewise linear (relu, abs, maximum, max): no second derivative a.e.
    case linear
    /// Anything else: its operands' dependency sets interact.
    case nonlinear
}

/// Per-element dependency propagation through a function's nodes in topological order: each
/// node's value gets, per element, the sorted set of x's elements it depends on. With
/// `pairs`, nonlinear nodes also record the interactions a Hessian pattern is made of.
struct Propagator {
    /// x's element count: the universe of the sets.
    let columns: Int
    /// Most indices one value's sets may hold (and most non-zeros of the result).
    let limit: Int
    var union: SetUnion
    /// The Hessian's interaction pairs (nil for a Jacobian).
    var pairs: InteractionPairs?
    /// Node·steps that loops may still unroll (shared by all loops, nested ones included);
    /// a loop that does not fit is treated conservatively.
    var unrollBudget: Int
    /// The index values known in the function being run, one per loop body deep (the outer
    /// function's from the caller's `indexValues`, a body's from its step number when unrolled).
    var indexEvaluators: [IndexValues] = []

    init(columns: Int, limit: Int, pairs: Bool, unrollBudget: Int = 1 << 16) {
        self.columns = columns
        self.limit = limit
        union = SetUnion(columns: columns)
        self.pairs = pairs ? InteractionPairs(n: columns, limit: limit) : nil
        self.unrollBudget = unrollBudget
    }

    // MARK: Running a function

    /// Propagates through `f.nodes[start...]`, the `seeds` given, and returns the sets of
    /// `targets`. `emit[id]` says whether node `id` records interactions (all nodes when nil);
    /// `needed[id]`, whether its sets are needed at all (all when nil).
    mutating func run(_ f: Function, seeds: [ValueID: DependencySets], start: Int, targets: [ValueID],
                      emit: [Bool]? = nil, needed: [Bool]? = nil, knownIndices: [ValueID: [Int64]] = [:]) throws(SparsityError) -> [DependencySets] {
        indexEvaluators.append(IndexValues(f, known: knownIndices))
        defer { indexEvaluators.removeLast() }
        let empty = targets.map { DependencySets.empty(f.type(of: $0).count) }
        guard let end = targets.max(), end >= start else {
            return targets.enumerated().map { seeds[$0.element] ?? empty[$0.offset] }
        }
        var deps = [DependencySets?](repeating: nil, count: end + 1)
        var loopResults: [ValueID: [DependencySets]] = [:]
        var lastUse = [Int](repeating: -1, count: end + 1)
        for id in start...end {
            for u in f.nodes[id].inputs where u >= start && u < id { lastUse[u] = id }
        }
        for t in targets { lastUse[t] = Int.max }
        for id in start...end {
            let node = f.nodes[id]
            let emitHere = pairs != nil && (emit?[id] ?? true)
            if let s = seeds[id] {
                deps[id] = s
            } else if needed.map({ $0[id] }) ?? true || emitHere {
                let operands = node.inputs.map { $0 >= start && $0 < id ? deps[$0] : nil }
                if node.op == .scan {
                    if !operands.allSatisfy({ $0 == nil }) { loopResults[id] = try loop(node, f, operands, emit: emitHere) }
                } else if node.op == .result {
                    if let k = node.attrs.int(.index), let values = loopResults[node.inputs[0]], k >= 0, k < values.count {
                        deps[id] = values[k].isEmpty ? nil : values[k]
                    }
                } else if node.type.dtype.isFloat, !operands.allSatisfy({ $0 == nil }) {
                    let d = try rule(node, f, operands, emit: emitHere, sets: needed.map { $0[id] } ?? true)
                    guard d.indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
                    deps[id] = d.isEmpty ? nil : d
                }
            }
            // A value's sets are dropped after their last use.
            for u in node.inputs where u >= start && u < id && lastUse[u] == id {
                deps[u] = nil
                loopResults[u] = nil
            }
        }
        return targets.enumerated().map { deps[$0.element] ?? empty[$0.offset] }
    }

    // MARK: The rule of every op

    /// The sets of `node`'s value from its operands' (`nil`: depends on nothing).
    /// With `sets` false (a nonlinear node whose own sets nothing needs) only the interactions
    /// are recorded, and the result may be left empty.
    mutating func rule(_ node: Node, _ f: Function, _ operands: [DependencySets?], emit: Bool, sets: Bool = true) throws(SparsityError) -> DependencySets {
        let out = node.type
        let shapes = node.inputs.map { f.type(of: $0).shape }
        func operand(_ k: Int) -> DependencySets { operands[k] ?? .empty(f.type(of: node.inputs[k]).count) }
        func source(_ k: Int) -> [Int]? { shapes[k] == out.shape ? nil : broadcastIndexMap(from: shapes[k], to: out.shape) }
        let attrs = node.attrs
        // A value larger than the limit gets no per-element table (its index maps alone would
        // exceed it): every element depends on everything its operands do.
        if out.count > limit || node.inputs.contains(where: { f.type(of: $0).count > limit }) {
            return try everything(node, operands, out.count, emit: emit)
        }
        switch node.op {
        case .input, .const, .iota, .one_hot, .argmax, .argmin:
            return .empty(out.count)
        case .sign, .floor, .ceil, .floordiv, .eq, .ne, .lt, .le, .gt, .ge:
            return .empty(out.count)
        case .neg, .abs, .relu:
            return operand(0)
        case .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .square, .reciprocal, .sin, .cos, .tan, .tanh, .sigmoid,
             .softplus, .erf, .lgamma, .digamma, .erfc, .log_sigmoid:
            let a = operand(0)
            if emit { try emitSquares(a) }
            return a
        case .add, .sub, .maximum, .minimum, .mod:
            return try unionOf([(operand(0), source(0)), (operand(1), source(1))], count: out.count)
        case .mul, .zmul:
            if emit { try emitProducts(operand(0), source(0), operand(1), source(1), count: out.count) }
            if !sets { return .empty(out.count) }
            return try unionOf([(operand(0), source(0)), (operand(1), source(1))], count: out.count)
        case .div, .zdiv:
            if emit {
                try emitProducts(operand(0), source(0), operand(1), source(1), count: out.count)
                try emitSquares(operand(1))
            }
            if !sets { return .empty(out.count) }
            return try unionOf([(operand(0), source(0)), (operand(1), source(1))], count: out.count)
        case .pow, .atan2, .logaddexp, .xlogy:
            let u = try unionOf([(operand(0), source(0)), (operand(1), source(1))], count: out.count)
            if emit { try emitSquares(u) }
            return u
        case .polygamma:
            // The order n has no derivative.
            let b = operand(1)
            if emit { try emitSquares(b) }
            return source(1).map { b.remapped($0) } ?? b
        case .select:
            return try unionOf([(operand(1), source(1)), (operand(2), source(2))], count: out.count)
        case .sum, .mean, .max, .min, .prod, .logsumexp:
            let axes = normalizedAxes(attrs.axes, rank: shapes[0].count)
            let g = try groupUnion(operand(0), axisGroups(shapes[0], axes))
            if emit && (node.op == .prod || node.op == .logsumexp) { try emitSquares(g) }
            return g.resized(out.count)
        case .matmul:
            return try matmul(operand(0), shapes[0], operand(1), shapes[1], out.shape, emit: emit, sets: sets)
        case .dot:
            let (a, b) = (operand(0), operand(1))
            if emit {
                for k in 0..<shapes[0][0] { try pairs?.add(a, a.setID(k), b, b.setID(k)) }
            }
            return try unionOf([(collapse(a), nil), (collapse(b), nil)], count: 1)
        case .transpose:
            let perm = attrs.perm ?? Array((0..<shapes[0].count).reversed())
            let strides = rowMajorStrides(shapes[0])
            return operand(0).remapped(stridedIndexMap(shape: out.shape, strides: perm.map { strides[$0] }))
        case .reshape, .expand_dims, .squeeze, .cast:
            return operand(0).resized(out.count)
        case .broadcast_to:
            return source(0).map { operand(0).remapped($0) } ?? operand(0)
        case .slice:
            let strides = rowMajorStrides(shapes[0])
            let start = attrs.start ?? [], step = attrs.step ?? []
            let offset = zip(start, strides).reduce(0) { $0 + $1.0 * $1.1 }
            let map = stridedIndexMap(shape: out.shape, strides: steppedStrides(strides, step, extents: out.shape), offset: offset)
            return operand(0).remapped(map)
        case .pad:
            let strides = rowMajorStrides(out.shape)
            let low = attrs.low ?? [], step = attrs.step ?? []
            let offset = zip(low, strides).reduce(0) { $0 + $1.0 * $1.1 }
            let positions = stridedIndexMap(shape: shapes[0], strides: steppedStrides(strides, step, extents: shapes[0]), offset: offset)
            var map = [Int](repeating: -1, count: out.count)
            for (i, p) in positions.enumerated() { map[p] = i }
            return operand(0).remapped(map)
        case .concat:
            guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: out.rank) }) else { return try everything(node, operands, out.count, emit: emit) }
            let strides = rowMajorStrides(out.shape)
            var parts: [(DependencySets, [Int])] = []
            var offset = 0
            for k in node.inputs.indices {
                parts.append((operand(k), stridedIndexMap(shape: shapes[k], strides: strides, offset: offset * strides[axis])))
                offset += shapes[k][axis]
            }
            return combine(parts, count: out.count)
        case .cumsum:
            guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: out.rank) }) else { return try everything(node, operands, out.count, emit: emit) }
            return try cumulative(operand(0), shapes[0], axis: axis, reverse: attrs.reverse)
        case .take, .take_along_axis:
            guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: shapes[0].count) }) else { return try everything(node, operands, out.count, emit: emit) }
            let layout = GatherLayout(data: shapes[0], indices: shapes[1], axis: axis, alongAxis: node.op == .take_along_axis)
            let x = operand(0)
            if let idx = indexValues(f, node.inputs[1]) {
                return x.remapped(knownDataPositions(layout, idx))
            }
            // A run-time index may name any position along the axis.
            let lines = try groupUnion(x, axisGroups([layout.outer, layout.n, layout.inner], [1]))
            return lines.remapped(lineOfElement(outer: layout.outer, along: layout.k, inner: layout.inner))
        case .scatter_add, .scatter_add_along_axis:
            guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: out.rank) }) else { return try everything(node, operands, out.count, emit: emit) }
            let layout = GatherLayout(data: shapes[0], indices: shapes[1], axis: axis, alongAxis: node.op == .scatter_add_along_axis)
            let (base, updates) = (operand(0), operand(2))
            if let idx = indexValues(f, node.inputs[1]) {
                // Each output element: its base element and the updates that land on it.
                let targets = knownDataPositions(layout, idx)
                return try unionOfLists([(base, Array(0...out.count), Array(0..<out.count)), listsByTarget(updates, targets, count: out.count)],
                                        count: out.count)
            }
            let lines = try groupUnion(updates, axisGroups([layout.outer, layout.k, layout.inner], [1]))
            let map = lineOfElement(outer: layout.outer, along: layout.n, inner: layout.inner)
            return try unionOf([(base, nil), (lines, map)], count: out.count)
        case .softmax, .log_softmax:
            guard let axis = normalizeAxis(attrs.axis ?? -1, rank: out.rank) else { return try everything(node, operands, out.count, emit: emit) }
            let g = try groupUnion(operand(0), axisGroups(shapes[0], [axis]))
            if emit { try emitSquares(g) }
            if !sets { return .empty(out.count) }
            return g.remapped(groupOfElement(shapes[0], [axis]))
        case .softmax_cross_entropy:
            guard let axis = normalizeAxis(attrs.axis ?? -1, rank: shapes[0].count) else { return try everything(node, operands, out.count, emit: emit) }
            let logits = try groupUnion(operand(0), axisGroups(shapes[0], [axis]))
            let labels = try groupUnion(operand(1), axisGroups(shapes[1], [axis]))
            if emit {
                try emitSquares(logits)
                try emitProducts(labels, nil, logits, nil, count: logits.count)
            }
            if !sets { return .empty(out.count) }
            return try unionOf([(logits, nil), (labels, nil)], count: out.count)
        case .conv2d:
            guard let g = ConvGeometry.of(.conv2d, operands: shapes, attrs: attrs) else { return try everything(node, operands, out.count, emit: emit) }
            return try convolution(operand(0), operand(1), g, emit: emit, sets: sets)
        case .conv2d_input_grad:
            guard let g = ConvGeometry.of(.conv2d_input_grad, operands: shapes, attrs: attrs) else { return try everything(node, operands, out.count, emit: emit) }
            return try transposedConvolution(operand(0), operand(1), g, emit: emit, sets: sets)
        case .conv2d_kernel_grad:
            guard let g = ConvGeometry.of(.conv2d_kernel_grad, operands: shapes, attrs: attrs) else { return try everything(node, operands, out.count, emit: emit) }
            return try kernelGradient(operand(0), operand(1), g, emit: emit, sets: sets)
        case .max_pool2d, .avg_pool2d:
            // Conservative: an output depends on its whole channel plane (not only its window).
            guard shapes[0].count == 4 else { return try everything(node, operands, out.count, emit: emit) }
            let g = try groupUnion(operand(0), axisGroups(shapes[0], [2, 3]))
            if !sets { return .empty(out.count) }
            let per = g.count == 0 ? 0 : out.count / g.count
            return g.remapped((0..<out.count).map { $0 / Swift.max(per, 1) })
        case .max_pool2d_grad, .max_pool2d_tangent, .avg_pool2d_grad:
            // Conservative: everything the operands depend on.
            return try everything(node, operands, out.count, emit: emit)
        case .det_sign:
            return .empty(out.count)
        case .cholesky, .logdet, .det, .logabsdet:
            // Dense over each matrix of the batch.
            let rank = shapes[0].count
            let g = try groupUnion(operand(0), axisGroups(shapes[0], [rank - 2, rank - 1]))
            if emit { try emitSquares(g) }
            if !sets { return .empty(out.count) }
            let per = g.count == 0 ? 0 : out.count / g.count
            return g.remapped((0..<out.count).map { $0 / Swift.max(per, 1) })
        case .triangular_solve, .solve:
            // Column j of X[b] depends on all of A[b] and column j of B[b].
            let rank = shapes[0].count
            let a = try groupUnion(operand(0), axisGroups(shapes[0], [rank - 2, rank - 1]))
            let columnsOfB = try groupUnion(operand(1), axisGroups(shapes[1], [rank - 2]))
            let (n, k) = (shapes[1][rank - 2], shapes[1][rank - 1])
            let perMatrix = n * k
            var aMap = [Int](repeating: 0, count: out.count), bMap = [Int](repeating: 0, count: out.count)
            for e in 0..<out.count {
                let b = e / perMatrix
                aMap[e] = b
                bMap[e] = b * k + e % k
            }
            let x = try unionOf([(a, aMap), (columnsOfB, bMap)], count: out.count)
            if emit { try emitSquares(x) }
            return x
        case .grad, .jacobian, .hessian, .jvp, .hvp:
            // Requests are expanded before evaluation; where one is still here, be conservative.
            return try everything(node, operands, out.count, emit: emit)
        case .scan, .result:
            // Handled by `run` (a loop's values are its `result` nodes).
            return try everything(node, operands, out.count, emit: emit)
        }
    }

    /// Whether an op's result depends smoothly and nonlinearly on its operands (the Hessian's
    /// interaction analysis); `rule` above is the other place that knows every op.
    static func curvature(_ op: Op) -> Curvature {
        switch op {
        case .input, .const, .iota, .one_hot, .argmax, .argmin, .sign, .floor, .ceil, .floordiv,
             .eq, .ne, .lt, .le, .gt, .ge, .det_sign:
            return .constant
        case .neg, .abs, .relu, .add, .sub, .maximum, .minimum, .mod, .select, .sum, .mean, .max, .min,
             .transpose, .reshape, .expand_dims, .squeeze, .cast, .broadcast_to, .slice, .pad, .concat, .cumsum,
             .take, .take_along_axis, .scatter_add, .scatter_add_along_axis, .result,
             .max_pool2d, .avg_pool2d, .max_pool2d_grad, .max_pool2d_tangent, .avg_pool2d_grad:
            return .linear
        case .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .square, .reciprocal, .sin, .cos, .tan, .tanh, .sigmoid,
             .softplus, .erf, .lgamma, .digamma, .erfc, .log_sigmoid, .mul, .zmul, .div, .zdiv, .pow, .atan2,
             .logaddexp, .xlogy, .polygamma, .prod, .logsumexp, .matmul, .dot, .softmax, .log_softmax,
             .softmax_cross_entropy, .conv2d, .conv2d_input_grad, .conv2d_kernel_grad, .cholesky, .logdet, .det, .logabsdet,
             .triangular_solve, .solve, .grad, .jacobian, .hessian, .jvp, .hvp, .scan:
            return .nonlinear
        }
    }

    /// The operands through which a node's value can have a non-zero derivative.
    /// Which nodes of `f[start...]` record interactions (`emit`: nonlinear, on a path to a root
    /// through non-zero derivatives) and which need their sets (`needed`: an operand of such a
    /// node, or of a node whose sets are needed; the roots too when `rootsNeeded`).
    /// The ops linear in each operand separately (a product with a value independent of x is
    /// linear).
    static let bilinearOps: Set<Op> = [.mul, .zmul, .matmul, .dot, .conv2d, .conv2d_input_grad, .conv2d_kernel_grad]

    static func interactionAnalysis(_ f: Function, roots: [ValueID], rootsNeeded: Bool, from start: Int) -> (emit: [Bool], needed: [Bool]) {
        let end = (roots.max() ?? -1) + 1
        // Which values depend on x at all (in a body, every parameter may): a product with a
        // value that does not is linear in the other operand.
        var varies = [Bool](repeating: false, count: end)
        for v in start..<end {
            let node = f.nodes[v]
            varies[v] = v == start || (node.op == .input && start == 0) || node.inputs.contains { $0 >= start && $0 < v && varies[$0] }
        }
        func bilinear(_ node: Node) -> Bool {
            node.inputs.count == 2 && node.inputs.allSatisfy { $0 >= start && varies[$0] }
        }
        var reach = [Bool](repeating: false, count: end)
        var needed = [Bool](repeating: false, count: end)
        var emit = [Bool](repeating: false, count: end)
        for r in roots where r >= start {
            reach[r] = true
            if rootsNeeded { needed[r] = true }
        }
        for v in stride(from: end - 1, through: start, by: -1) where reach[v] {
            let node = f.nodes[v]
            if node.op == .input { continue }
            var nonlinear = curvature(node.op) == .nonlinear
            if bilinearOps.contains(node.op) { nonlinear = nonlinear && bilinear(node) }
            if node.op == .div || node.op == .zdiv { nonlinear = nonlinear && node.inputs[1] >= start && varies[node.inputs[1]] }
            emit[v] = nonlinear
            for k in differentiableOperands(node) {
                let u = node.inputs[k]
                guard u >= start else { continue }
                reach[u] = true
                if nonlinear || needed[v] { needed[u] = true }
            }
        }
        return (emit, needed)
    }

    static func differentiableOperands(_ node: Node) -> [Int] {
        if curvature(node.op) == .constant { return [] }
        var operands = Array(node.inputs.indices)
        // Indices, select's condition and polygamma's order have no derivative.
        if let k = node.op.indexOperand { operands.removeAll { $0 == k } }
        if node.op == .select || node.op == .polygamma { operands.removeAll { $0 == 0 } }
        return operands
    }
}
