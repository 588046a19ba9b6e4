/// The differentiation pass: expands every `grad`, `jacobian` and `hessian` request of a
/// function into ordinary nodes appended to the same graph (the Theano approach), so the
/// derivative can be printed, optimized, differentiated again and compiled like any other value.
///
/// Reverse mode, as the lecture notes teach backpropagation: seed the output with 1, visit the
/// nodes from the output back to the inputs, and at each node turn its incoming gradient into
/// one gradient per operand with the op's vector–Jacobian product (`vjp`). Where a value fans
/// out, the incoming gradients are summed with `add`. Requests are expanded in node order, so
/// a request whose `y` contains an already-expanded request (nesting) differentiates the
/// expanded nodes: second and higher derivatives come for free.
public enum Differentiator {
    /// Expands the derivative requests of every function of `module`.
    public static func expand(_ module: consuming Module) throws(Diagnostic) -> Module {
        var functions = module.functions
        module.functions = []
        for i in functions.indices {
            // Moved out and back, so each function's node array is passed on uniquely owned.
            var f = Function(name: "")
            swap(&f, &functions[i])
            functions[i] = try expand(consume f)
        }
        module.functions = functions
        return module
    }

    /// Expands the derivative requests of `function`. Node roles mark the appended nodes
    /// as `.gradient`.
    ///
    /// The nodes before the first request are the new graph's too: when the caller hands over
    /// the function (its last use), they stay where they are and the gradient is appended.
    public static func expand(_ function: consuming Function) throws(Diagnostic) -> Function {
        // A loop body's own requests first (innermost first): a loop's derivative is built
        // from its body, which must be request-free by then.
        // The bodies as they were typed: a sparse request's pattern is computed on them.
        let typedBodies = function.bodies
        if function.bodies.contains(where: \.hasDerivativeRequestsAnywhere) {
            var bodies: [Function] = []
            for body in function.bodies { bodies.append(try expand(body)) }
            function.bodies = bodies
        }
        guard function.hasDerivativeRequests else { return function }
        var expansion = Expansion(source: consume function, typedBodies: typedBodies)
        return try expansion.run()
    }
}

/// Largest `jacobian` / `hessian` expansion: at most this many elements in the result and in
/// the one-hot seeds of its backward passes (2²⁴, 128 MiB of f64). A larger request is refused
/// with a located error before any node is built (`hessian(f, x)` of an `f64[100000]` x would
/// need 10¹⁰ elements).
public let maxJacobianElements = 1 << 24

/// State of one expansion: the new graph being built and the map from old to new values.
struct Expansion {
    /// The source's parameters and outputs (its nodes are split between `builder` and `rest`).
    let source: Function
    /// The source's nodes from the first derivative request on, the first being `restStart`.
    let rest: [Node]
    let restStart: Int
    var builder: GraphBuilder
    /// New value of each old node.
    var remap: [ValueID]
    /// Results of `grad` (`jvp`) requests already computed together with an earlier one of the
    /// same y (the same tangents), by position in `rest` (−1: none).
    var pending: [ValueID]
    /// Scalar constants shared by every rule of every backward pass of this expansion.
    var constants = ConstantPool()
    /// The carry tape added to each forward loop that a backward pass went through
    /// (`tapeOfCarries`), by the loop's id.
    var tapes: [ValueID: [ValueID]] = [:]
    /// The source graph as it was, for the patterns of sparse requests (computed on the same
    /// nodes as their type was); kept only when there is a sparse request.
    var sourceForPatterns: Function?
    /// The pattern of each sparse request expanded, by its source id (for the outputs).
    var requestPatterns: [ValueID: SparsityPattern] = [:]

    init(source: consuming Function, typedBodies: [Function]? = nil) {
        // Up to the first derivative request the new graph is the old one, id for id: those
        // nodes are taken over (moved, not copied, when the array is not shared), the rest is
        // kept aside and rebuilt. (The parameter list is the source's, renumbered, at the end.)
        var nodes = source.nodes
        source.nodes = []
        let firstRequest = nodes.firstIndex { $0.op.isDerivativeRequest } ?? nodes.count
        let total = nodes.count
        rest = Array(nodes[firstRequest...])
        if rest.contains(where: { $0.op.family == .derivative && $0.attrs.sparse }) {
            var view = Function(name: source.name)
            view.nodes = nodes
            view.bodies = typedBodies ?? source.bodies
            sourceForPatterns = view
        }
        restStart = firstRequest
        // Room for gradient nodes: an array that grew by doubling often has it already (then
        // nothing moves); else room for as many gradient nodes as forward ones is reserved at
        // once, not a doubling at a time (and before the rest is cut off, so a shared array
        // is copied once).
        if nodes.capacity < total + total / 2 { nodes.reserveCapacity(2 * total + 16) }
        nodes.removeSubrange(firstRequest...)
        var f = Function(name: source.name)
        f.location = source.location
        f.nodes = nodes
        f.bodies = source.bodies  // loop bodies (issue 15) are kept as they are
        self.source = source
        self.builder = GraphBuilder(f)
        self.remap = []
        self.remap.reserveCapacity(total)
        self.remap.append(contentsOf: 0..<firstRequest)
        self.pending = [ValueID](repeating: -1, count: rest.count)
    }

    /// Node `id` of the source, for ids from `restStart` on.
    func sourceNode(_ id: ValueID) -> Node { rest[id - restStart] }

    mutating func run() throws(Diagnostic) -> Function {
        // Old `grad` nodes grouped by their y, so one backward pass serves `grad(y, x1, x2, …)`.
        var gradsByY: [ValueID: [ValueID]] = [:]
        for (k, node) in rest.enumerated() where node.op == .grad {
            gradsByY[node.inputs[0], default: []].append(restStart + k)
        }
        // Old `jvp` nodes grouped by their (x, v) pairs, so one tangent pass serves every y.
        var jvpsByPairs: [[ValueID]: [ValueID]] = [:]
        for (k, node) in rest.enumerated() where node.op == .jvp {
            jvpsByPairs[Array(node.inputs.dropFirst()), default: []].append(restStart + k)
        }
        for id in restStart..<(restStart + rest.count) {
            let node = sourceNode(id)
            builder.location = node.location
            switch node.op {
            case .input:
                remap.append(builder.function.append(node))  // named by the parameter list below
            case .grad:
                if pending[id - restStart] >= 0 {
                    remap.append(pending[id - restStart])
                    continue
                }
                // Every request on the same y whose x already exists shares this backward pass;
                // an x defined later cannot be an ancestor of y, so its gradient is zero anyway.
                let group = (gradsByY[node.inputs[0]] ?? [id]).filter { sourceNode($0).inputs[1] < id }
                let y = remap[node.inputs[0]]
                let xs = group.map { remap[sourceNode($0).inputs[1]] }
                let grads = try gradients(of: y, wrt: xs)
                for (old, g) in zip(group, grads) where old != id {
                    pending[old - restStart] = g
                }
                remap.append(grads[group.firstIndex(of: id) ?? 0])
            case .jvp:
                if pending[id - restStart] >= 0 {
                    remap.append(pending[id - restStart])
                    continue
                }
                // The later requests with the same pairs whose y already exists share this pass.
                let pairs = Array(node.inputs.dropFirst())
                let group = (jvpsByPairs[pairs] ?? [id]).filter { $0 == id || ($0 > id && sourceNode($0).inputs[0] < id) }
                let xs = stride(from: 0, to: pairs.count, by: 2).map { remap[pairs[$0]] }
                let vs = stride(from: 1, to: pairs.count, by: 2).map { remap[pairs[$0]] }
                let ts = try tangents(of: group.map { remap[sourceNode($0).inputs[0]] }, wrt: xs, along: vs)
                for (old, t) in zip(group, ts) where old != id { pending[old - restStart] = t }
                remap.append(ts[0])
            case .hvp:
                // Forward over reverse: the tangent of the gradient along v.
                let x = remap[node.inputs[1]]
                let g = try gradients(of: remap[node.inputs[0]], wrt: [x])[0]
                builder.location = node.location
                remap.append(try tangents(of: [g], wrt: [x], along: [remap[node.inputs[2]]])[0])
            case .jacobian where node.attrs.sparse, .hessian where node.attrs.sparse:
                let pattern = try patternOfRequest(node)
                requestPatterns[id] = pattern
                remap.append(try node.op == .jacobian ? sparseJacobian(node, pattern: pattern) : sparseHessian(node, pattern: pattern))
            case .jacobian:
                let (y, x) = (remap[node.inputs[0]], remap[node.inputs[1]])
                remap.append(try jacobianIsForward(node, y: y, x: x) ? forwardJacobian(of: y, wrt: x) : jacobian(of: y, wrt: x))
            case .hessian:
                let x = remap[node.inputs[1]]
                let g = try gradients(of: remap[node.inputs[0]], wrt: [x])[0]
                builder.location = node.location
                remap.append(try jacobian(of: g, wrt: x))
            default:
                var copy = node
                for k in copy.inputs.indices { copy.inputs[k] = remap[copy.inputs[k]] }
                remap.append(builder.function.append(copy))
            }
        }
        // Keep the declared parameter order (the ABI), which need not be node order.
        builder.function.parameters = source.parameters.map { Parameter(name: $0.name, value: remap[$0.value]) }
        builder.function.outputs = source.outputs.map { Output(name: $0.name, value: remap[$0.value], pattern: $0.pattern ?? requestPatterns[$0.value]) }
        return builder.function
    }

    // MARK: Reverse sweep

    /// d y / d x for each x, y a scalar: one backward pass seeded with 1.
    mutating func gradients(of y: ValueID, wrt xs: [ValueID]) throws(Diagnostic) -> [ValueID] {
        let saved = builder.role
        builder.role = .gradient
        defer { builder.role = saved }
        let yType = builder.type(of: y)
        let seed = yType.isScalar ? try constants.scalar(1, yType.dtype, &builder) : try builder.constant(1, yType)
        return try backward(from: y, seed: seed, wrt: xs, relevant: relevantNodes(from: y, wrt: xs))
    }

    /// The Jacobian of `y` (any shape) with respect to `x`: one backward pass per element of
    /// `y`, seeded with a one-hot tensor, stacked into shape `y.shape + x.shape`.
    mutating func jacobian(of y: ValueID, wrt x: ValueID) throws(Diagnostic) -> ValueID {
        let saved = builder.role
        builder.role = .gradient
        defer { builder.role = saved }
        let yType = builder.type(of: y)
        let xType = builder.type(of: x)
        let relevant = relevantNodes(from: y, wrt: [x])
        if yType.isScalar {
            let seed = try constants.scalar(1, yType.dtype, &builder)
            return try backward(from: y, seed: seed, wrt: [x], relevant: relevant)[0]
        }
        // One backward pass per element of y, each seeded with a one-hot constant: y.count²
        // seed elements and y.count · x.count result elements. Refused before building any.
        let (seedElements, o1) = yType.count.multipliedReportingOverflow(by: yType.count)
        let (resultElements, o2) = yType.count.multipliedReportingOverflow(by: xType.count)
        guard !o1, !o2, seedElements <= maxJacobianElements, resultElements <= maxJacobianElements else {
            throw Diagnostic(.other("the Jacobian of a \(yType) value with respect to \(xType) is too large to expand: \(yType.count) backward passes and \(yType.count) × \(xType.count) elements (at most \(maxJacobianElements)); differentiate a smaller value or use grad of a scalar"),
                             at: builder.location)
        }
        var rows: [ValueID] = []
        for i in 0..<yType.count {
            var attrs = Attributes()
            attrs[.dtype] = .dtype(yType.dtype)
            attrs[.shape] = .ints(yType.shape)
            var values = [Double](repeating: 0, count: yType.count)
            values[i] = 1
            attrs[.values] = .floats(values)
            let seed = try builder.add(.const, [], attrs)
            let row = try backward(from: y, seed: seed, wrt: [x], relevant: relevant)[0]
            rows.append(try builder.reshape(row, [1] + xType.shape))
        }
        // An empty y has an empty Jacobian (no rows to stack).
        if rows.isEmpty { return try builder.constant(0, TensorType(yType.dtype, yType.shape + xType.shape)) }
        let stacked = rows.count == 1 ? rows[0] : try builder.add(.concat, rows, Attributes([.axis: .int(0)]))
        return try builder.reshape(stacked, yType.shape + xType.shape)
    }

    /// Marks the nodes on a path from some `x` to some `y`: only their derivatives are built.
    func relevantNodes(from y: ValueID, wrt xs: [ValueID]) -> Relevance { relevantNodes(from: [y], wrt: xs) }

    func relevantNodes(from ys: [ValueID], wrt xs: [ValueID]) -> Relevance {
        let highest = ys.max() ?? -1
        let lowest = max(0, min(xs.min() ?? highest, highest))
        let span = max(highest - lowest + 1, 0)
        var dependsOnX = [Bool](repeating: false, count: span)
        for x in xs where x >= lowest && x <= highest { dependsOnX[x - lowest] = true }
        var relevant = [Bool](repeating: false, count: span)
        // Through the storage, operand by operand (a million nodes, two passes). Ids below
        // `lowest` cannot depend on an x.
        builder.function.nodes.withUnsafeBufferPointer { nodes in
            func depends(_ id: ValueID) -> Bool { id >= lowest && dependsOnX[id - lowest] }
            for id in stride(from: lowest, through: highest, by: 1) where !dependsOnX[id - lowest] {
                for k in 0..<nodes[id].inputs.count where depends(nodes[id].inputs[k]) {
                    dependsOnX[id - lowest] = true
                    break
                }
            }
            for y in ys where y >= lowest && dependsOnX[y - lowest] { relevant[y - lowest] = true }
            for id in stride(from: highest, through: lowest, by: -1) where relevant[id - lowest] {
                for k in 0..<nodes[id].inputs.count where depends(nodes[id].inputs[k]) {
                    relevant[nodes[id].inputs[k] - lowest] = true
                }
            }
        }
        return Relevance(lowest: lowest, flags: relevant)
    }

    /// Propagates `seed` from `y` back through the relevant nodes, summing the gradients
    /// that meet at a value, and returns the gradient of each `x` (zeros if disconnected).
    mutating func backward(from y: ValueID, seed: ValueID, wrt xs: [ValueID], relevant: Relevance) throws(Diagnostic) -> [ValueID] {
        let reached = try backward(seeds: [(y, seed)], wrt: xs, relevant: relevant)
        var result: [ValueID] = []
        result.reserveCapacity(xs.count)
        for (x, g) in zip(xs, reached) {
            if let g { result.append(g) } else { result.append(try builder.zeros(like: x)) }
        }
        return result
    }

    /// The reverse sweep: propagates each seed from its value back through the relevant
    /// nodes, summing the gradients that meet at a value, and returns the gradient reaching
    /// each `x` (`nil`: none, the x is off every path).
    ///
    /// Gradients meeting at a value are summed as they arrive, left to right in arrival order
    /// (`(g₁ + g₂) + g₃`), so no list of parts is kept per value — except for a value read by
    /// slices, whose gradients arrive as `pad`s of the value's full size: those parts are kept
    /// (`PadParts`) and, when many pads meet, summed by one `scatter_add` of their elements
    /// instead of one full-size add per read (reading k of n elements costs O(k), not O(n);
    /// an element-by-element model reading each of n elements was O(n²)).
    mutating func backward(seeds: [(value: ValueID, seed: ValueID)], wrt xs: [ValueID], relevant: Relevance) throws(Diagnostic) -> [ValueID?] {
        // The gradient reaching each value in lowest...y so far (−1: none yet), indexed by
        // id − lowest (an array, not a dictionary: the ids in that range are dense).
        let y = seeds.map(\.value).max() ?? -1
        let lowest = max(xs.min() ?? y, 0)
        let span = max(y - lowest + 1, 0)
        var reaching = [ValueID](repeating: -1, count: span)
        for (value, seed) in seeds where value >= lowest && value <= y {
            let slot = value - lowest
            if reaching[slot] < 0 { reaching[slot] = seed } else { reaching[slot] = try builder.binary(.add, reaching[slot], seed) }
        }
        var padded: [Int: PadParts] = [:]
        var loopCotangents: [ValueID: [ValueID?]] = [:]  // reaching each loop's results, by result index
        var id = y
        while id >= lowest {
            defer { id -= 1 }
            guard relevant[id] else { continue }
            if let parts = padded.removeValue(forKey: id - lowest) { reaching[id - lowest] = try parts.sum(&builder) }
            let g = reaching[id - lowest]
            let op = builder.function.nodes[id].op
            if op == .result {
                // A loop's values: their cotangents go to the loop's rule together.
                let node = builder.function.nodes[id]
                if g >= 0, let k = node.attrs.int(.index), k >= 0 {
                    var list = loopCotangents[node.inputs[0]] ?? []
                    if list.count <= k { list += [ValueID?](repeating: nil, count: k + 1 - list.count) }
                    // Two `result`s of one value (canonical text may have them) add up.
                    if let earlier = list[k] { list[k] = try builder.binary(.add, earlier, g) } else { list[k] = g }
                    loopCotangents[node.inputs[0]] = list
                }
                continue
            }
            let loopSeeds = op == .scan ? loopCotangents.removeValue(forKey: id) : nil
            guard g >= 0 || loopSeeds != nil else { continue }
            let needs = OperandNeeds(operands: builder.function.nodes[id].inputs, relevant: relevant)
            guard needs.any else { continue }
            let node = builder.function.nodes[id]  // a copy: the rule appends to the array
            builder.location = node.location
            let cotangents: Cotangents
            if let loopSeeds {
                cotangents = try scanCotangents(id, loopSeeds, needs: needs)
            } else {
                cotangents = try vjp(node, id, g, needs: needs, &builder, &constants)
            }
            for k in 0..<min(node.inputs.count, cotangents.count) where needs[k] {
                let input = node.inputs[k]
                if let ct = cotangents[k], input >= lowest, input <= y {
                    let slot = input - lowest
                    if padded[slot] != nil {
                        padded[slot]?.append(ct, builder.function)
                    } else if PadParts.isScatterable(ct, builder.function) {
                        padded[slot] = PadParts(earlier: reaching[slot], pad: ct, builder.function)
                    } else {
                        let earlier = reaching[slot]
                        reaching[slot] = earlier < 0 ? ct : try builder.binary(.add, earlier, ct)
                    }
                }
            }
        }
        // A value's gradient is complete once the sweep has passed it (only later nodes add
        // to it), so each x's is what reached it; none reached an x off every path to y.
        for slot in padded.keys.sorted() { reaching[slot] = try padded[slot]?.sum(&builder) ?? reaching[slot] }
        return xs.map { x in x >= lowest && x <= y && reaching[x - lowest] >= 0 ? reaching[x - lowest] : nil }
    }
}

/// The nodes a derivative pass visits — on a path from some x to some y — for the ids from
/// `lowest` on (none below: they cannot depend on an x).
struct Relevance {
    let lowest: Int
    let flags: [Bool]

    subscript(id: ValueID) -> Bool {
        id >= lowest && id - lowest < flags.count && flags[id - lowest]
    }
}
