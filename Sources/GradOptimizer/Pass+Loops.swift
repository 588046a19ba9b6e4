import GradIR

// Loops, seen from the function that runs them (docs/design-loops.md §5): a loop keeps only
// what its live values need — a carry that neither a live value nor another kept carry
// depends on, a per-step output no `result` reads, a sequence or invariant the kept outputs do
// not read are dropped — and the computation of its body that depends only on invariants and
// constants is hoisted out: computed once before the loop and passed in as a new invariant
// (the backward body of `x @ w` transposes `w` every step otherwise). The body's own passes
// run afterwards (`optimizeBodies`).

/// Prunes and hoists every `scan` of `f` (not inside bodies: each body is optimized as a
/// function, which runs this on its own loops). Returns whether anything changed.
func optimizeLoops(_ f: inout Function) throws(Diagnostic) -> Bool {
    var plans: [ValueID: LoopRewrite] = [:]
    var used: [ValueID: Set<Int>] = [:]
    for node in f.nodes where node.op == .result {
        if let loop = node.inputs.first, let k = node.attrs.int(.index) { used[loop, default: []].insert(k) }
    }
    for (id, node) in f.nodes.enumerated() where node.op == .scan {
        guard let s = try? ScanSignature(node.attrs, operandCount: node.inputs.count), s.body < f.bodies.count,
              let plan = LoopRewrite(f.bodies[s.body], s, used: used[id] ?? []) else { continue }
        plans[id] = plan
    }
    guard !plans.isEmpty else { return false }
    // Rebuild f: the hoisted nodes go right before their loop (their operands are earlier).
    var g = Function(name: f.name)
    g.location = f.location
    g.bodies = f.bodies
    var map = [ValueID](repeating: -1, count: f.nodes.count)
    var newIndex: [ValueID: [Int: Int]] = [:]  // loop → old value index → new
    for (id, node) in f.nodes.enumerated() {
        var copy = node
        for j in copy.inputs.indices {
            let v = copy.inputs[j]
            guard v >= 0, v < id, map[v] >= 0 else { throw Diagnostic(.other("optimizer: operand %\(v) of %\(id) is not an earlier value")) }
            copy.inputs[j] = map[v]
        }
        if let plan = plans[id] {
            let operands = Array(copy.inputs)
            let s = plan.signature
            // The hoisted nodes, on the loop's invariant operands.
            var hoisted = [ValueID: ValueID]()
            for (k, p) in plan.body.original.parameters.enumerated() where s.invariantOperands.contains(plan.operandOf[k] ?? -1) {
                if let o = plan.operandOf[k] { hoisted[p.value] = operands[o] }
            }
            for b in plan.hoistedNodes {
                var h = plan.body.original.nodes[b]
                for j in h.inputs.indices {
                    guard let v = hoisted[h.inputs[j]] else { throw Diagnostic(.other("optimizer: hoisted node %\(b) of a loop body has an operand that is not hoisted")) }
                    h.inputs[j] = v
                }
                h.location = node.location
                hoisted[b] = g.append(h)
            }
            var newOperands: [ValueID] = plan.keptOperands.map { operands[$0] }
            for b in plan.frontier {
                guard let v = hoisted[b] else { throw Diagnostic(.other("optimizer: hoisted value %\(b) is missing")) }
                newOperands.append(v)
            }
            g.bodies.append(plan.body.function)
            var attrs = plan.newSignature.attributes
            attrs[.body] = .int(g.bodies.count - 1)
            copy.inputs = Operands(newOperands)
            copy.attrs = attrs
            newIndex[id] = plan.newIndex
        } else if node.op == .result, let loop = node.inputs.first, let renumber = newIndex[loop], let k = node.attrs.int(.index) {
            guard let n = renumber[k] else { throw Diagnostic(.other("optimizer: a pruned loop value %\(id) is still read")) }
            copy.attrs[.index] = .int(n)
        }
        map[id] = g.append(copy)
    }
    for p in f.parameters { g.parameters.append(Parameter(name: p.name, value: map[p.value])) }
    for o in f.outputs { g.outputs.append(Output(name: o.name, value: map[o.value], pattern: o.pattern)) }
    f = g
    return true
}

/// What becomes of one loop: the operands it keeps, the body nodes it hoists, its new body.
private struct LoopRewrite {
    let signature: ScanSignature
    let newSignature: ScanSignature
    /// Old operand indices kept, in order (the hoisted values follow them as invariants).
    let keptOperands: [Int]
    /// Body nodes computed before the loop instead (in body order), and those of them the
    /// new body receives as parameters.
    let hoistedNodes: [ValueID]
    let frontier: [ValueID]
    /// The operand each body parameter receives (nil: the step number).
    let operandOf: [Int?]
    /// Old value index → new, for the values kept.
    let newIndex: [Int: Int]
    let body: (original: Function, function: Function)

    /// `nil` when the loop stays as it is.
    init?(_ b: Function, _ s: ScanSignature, used: Set<Int>) {
        signature = s
        let C = s.carries
        let n = b.nodes.count
        var operandOf = [Int?](repeating: nil, count: b.parameters.count)
        for k in 0..<s.operandCount { operandOf[s.parameter(ofOperand: k)] = k }
        self.operandOf = operandOf
        var isParameter = [Int?](repeating: nil, count: n)
        for (k, p) in b.parameters.enumerated() where p.value >= 0 && p.value < n { isParameter[p.value] = k }
        guard b.outputs.allSatisfy({ $0.value >= 0 && $0.value < n }), b.nodes.indices.allSatisfy({ i in b.nodes[i].inputs.allSatisfy { $0 >= 0 && $0 < i } }) else { return nil }

        // Invariant nodes: computed from invariants and constants only (not loops, not
        // derivative requests); hoisting moves the non-constant ones.
        var invariant = [Bool](repeating: false, count: n)
        for i in 0..<n {
            let node = b.nodes[i]
            if let k = isParameter[i] {
                invariant[i] = operandOf[k].map { s.invariantOperands.contains($0) } ?? false
            } else if node.op == .const {
                invariant[i] = true
            } else if node.op.family != .loop, node.op.family != .derivative, node.op != .input, !mayFail(node.op) {
                invariant[i] = node.inputs.allSatisfy { invariant[$0] }
            }
        }
        func hoistable(_ i: Int) -> Bool { invariant[i] && isParameter[i] == nil && b.nodes[i].op != .const }

        // Outputs kept: per-step outputs read, final carries read, carries a kept value needs
        // (to a fixpoint), the gate's carry.
        var keptOutputs = Set(used.filter { $0 >= C && $0 < b.outputs.count })
        for j in 0..<C where used.contains(j) || s.gate == j { keptOutputs.insert(j) }
        var reached = [Bool](repeating: false, count: n)
        var changed = true
        while changed {
            changed = false
            reached = [Bool](repeating: false, count: n)
            var stack = keptOutputs.map { b.outputs[$0].value }
            while let v = stack.popLast() {
                if reached[v] { continue }
                reached[v] = true
                stack.append(contentsOf: b.nodes[v].inputs)
            }
            for j in 0..<C where !keptOutputs.contains(j) && reached[b.parameters[s.parameter(ofOperand: j)].value] {
                keptOutputs.insert(j)
                changed = true
            }
        }
        // Operands kept: kept carries, sequences and invariants a kept output reads (the gate).
        var keptOperands: [Int] = []
        for k in 0..<s.operandCount {
            let p = b.parameters[s.parameter(ofOperand: k)].value
            let keep = s.carryOperands.contains(k) ? keptOutputs.contains(k) : (reached[p] || s.gate == k)
            if keep { keptOperands.append(k) }
        }
        // Hoisting: the hoistable nodes a kept output needs, and the frontier — those read by a
        // node that stays, or returned.
        var stays = [Bool](repeating: false, count: n)
        var inFrontier = [Bool](repeating: false, count: n)
        var stack = keptOutputs.map { b.outputs[$0].value }
        for o in keptOutputs where hoistable(b.outputs[o].value) && !inFrontier[b.outputs[o].value] {
            inFrontier[b.outputs[o].value] = true
        }
        while let v = stack.popLast() {
            if hoistable(v) || stays[v] { continue }
            stays[v] = true
            for i in b.nodes[v].inputs {
                if hoistable(i) { inFrontier[i] = true }
                stack.append(i)
            }
        }
        let frontier = (0..<n).filter { inFrontier[$0] }
        // Everything a frontier node needs is hoisted with it.
        var hoisted = [Bool](repeating: false, count: n)
        var hstack = frontier
        while let v = hstack.popLast() {
            if hoisted[v] || !hoistable(v) { continue }
            hoisted[v] = true
            for i in b.nodes[v].inputs where hoistable(i) || b.nodes[i].op == .const { hstack.append(i) }
        }
        // Constants a hoisted node reads are copied out too (they stay in the body if it uses them).
        for v in 0..<n where hoisted[v] && b.nodes[v].op != .const {
            for i in b.nodes[v].inputs where b.nodes[i].op == .const { hoisted[i] = true }
        }
        let hoistedNodes = (0..<n).filter { hoisted[$0] }
        let prunes = keptOperands.count < s.operandCount || keptOutputs.count < b.outputs.count
        guard prunes || !frontier.isEmpty else { return nil }
        self.keptOperands = keptOperands
        self.frontier = frontier
        self.hoistedNodes = hoistedNodes

        // The new body: (step?, kept carries, kept rows, kept invariants, hoisted values).
        var parameters: [(name: String, node: ValueID)] = []
        if s.indexed { parameters.append((b.parameters[0].name, b.parameters[0].value)) }
        for k in keptOperands { parameters.append((b.parameters[s.parameter(ofOperand: k)].name, b.parameters[s.parameter(ofOperand: k)].value)) }
        var names = Set(b.parameters.map(\.name))
        for v in frontier {
            var name = "hoisted\(v)"
            while names.contains(name) { name += "_" }
            names.insert(name)
            parameters.append((name, v))
        }
        let outputs = (0..<b.outputs.count).filter { keptOutputs.contains($0) }
        guard let function = restrictedCopy(b, parameters: parameters, outputs: outputs) else { return nil }
        body = (b, function)
        var newIndex: [Int: Int] = [:]
        for (new, old) in outputs.enumerated() { newIndex[old] = new }
        self.newIndex = newIndex
        let carries = keptOperands.filter { s.carryOperands.contains($0) }.count
        let over = keptOperands.filter { s.overOperands.contains($0) }.count
        let invariants = keptOperands.count - carries - over + frontier.count
        newSignature = ScanSignature(body: 0, carries: carries, over: over, invariants: invariants, length: s.length,
                                     reverse: s.reverse, indexed: s.indexed, gate: s.gate.flatMap { g in keptOperands.firstIndex(of: g) })
    }
}

/// Ops that can fail at run time (an index out of range): not hoisted, since a loop that runs
/// no step, or a `while` whose condition fails at once, must not fail on them.
private func mayFail(_ op: Op) -> Bool {
    switch op {
    case .take, .take_along_axis, .scatter_add, .scatter_add_along_axis: return true
    default: return false
    }
}

/// A copy of `b` taking `parameters` — each one of b's parameter nodes or one of its other
/// nodes, which becomes a parameter — and returning b's outputs `outputs`, with only the nodes
/// those outputs need. `nil` if an output needs a node that is not given (a dropped parameter).
private func restrictedCopy(_ b: Function, parameters: [(name: String, node: ValueID)], outputs: [Int]) -> Function? {
    var g = Function(name: b.name)
    g.location = b.location
    g.bodies = b.bodies
    var map = [ValueID](repeating: -1, count: b.nodes.count)
    for p in parameters { map[p.node] = g.addParameter(p.name, b.type(of: p.node), at: b.nodes[p.node].location) }
    var needed = [Bool](repeating: false, count: b.nodes.count)
    var stack = outputs.map { b.outputs[$0].value }
    while let v = stack.popLast() {
        if needed[v] { continue }
        needed[v] = true
        if map[v] >= 0 { continue }
        stack.append(contentsOf: b.nodes[v].inputs)
    }
    for i in b.nodes.indices where needed[i] && map[i] < 0 {
        guard b.nodes[i].op != .input else { return nil }
        var copy = b.nodes[i]
        for j in copy.inputs.indices {
            guard map[copy.inputs[j]] >= 0 else { return nil }
            copy.inputs[j] = map[copy.inputs[j]]
        }
        map[i] = g.append(copy)
    }
    for o in outputs { g.outputs.append(Output(name: b.outputs[o].name, value: map[b.outputs[o].value])) }
    return g
}
