
// Loops: a `scan`'s body propagated step by step, or to a fixed point of its carries.

extension Propagator {
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
        let huge = types.contains { $0.count > limit } || node.inputs.contains { f.type(of: $0).count > limit }
        guard !overflow, cost <= unrollBudget, !huge else {
            if !huge, let values = try fixedPoint(node, f, s, body, operands, types) { return values }
            let all = try collapseAll(node.inputs.indices.map(operand))
            if emit { try emitSquares(all) }
            return types.map { uniformly(all, count: $0.count) }
        }
        unrollBudget -= cost
        let (emitInBody, neededInBody) = bodyAnalysis(body)
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
            // The step number is known when unrolled: `take(x, i)` in a `fori` is exact per step.
            let step: [ValueID: [Int64]] = s.indexed ? [body.parameters[0].value: [Int64(t)]] : [:]
            let outs = try run(body, seeds: seeds, start: 0, targets: targets, emit: emitInBody, needed: neededInBody, knownIndices: step)
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
        let (emitInBody, neededInBody) = bodyAnalysis(body)
        for _ in 0..<256 {
            guard unrollBudget >= bodyCost else { return nil }
            unrollBudget -= bodyCost
            var seeds: [ValueID: DependencySets] = [:]
            if s.indexed { seeds[body.parameters[0].value] = .empty(1) }
            for k in 0..<s.operandCount {
                let p = body.parameters[s.parameter(ofOperand: k)].value
                seeds[p] = s.carryOperands.contains(k) ? carries[k] : rows[k] ?? operand(k)
            }
            let outs = try run(body, seeds: seeds, start: 0, targets: targets, emit: emitInBody, needed: neededInBody)
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

    /// For a Hessian, the body's nodes that record interactions and need sets: those on a path
    /// with non-zero derivatives to the body's outputs (a `while` condition's arithmetic, which
    /// only feeds the bool gate, adds nothing). For a Jacobian, every node.
    func bodyAnalysis(_ body: Function) -> (emit: [Bool]?, needed: [Bool]?) {
        guard pairs != nil else { return (nil, nil) }
        let (emit, needed) = Propagator.interactionAnalysis(body, roots: body.outputs.map(\.value), rootsNeeded: true, from: 0)
        return (emit, needed)
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
}
