import GradIR

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
    /// Values of i64 nodes of the outer function known to the caller (run-time indices), used
    /// like a `const` index operand's; not inside loop bodies (whose node ids are their own).
    var knownIndices: [ValueID: [Int64]] = [:]
    /// How many loop bodies deep the propagation is.
    private var depth = 0

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
                      emit: [Bool]? = nil, needed: [Bool]? = nil) throws(SparsityError) -> [DependencySets] {
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
                    let d = try rule(node, f, operands, emit: emitHere)
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
    mutating func rule(_ node: Node, _ f: Function, _ operands: [DependencySets?], emit: Bool) throws(SparsityError) -> DependencySets {
        let out = node.type
        let shapes = node.inputs.map { f.type(of: $0).shape }
        func operand(_ k: Int) -> DependencySets { operands[k] ?? .empty(f.type(of: node.inputs[k]).count) }
        func source(_ k: Int) -> [Int]? { shapes[k] == out.shape ? nil : broadcastIndexMap(from: shapes[k], to: out.shape) }
        let attrs = node.attrs
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
            return try unionOf([(operand(0), source(0)), (operand(1), source(1))], count: out.count)
        case .div, .zdiv:
            if emit {
                try emitProducts(operand(0), source(0), operand(1), source(1), count: out.count)
                try emitSquares(operand(1))
            }
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
            return try matmul(operand(0), shapes[0], operand(1), shapes[1], out.shape, emit: emit)
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
                var map = [Int](repeating: -1, count: layout.count)
                var e = 0
                for o in 0..<layout.outer {
                    for j in 0..<layout.k {
                        for i in 0..<layout.inner {
                            if let p = wrappedIndex(idx[layout.indexPosition(o, j, i)], length: layout.n) { map[e] = layout.dataPosition(o, p, i) }
                            e += 1
                        }
                    }
                }
                return x.remapped(map)
            }
            // A run-time index may name any position along the axis.
            let lines = try groupUnion(x, axisGroups(shapes[0], [axis]))
            var map = [Int](repeating: 0, count: layout.count)
            var e = 0
            for o in 0..<layout.outer {
                for _ in 0..<layout.k {
                    for i in 0..<layout.inner {
                        map[e] = o * layout.inner + i
                        e += 1
                    }
                }
            }
            return lines.remapped(map)
        case .scatter_add, .scatter_add_along_axis:
            guard let axis = attrs.axis.flatMap({ normalizeAxis($0, rank: out.rank) }) else { return try everything(node, operands, out.count, emit: emit) }
            let layout = GatherLayout(data: shapes[0], indices: shapes[1], axis: axis, alongAxis: node.op == .scatter_add_along_axis)
            let (base, updates) = (operand(0), operand(2))
            if let idx = indexValues(f, node.inputs[1]) {
                // Each output element: its base element and the updates that land on it.
                var targets = [Int](repeating: -1, count: layout.count)
                var e = 0
                for o in 0..<layout.outer {
                    for j in 0..<layout.k {
                        for i in 0..<layout.inner {
                            if let p = wrappedIndex(idx[layout.indexPosition(o, j, i)], length: layout.n) { targets[e] = layout.dataPosition(o, p, i) }
                            e += 1
                        }
                    }
                }
                return try unionOfLists([(base, Array(0...out.count), Array(0..<out.count)), listsByTarget(updates, targets, count: out.count)],
                                        count: out.count)
            }
            let lines = try groupUnion(updates, axisGroups(shapes[2], [axis]))
            var map = [Int](repeating: 0, count: out.count)
            var e = 0
            for o in 0..<layout.outer {
                for _ in 0..<layout.n {
                    for i in 0..<layout.inner {
                        map[e] = o * layout.inner + i
                        e += 1
                    }
                }
            }
            return try unionOf([(base, nil), (lines, map)], count: out.count)
        case .softmax, .log_softmax:
            guard let axis = normalizeAxis(attrs.axis ?? -1, rank: out.rank) else { return try everything(node, operands, out.count, emit: emit) }
            let g = try groupUnion(operand(0), axisGroups(shapes[0], [axis]))
            if emit { try emitSquares(g) }
            return g.remapped(groupOfElement(shapes[0], [axis]))
        case .softmax_cross_entropy:
            guard let axis = normalizeAxis(attrs.axis ?? -1, rank: shapes[0].count) else { return try everything(node, operands, out.count, emit: emit) }
            let logits = try groupUnion(operand(0), axisGroups(shapes[0], [axis]))
            let labels = try groupUnion(operand(1), axisGroups(shapes[1], [axis]))
            if emit {
                try emitSquares(logits)
                try emitProducts(labels, nil, logits, nil, count: logits.count)
            }
            return try unionOf([(logits, nil), (labels, nil)], count: out.count)
        case .conv2d:
            guard let g = ConvGeometry.of(.conv2d, operands: shapes, attrs: attrs) else { return try everything(node, operands, out.count, emit: emit) }
            return try convolution(operand(0), operand(1), g, emit: emit)
        case .conv2d_input_grad:
            guard let g = ConvGeometry.of(.conv2d_input_grad, operands: shapes, attrs: attrs) else { return try everything(node, operands, out.count, emit: emit) }
            return try transposedConvolution(operand(0), operand(1), g, emit: emit)
        case .conv2d_kernel_grad:
            guard let g = ConvGeometry.of(.conv2d_kernel_grad, operands: shapes, attrs: attrs) else { return try everything(node, operands, out.count, emit: emit) }
            return try kernelGradient(operand(0), operand(1), g, emit: emit)
        case .cholesky, .logdet, .det:
            // Dense over each matrix of the batch.
            let rank = shapes[0].count
            let g = try groupUnion(operand(0), axisGroups(shapes[0], [rank - 2, rank - 1]))
            if emit { try emitSquares(g) }
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
             .eq, .ne, .lt, .le, .gt, .ge:
            return .constant
        case .neg, .abs, .relu, .add, .sub, .maximum, .minimum, .mod, .select, .sum, .mean, .max, .min,
             .transpose, .reshape, .expand_dims, .squeeze, .cast, .broadcast_to, .slice, .pad, .concat, .cumsum,
             .take, .take_along_axis, .scatter_add, .scatter_add_along_axis, .result:
            return .linear
        case .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .square, .reciprocal, .sin, .cos, .tan, .tanh, .sigmoid,
             .softplus, .erf, .lgamma, .digamma, .erfc, .log_sigmoid, .mul, .zmul, .div, .zdiv, .pow, .atan2,
             .logaddexp, .xlogy, .polygamma, .prod, .logsumexp, .matmul, .dot, .softmax, .log_softmax,
             .softmax_cross_entropy, .conv2d, .conv2d_input_grad, .conv2d_kernel_grad, .cholesky, .logdet, .det,
             .triangular_solve, .solve, .grad, .jacobian, .hessian, .jvp, .hvp, .scan:
            return .nonlinear
        }
    }

    /// The operands through which a node's value can have a non-zero derivative.
    static func differentiableOperands(_ node: Node) -> [Int] {
        if curvature(node.op) == .constant { return [] }
        switch node.op {
        case .select: return [1, 2]
        case .polygamma: return [1]
        case .take, .take_along_axis: return [0]
        case .scatter_add, .scatter_add_along_axis: return [0, 2]
        default: return Array(node.inputs.indices)
        }
    }

    // MARK: Loops

    /// The sets of a `scan`'s values: the body propagated step by step while the unrolling
    /// budget lasts, else every value depending on everything the loop reads.
    mutating func loop(_ node: Node, _ f: Function, _ operands: [DependencySets?], emit: Bool) throws(SparsityError) -> [DependencySets] {
        let types = (try? f.scanResultTypes(node.inputs.map { f.type(of: $0) }, node.attrs)) ?? []
        guard let s = try? ScanSignature(node.attrs, operandCount: node.inputs.count), s.body < f.bodies.count, !types.isEmpty else {
            return []
        }
        let body = f.bodies[s.body]
        let (cost, overflow) = s.length.multipliedReportingOverflow(by: Swift.max(1, body.totalNodeCount))
        func operand(_ k: Int) -> DependencySets { operands[k] ?? .empty(f.type(of: node.inputs[k]).count) }
        guard !overflow, cost <= unrollBudget else {
            if let values = try fixedPoint(node, f, s, body, operands, types) { return values }
            let all = try collapseAll(node.inputs.indices.map(operand))
            if emit { try emitSquares(all) }
            return types.map { all.remapped([Int](repeating: 0, count: $0.count)) }
        }
        unrollBudget -= cost
        var carries = (0..<s.carries).map(operand)
        var stacked = [[DependencySets?]](repeating: [DependencySets?](repeating: nil, count: s.length), count: body.outputs.count - s.carries)
        let targets = body.outputs.map(\.value)
        for t in s.steps {
            var seeds: [ValueID: DependencySets] = [:]
            if s.indexed { seeds[body.parameters[0].value] = .empty(1) }
            for k in 0..<s.operandCount {
                let p = body.parameters[s.parameter(ofOperand: k)].value
                if s.carryOperands.contains(k) {
                    seeds[p] = carries[k]
                } else if s.overOperands.contains(k) {
                    let rows = s.length == 0 ? 0 : f.type(of: node.inputs[k]).count / s.length
                    seeds[p] = operand(k).remapped(Array((t * rows)..<((t + 1) * rows)))
                } else {
                    seeds[p] = operand(k)
                }
            }
            depth += 1
            defer { depth -= 1 }
            let outs = try run(body, seeds: seeds, start: 0, targets: targets)
            for j in 0..<s.carries {
                // A gated (skipped) step keeps the old carry.
                carries[j] = s.gate == nil ? outs[j] : try unionOf([(carries[j], nil), (outs[j], nil)], count: outs[j].count)
            }
            for j in s.carries..<outs.count { stacked[j - s.carries][t] = outs[j] }
        }
        var values = carries
        for (j, steps) in stacked.enumerated() {
            let total = types[s.carries + j].count
            let rows = s.length == 0 ? 0 : total / s.length
            values.append(combine(steps.enumerated().map { t, d in
                (d ?? .empty(rows), Array((t * rows)..<((t + 1) * rows)))
            }, count: total))
        }
        return values
    }

    /// A loop too long to unroll: the carries' sets iterated to a fixed point C = C ∪ body(C),
    /// every sequence row read as the union of all its rows. Since the rules are monotone and
    /// C contains the initial carries, every step's carries are inside C, so C is a
    /// conservative final carry, and the body's outputs at C a conservative output for every
    /// step (and its interactions, with `pairs`, contain every step's). `nil` when it does not
    /// converge within the budget.
    mutating func fixedPoint(_ node: Node, _ f: Function, _ s: ScanSignature, _ body: Function, _ operands: [DependencySets?],
                             _ types: [TensorType]) throws(SparsityError) -> [DependencySets]? {
        let bodyCost = Swift.max(1, body.totalNodeCount)
        func operand(_ k: Int) -> DependencySets { operands[k] ?? .empty(f.type(of: node.inputs[k]).count) }
        var rows: [Int: DependencySets] = [:]
        for k in s.overOperands {
            let shape = f.type(of: node.inputs[k]).shape
            rows[k] = try groupUnion(operand(k), axisGroups(shape, [0]))
        }
        var carries = (0..<s.carries).map(operand)
        let targets = body.outputs.map(\.value)
        for _ in 0..<256 {
            guard unrollBudget >= bodyCost else { return nil }
            unrollBudget -= bodyCost
            var seeds: [ValueID: DependencySets] = [:]
            if s.indexed { seeds[body.parameters[0].value] = .empty(1) }
            for k in 0..<s.operandCount {
                let p = body.parameters[s.parameter(ofOperand: k)].value
                seeds[p] = s.carryOperands.contains(k) ? carries[k] : rows[k] ?? operand(k)
            }
            depth += 1
            defer { depth -= 1 }
            let outs = try run(body, seeds: seeds, start: 0, targets: targets)
            var grown = false
            for j in 0..<s.carries {
                let next = try unionOf([(carries[j], nil), (outs[j], nil)], count: carries[j].count)
                if !sameSets(next, carries[j]) {
                    grown = true
                    carries[j] = next
                }
            }
            guard grown else {
                var values = carries
                for j in s.carries..<outs.count {
                    let total = types[j].count
                    let per = Swift.max(1, outs[j].count)
                    values.append(outs[j].remapped((0..<total).map { $0 % per }))
                }
                return values
            }
        }
        return nil
    }

    /// Whether every element of `a` and `b` has the same set.
    func sameSets(_ a: DependencySets, _ b: DependencySets) -> Bool {
        guard a.count == b.count else { return false }
        for e in 0..<a.count {
            let (ra, rb) = (a.range(a.setID(e)), b.range(b.setID(e)))
            guard ra.count == rb.count else { return false }
            if !zip(a.indices[ra], b.indices[rb]).allSatisfy({ $0 == $1 }) { return false }
        }
        return true
    }

    // MARK: Building blocks

    /// The values of an index operand when they are known: a `const` node, or (in the outer
    /// function) a value the caller gave.
    func indexValues(_ f: Function, _ id: ValueID) -> [Int64]? {
        if depth == 0, let known = knownIndices[id], known.count == f.type(of: id).count { return known }
        return constantIndices(f, id)
    }

    /// Every element depends on everything any operand depends on.
    mutating func everything(_ node: Node, _ operands: [DependencySets?], _ count: Int, emit: Bool) throws(SparsityError) -> DependencySets {
        let all = try collapseAll(operands.compactMap { $0 })
        if emit { try emitSquares(all) }
        return all.remapped([Int](repeating: 0, count: count))
    }

    /// One element: the union of all the sets of all the values.
    mutating func collapseAll(_ values: [DependencySets]) throws(SparsityError) -> DependencySets {
        var parts: [(DependencySets, [Int]?)] = []
        for d in values { parts.append((try collapse(d), nil)) }
        return try unionOf(parts, count: 1)
    }

    /// One element: the union of all of `d`'s sets.
    mutating func collapse(_ d: DependencySets) throws(SparsityError) -> DependencySets {
        try groupUnion(d, ([0], Array(0..<d.count)))
    }

    /// Element `e` gets the union of `parts[k]`'s element `source[e]` (`nil`: `e`) over k.
    mutating func unionOf(_ parts: [(DependencySets, [Int]?)], count: Int) throws(SparsityError) -> DependencySets {
        let live = parts.filter { !$0.0.isEmpty }
        if live.isEmpty { return .empty(count) }
        if live.count == 1 {
            let (d, s) = live[0]
            return s.map { d.remapped($0) } ?? d.resized(count)
        }
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        if live.count == 2 {
            // The common case (a binary op), without per-element arrays.
            let (a, b) = (live[0].0, live[1].0)
            let (ra, rb) = (a.ids, b.ids)
            let (sa, sb) = (live[0].1 ?? [], live[1].1 ?? [])
            let (mappedA, mappedB) = (live[0].1 != nil, live[1].1 != nil)
            var (lastA, lastB, lastOut): (Int32, Int32, Int32) = (-2, -2, -1)
            for e in 0..<count {
                let ia = ra[mappedA ? sa[e] : e], ib = rb[mappedB ? sb[e] : e]
                if ia != lastA || ib != lastB {
                    (lastA, lastB) = (ia, ib)
                    merge(a, ia, b, ib, into: &indices)
                    if indices.count == starts[starts.count - 1] {
                        lastOut = -1
                    } else {
                        starts.append(indices.count)
                        lastOut = Int32(starts.count - 2)
                        guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
                    }
                }
                table[e] = lastOut
            }
            return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
        }
        var previous = [Int32](repeating: -2, count: live.count)
        var current = previous
        var previousOut: Int32 = -1
        for e in 0..<count {
            for k in live.indices { current[k] = live[k].0.setID(live[k].1.map { $0[e] } ?? e) }
            if current == previous {
                table[e] = previousOut
                continue
            }
            swap(&current, &previous)
            union.begin()
            for k in live.indices { union.add(live[k].0, previous[k]) }
            union.finish(into: &indices)
            if indices.count == starts[starts.count - 1] {
                previousOut = -1
            } else {
                starts.append(indices.count)
                previousOut = Int32(starts.count - 2)
                guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
            }
            table[e] = previousOut
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// Appends the union of two sorted sets.
    func merge(_ a: DependencySets, _ ia: Int32, _ b: DependencySets, _ ib: Int32, into out: inout [Int32]) {
        let ra = a.range(ia), rb = b.range(ib)
        var i = ra.lowerBound, j = rb.lowerBound
        while i < ra.upperBound && j < rb.upperBound {
            let x = a.indices[i], y = b.indices[j]
            if x < y {
                out.append(x)
                i += 1
            } else if y < x {
                out.append(y)
                j += 1
            } else {
                out.append(x)
                i += 1
                j += 1
            }
        }
        while i < ra.upperBound {
            out.append(a.indices[i])
            i += 1
        }
        while j < rb.upperBound {
            out.append(b.indices[j])
            j += 1
        }
    }

    /// Group g is the elements `base[g] + offsets[r]` of `d`; the result has one element per
    /// group, its set the union of the group's.
    mutating func groupUnion(_ d: DependencySets, _ groups: (base: [Int], offsets: [Int])) throws(SparsityError) -> DependencySets {
        let n = groups.base.count
        if d.isEmpty || groups.offsets.isEmpty { return .empty(n) }
        if case .uniform(let s) = d.map { return DependencySets(starts: d.starts, indices: d.indices, map: .uniform(s), count: n) }
        if groups.offsets.count == 1 { return d.remapped(groups.base.map { $0 + groups.offsets[0] }) }
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: n)
        let ids = d.ids
        for g in 0..<n {
            union.begin()
            var last: Int32 = -2
            for o in groups.offsets {
                let id = ids[groups.base[g] + o]
                if id != last {
                    union.add(d, id)
                    last = id
                }
            }
            union.finish(into: &indices)
            if indices.count > starts[starts.count - 1] {
                starts.append(indices.count)
                table[g] = Int32(starts.count - 2)
                guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: n)
    }

    /// Element `e` gets the union over the parts of `members[starts[e] ..< starts[e+1]]`'s sets.
    mutating func unionOfLists(_ parts: [(DependencySets, [Int], [Int])], count: Int) throws(SparsityError) -> DependencySets {
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        for e in 0..<count {
            union.begin()
            for (d, s, m) in parts where !d.isEmpty {
                for k in s[e]..<s[e + 1] { union.add(d, d.setID(m[k])) }
            }
            union.finish(into: &indices)
            if indices.count > starts[starts.count - 1] {
                starts.append(indices.count)
                table[e] = Int32(starts.count - 2)
                guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// The elements of `d` grouped by `targets` (an output element per element, `-1`: none),
    /// as lists for `unionOfLists`.
    func listsByTarget(_ d: DependencySets, _ targets: [Int], count: Int) -> (DependencySets, [Int], [Int]) {
        var starts = [Int](repeating: 0, count: count + 1)
        for t in targets where t >= 0 { starts[t + 1] += 1 }
        for e in 0..<count { starts[e + 1] += starts[e] }
        var next = starts
        var members = [Int](repeating: 0, count: starts[count])
        for (u, t) in targets.enumerated() where t >= 0 {
            members[next[t]] = u
            next[t] += 1
        }
        return (d, starts, members)
    }

    /// The sets of several values placed at the given positions of one value of `count`
    /// elements (concat, a loop's stacked outputs); positions not given depend on nothing.
    func combine(_ parts: [(DependencySets, [Int])], count: Int) -> DependencySets {
        let live = parts.filter { !$0.0.isEmpty }
        if live.isEmpty { return .empty(count) }
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        for (d, positions) in live {
            let base = Int32(starts.count - 1)
            for s in 0..<d.setCount {
                indices.append(contentsOf: d.indices[d.starts[s]..<d.starts[s + 1]])
                starts.append(indices.count)
            }
            for (e, p) in positions.enumerated() {
                let id = d.setID(e)
                if id >= 0 { table[p] = base + id }
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// The running union along `axis` (cumsum): element p of a line depends on elements
    /// 0…p (p…n−1 when `reverse`).
    mutating func cumulative(_ d: DependencySets, _ shape: [Int], axis: Int, reverse: Bool) throws(SparsityError) -> DependencySets {
        let count = shape.reduce(1, *)
        if d.isEmpty { return .empty(count) }
        let (base, offsets) = axisGroups(shape, [axis])
        let order = reverse ? Array(offsets.reversed()) : offsets
        var starts = [0]
        var indices: [Int32] = []
        var table = [Int32](repeating: -1, count: count)
        for b in base {
            union.begin()
            var current: Int32 = -1
            for o in order {
                let id = d.setID(b + o)
                let before = union.collected.count
                union.add(d, id)
                if union.collected.count > before {
                    union.finish(into: &indices)
                    starts.append(indices.count)
                    current = Int32(starts.count - 2)
                    guard indices.count <= limit else { throw .tooManyNonZeros(limit: limit) }
                }
                table[b + o] = current
            }
        }
        return DependencySets(starts: starts, indices: indices, map: .table(table), count: count)
    }

    /// out[b, i, j] depends on row i of A[b] and column j of B[b] (batch dimensions broadcast).
    mutating func matmul(_ a: DependencySets, _ aShape: [Int], _ b: DependencySets, _ bShape: [Int], _ outShape: [Int],
                         emit: Bool) throws(SparsityError) -> DependencySets {
        let (ra, rb) = (aShape.count, bShape.count)
        let (m, k, n) = (aShape[ra - 2], aShape[ra - 1], bShape[rb - 1])
        let batch = Array(outShape.dropLast(2))
        let aBatch = broadcastIndexMap(from: Array(aShape.dropLast(2)), to: batch)
        let bBatch = broadcastIndexMap(from: Array(bShape.dropLast(2)), to: batch)
        if emit {
            // A[b, i, κ]·B[b, κ, j] for every i, j: the union over i times the union over j.
            let aColumns = try groupUnion(a, axisGroups(aShape, [ra - 2]))
            let bRows = try groupUnion(b, axisGroups(bShape, [rb - 1]))
            var seen = Set<Int>()
            for (ab, bb) in zip(aBatch, bBatch) where seen.insert(ab * (bBatch.count + 1) + bb).inserted {
                for kk in 0..<k { try pairs?.add(aColumns, aColumns.setID(ab * k + kk), bRows, bRows.setID(bb * k + kk)) }
            }
        }
        let rowsOfA = try groupUnion(a, axisGroups(aShape, [ra - 1]))
        let columnsOfB = try groupUnion(b, axisGroups(bShape, [rb - 2]))
        let count = outShape.reduce(1, *)
        var aMap = [Int](repeating: 0, count: count), bMap = [Int](repeating: 0, count: count)
        var e = 0
        for t in aBatch.indices {
            for i in 0..<m {
                for j in 0..<n {
                    aMap[e] = aBatch[t] * m + i
                    bMap[e] = bBatch[t] * n + j
                    e += 1
                }
            }
        }
        return try unionOf([(rowsOfA, aMap), (columnsOfB, bMap)], count: count)
    }

    /// conv2d: out[n, o, p, q] depends on the window of x[n] under (p, q) (every channel)
    /// and on the kernel w[o].
    mutating func convolution(_ x: DependencySets, _ w: DependencySets, _ g: ConvGeometry, emit: Bool) throws(SparsityError) -> DependencySets {
        let map = g.columnIndexMap()
        let (positions, patch) = (g.positions, g.patch)
        let image = g.inChannels * g.height * g.width
        // Windows: for (n, pq), the input elements read.
        var starts = [0]
        var members: [Int] = []
        for n in 0..<g.batch {
            for pq in 0..<positions {
                for r in 0..<patch where map[r * positions + pq] >= 0 { members.append(n * image + map[r * positions + pq]) }
                starts.append(members.count)
            }
        }
        let windows = try unionOfLists([(x, starts, members)], count: g.batch * positions)
        // Kernels: for (o, pq), the taps w[o, r] that fall on the input (not on padding).
        var kStarts = [0]
        var kMembers: [Int] = []
        for o in 0..<g.outChannels {
            for pq in 0..<positions {
                for r in 0..<patch where map[r * positions + pq] >= 0 { kMembers.append(o * patch + r) }
                kStarts.append(kMembers.count)
            }
        }
        let kernels = try unionOfLists([(w, kStarts, kMembers)], count: g.outChannels * positions)
        if emit {
            // w[o, r] multiplies x[n, map[r, pq]] for every n and pq: per (o, r), w's set times
            // the union of what patch row r reads.
            var rowStarts = [0]
            var rowMembers: [Int] = []
            for r in 0..<patch {
                for n in 0..<g.batch {
                    for pq in 0..<positions where map[r * positions + pq] >= 0 { rowMembers.append(n * image + map[r * positions + pq]) }
                }
                rowStarts.append(rowMembers.count)
            }
            let read = try unionOfLists([(x, rowStarts, rowMembers)], count: patch)
            for o in 0..<g.outChannels {
                for r in 0..<patch { try pairs?.add(w, w.setID(o * patch + r), read, read.setID(r)) }
            }
        }
        let count = g.batch * g.outChannels * positions
        var xMap = [Int](repeating: 0, count: count), wMap = [Int](repeating: 0, count: count)
        var e = 0
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                for pq in 0..<positions {
                    xMap[e] = n * positions + pq
                    wMap[e] = o * positions + pq
                    e += 1
                }
            }
        }
        return try unionOf([(windows, xMap), (kernels, wMap)], count: count)
    }

    /// conv2d_input_grad(g, w): dx[n, c, h, w] = Σ g[n, o, p, q]·w[o, c, i, j] over the (i, j,
    /// p, q) whose window places (i, j) at (h, w): it depends on g[n, :, p, q] and w[:, c, i, j]
    /// for exactly those.
    mutating func transposedConvolution(_ g: DependencySets, _ w: DependencySets, _ geo: ConvGeometry, emit: Bool) throws(SparsityError) -> DependencySets {
        let map = geo.columnIndexMap()
        let (positions, patch) = (geo.positions, geo.patch)
        let image = geo.inChannels * geo.height * geo.width
        // For each input element of an image, the (patch row, position) pairs that read it.
        var counts = [Int](repeating: 0, count: image + 1)
        for k in map.indices where map[k] >= 0 { counts[map[k] + 1] += 1 }
        for e in 0..<image { counts[e + 1] += counts[e] }
        var next = counts
        var readers = [Int](repeating: 0, count: counts[image])
        for k in map.indices where map[k] >= 0 {
            readers[next[map[k]]] = k
            next[map[k]] += 1
        }
        // g over its channels per (n, pq); w over its outputs per patch row r.
        let gPositions = try groupUnion(g, axisGroups([geo.batch, geo.outChannels, positions], [1]))
        let wRows = try groupUnion(w, axisGroups([geo.outChannels, patch], [0]))
        var gStarts = [0], wStarts = [0]
        var gMembers: [Int] = [], wMembers: [Int] = []
        for n in 0..<geo.batch {
            for e in 0..<image {
                for k in readers[counts[e]..<counts[e + 1]] {
                    gMembers.append(n * positions + k % positions)
                    wMembers.append(k / positions)
                }
                gStarts.append(gMembers.count)
                wStarts.append(wMembers.count)
            }
        }
        if emit {
            // g[n, o, pq]·w[o, r]: per (o, r), w's set times the union of g[:, o, pq] over the
            // positions where patch row r reads the input.
            var starts = [0]
            var members: [Int] = []
            for o in 0..<geo.outChannels {
                for r in 0..<patch {
                    for n in 0..<geo.batch {
                        for pq in 0..<positions where map[r * positions + pq] >= 0 { members.append((n * geo.outChannels + o) * positions + pq) }
                    }
                    starts.append(members.count)
                }
            }
            let read = try unionOfLists([(g, starts, members)], count: geo.outChannels * patch)
            for k in 0..<(geo.outChannels * patch) { try pairs?.add(w, w.setID(k), read, read.setID(k)) }
        }
        return try unionOfLists([(gPositions, gStarts, gMembers), (wRows, wStarts, wMembers)], count: geo.batch * image)
    }

    /// conv2d_kernel_grad(x, g): dw[o, r] = Σ_{n, pq} g[n, o, pq]·x[n, map[r, pq]] over the
    /// positions pq where patch row r = (c, i, j) reads the input (not padding).
    mutating func kernelGradient(_ x: DependencySets, _ g: DependencySets, _ geo: ConvGeometry, emit: Bool) throws(SparsityError) -> DependencySets {
        let map = geo.columnIndexMap()
        let (positions, patch) = (geo.positions, geo.patch)
        let image = geo.inChannels * geo.height * geo.width
        var xStarts = [0], gStarts = [0]
        var xMembers: [Int] = [], gMembers: [Int] = []
        for r in 0..<patch {
            for n in 0..<geo.batch {
                for pq in 0..<positions where map[r * positions + pq] >= 0 { xMembers.append(n * image + map[r * positions + pq]) }
            }
            xStarts.append(xMembers.count)
        }
        for o in 0..<geo.outChannels {
            for r in 0..<patch {
                for n in 0..<geo.batch {
                    for pq in 0..<positions where map[r * positions + pq] >= 0 { gMembers.append((n * geo.outChannels + o) * positions + pq) }
                }
                gStarts.append(gMembers.count)
            }
        }
        let read = try unionOfLists([(x, xStarts, xMembers)], count: patch)
        let cotangents = try unionOfLists([(g, gStarts, gMembers)], count: geo.outChannels * patch)
        if emit {
            // Per image and output channel: all of g[n, o] with all of x[n] (conservative).
            let gImages = try groupUnion(g, axisGroups([geo.batch, geo.outChannels, positions], [2]))
            let xImages = try groupUnion(x, axisGroups([geo.batch, image], [1]))
            for n in 0..<geo.batch {
                for o in 0..<geo.outChannels { try pairs?.add(gImages, gImages.setID(n * geo.outChannels + o), xImages, xImages.setID(n)) }
            }
        }
        let count = geo.outChannels * patch
        return try unionOf([(read, (0..<count).map { $0 % Swift.max(patch, 1) }), (cotangents, nil)], count: count)
    }

    // MARK: Interactions

    /// S×S for every set S some element of `d` has (a nonlinear function of one operand).
    mutating func emitSquares(_ d: DependencySets) throws(SparsityError) {
        guard pairs != nil else { return }
        for s in d.usedSets() { try pairs?.add(d, s, d, s) }
    }

    /// D(a)[e] × D(b)[e] for every element e (a product of two operands).
    mutating func emitProducts(_ a: DependencySets, _ sa: [Int]?, _ b: DependencySets, _ sb: [Int]?, count: Int) throws(SparsityError) {
        guard pairs != nil, !a.isEmpty, !b.isEmpty else { return }
        var last: (Int32, Int32) = (-2, -2)
        let (ra, rb) = (a.ids, b.ids)
        let (ma, mb) = (sa ?? [], sb ?? [])
        for e in 0..<count {
            let ia = ra[sa == nil ? e : ma[e]], ib = rb[sb == nil ? e : mb[e]]
            if ia == last.0 && ib == last.1 { continue }
            last = (ia, ib)
            try pairs?.add(a, ia, b, ib)
        }
    }
}

// MARK: - Index maps

/// The groups of a reduction over `axes` of `shape`: group g (row-major over the kept axes)
/// is the elements `base[g] + offsets[r]`.
func axisGroups(_ shape: [Int], _ axes: [Int]) -> (base: [Int], offsets: [Int]) {
    let strides = rowMajorStrides(shape)
    let kept = shape.indices.filter { !axes.contains($0) }
    return (stridedIndexMap(shape: kept.map { shape[$0] }, strides: kept.map { strides[$0] }),
            stridedIndexMap(shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }))
}

/// For every element of `shape`, its group of a reduction over `axes` (row-major over the
/// kept axes).
func groupOfElement(_ shape: [Int], _ axes: [Int]) -> [Int] {
    let kept = shape.indices.filter { !axes.contains($0) }
    let keptStrides = rowMajorStrides(kept.map { shape[$0] })
    var strides = [Int](repeating: 0, count: shape.count)
    for (i, d) in kept.enumerated() { strides[d] = keptStrides[i] }
    return stridedIndexMap(shape: shape, strides: strides)
}

/// The values of an i64 index operand that is a `const` node (exact where doubles hold them).
func constantIndices(_ f: Function, _ id: ValueID) -> [Int64]? {
    let node = f.nodes[id]
    guard node.op == .const else { return nil }
    let count = node.type.count
    if let values = node.attrs.exactValues, values.count == count {
        return values.map { Int64(exactly: $0) ?? Int64.min }
    }
    if case .ints(let v)? = node.attrs[.values], v.count == count { return v.map { Int64($0) } }
    if let v = node.attrs.exactValue { return [Int64](repeating: Int64(exactly: v) ?? Int64.min, count: count) }
    if case .int(let v)? = node.attrs[.value] { return [Int64](repeating: Int64(v), count: count) }
    return nil
}
