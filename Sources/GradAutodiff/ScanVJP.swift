/// The derivative of a loop is a loop (docs/design-loops.md §4). For a `scan` whose body is
/// `f(c, x_t, w) -> (c', y_t)`:
///
/// 1. The forward loop also stacks the carry at the start of every step (the tape): its body
///    gets the carry parameters as extra per-step outputs, so the forward loop runs once.
/// 2. The backward body is built by this same pass, from the function
///    `fb(ḡc, ḡw, c_t, x_t, ȳ_t, w) = (grad(L, c_t), ḡw + grad(L, w)), grad(L, x_t)` with
///    `L = Σ sum(zmul(ḡc, c')) + Σ sum(zmul(ȳ_t, y_t))` — linear in the cotangents, so it is the
///    body's vector–Jacobian product and can be differentiated again.
/// 3. The backward loop is a `scan` in the other direction over (the tape, the sequences, the
///    per-step cotangents) carrying (ḡc, the running sum of ḡw); its values are the cotangents
///    of the initial carries and of the invariants, and, stacked, of the sequences.
///
/// Only float values carry cotangents; an i64 or bool carry is taped (the body needs it) but
/// gets none.
extension Expansion {
    /// The cotangents of a `scan`'s operands, given those reaching its `result`s (`nil`: none).
    mutating func scanCotangents(_ id: ValueID, _ resultCotangents: [ValueID?], needs: OperandNeeds) throws(Diagnostic) -> Cotangents {
        let node = builder.function.nodes[id]
        let s = try ScanSignature(node.attrs, operandCount: node.inputs.count)
        let body = builder.function.bodies[s.body]
        let operand = Array(node.inputs)
        let outputCount = body.outputs.count - s.carries
        var isFloat: [Bool] = []
        for v in operand { isFloat.append(builder.dtype(of: v).isFloat) }
        let floatCarries = s.carryOperands.filter { isFloat[$0] }
        let floatInvariants = s.invariantOperands.filter { isFloat[$0] }
        let floatSequences = s.overOperands.filter { isFloat[$0] }
        // Per-step outputs whose stacked value gets a cotangent (the others add nothing to L).
        let seeds: [(output: Int, cotangent: ValueID)] = (0..<outputCount).compactMap { j in
            guard s.carries + j < resultCotangents.count, let ct = resultCotangents[s.carries + j],
                  body.type(of: body.outputs[s.carries + j].value).dtype.isFloat else { return nil }
            return (j, ct)
        }
        let seededOutputs = seeds.map(\.output)
        let anyCarrySeed = floatCarries.contains { $0 < resultCotangents.count && resultCotangents[$0] != nil }
        guard anyCarrySeed || !seededOutputs.isEmpty else { return Cotangents(none: node.inputs.count) }

        let tape = try tapeOfCarries(id, s, body)

        // The backward body, with the parameters in the backward loop's operand order.
        var fb = GraphBuilder(name: "\(body.name)_vjp")
        fb.function.bodies = body.bodies
        fb.location = body.location
        var bodyMap = [ValueID](repeating: -1, count: body.nodes.count)
        func parameter(_ name: String, _ type: TensorType) throws(Diagnostic) -> ValueID {
            try fb.parameter(name, type, nameIsUnique: true)
        }
        func bodyParameter(ofOperand k: Int) -> Parameter { body.parameters[s.parameter(ofOperand: k)] }
        if s.indexed { bodyMap[body.parameters[0].value] = try parameter("step", TensorType(.i64)) }
        var carryCotangent: [ValueID] = []
        for k in floatCarries { carryCotangent.append(try parameter("ct_\(k)", builder.type(of: operand[k]))) }
        var accumulated: [ValueID] = []
        for k in floatInvariants { accumulated.append(try parameter("acc_\(k)", builder.type(of: operand[k]))) }
        for k in s.carryOperands { bodyMap[bodyParameter(ofOperand: k).value] = try parameter("c_\(k)", builder.type(of: operand[k])) }
        for k in s.overOperands {
            let p = bodyParameter(ofOperand: k)
            bodyMap[p.value] = try parameter("x_\(k)", body.type(of: p.value))
        }
        var outputCotangent: [ValueID] = []
        for j in seededOutputs { outputCotangent.append(try parameter("ct_y\(j)", body.type(of: body.outputs[s.carries + j].value))) }
        for k in s.invariantOperands { bodyMap[bodyParameter(ofOperand: k).value] = try parameter("w_\(k)", builder.type(of: operand[k])) }
        // The body's nodes, on the new parameters.
        for i in body.nodes.indices where body.nodes[i].op != .input {
            var copy = body.nodes[i]
            for j in copy.inputs.indices { copy.inputs[j] = bodyMap[copy.inputs[j]] }
            bodyMap[i] = fb.function.append(copy)
        }
        // L = Σ sum(zmul(ḡ, value)) over the seeded values, then its gradients.
        var terms: [ValueID] = []
        for (ct, k) in zip(carryCotangent, floatCarries) {
            terms.append(try fb.reduce(.sum, fb.binary(.zmul, ct, bodyMap[body.outputs[k].value]), axes: nil))
        }
        for (ct, j) in zip(outputCotangent, seededOutputs) {
            terms.append(try fb.reduce(.sum, fb.binary(.zmul, ct, bodyMap[body.outputs[s.carries + j].value]), axes: nil))
        }
        // Terms of mixed float types are summed in f64 (each gradient keeps its parameter's type).
        if terms.contains(where: { fb.dtype(of: $0) != fb.dtype(of: terms[0]) }) {
            for i in terms.indices { terms[i] = try fb.cast(terms[i], to: .f64) }
        }
        var loss = terms[0]
        for t in terms.dropFirst() { loss = try fb.binary(.add, loss, t) }
        func gradient(ofOperand k: Int) throws(Diagnostic) -> ValueID {
            try fb.add(.grad, [loss, bodyMap[bodyParameter(ofOperand: k).value]])
        }
        var outputs: [Output] = []
        for k in floatCarries { outputs.append(Output(name: "ct_\(k)", value: try gradient(ofOperand: k))) }
        for (acc, k) in zip(accumulated, floatInvariants) {
            outputs.append(Output(name: "acc_\(k)", value: try fb.binary(.add, acc, gradient(ofOperand: k))))
        }
        for k in floatSequences { outputs.append(Output(name: "ct_x\(k)", value: try gradient(ofOperand: k))) }
        fb.function.outputs = outputs
        let backwardBody = try Differentiator.expand(fb.function)
        builder.function.bodies.append(backwardBody)

        // The backward loop.
        var operands: [ValueID] = []
        for k in floatCarries {
            if k < resultCotangents.count, let given = resultCotangents[k] {
                operands.append(given)
            } else {
                operands.append(try builder.zeros(like: operand[k]))
            }
        }
        for k in floatInvariants { operands.append(try builder.zeros(like: operand[k])) }
        operands += tape
        operands += s.overOperands.map { operand[$0] }
        operands += seeds.map(\.cotangent)
        operands += s.invariantOperands.map { operand[$0] }
        let backward = ScanSignature(body: builder.function.bodies.count - 1, carries: floatCarries.count + floatInvariants.count,
                                     over: s.carries + s.over + seededOutputs.count, invariants: s.invariants,
                                     length: s.length, reverse: !s.reverse, indexed: s.indexed,
                                     // A gated loop's backward steps are gated by the same values:
                                     // the gate carry's tape, or the gate sequence (same position).
                                     gate: s.gate.map { floatCarries.count + floatInvariants.count + $0 })
        let loop = try builder.add(.scan, operands, backward.attributes)
        func result(_ k: Int) throws(Diagnostic) -> ValueID { try builder.add(.result, [loop], Attributes([.index: .int(k)])) }

        var cotangents = Cotangents(none: node.inputs.count)
        for (j, k) in floatCarries.enumerated() where needs[k] { cotangents[k] = try result(j) }
        for (j, k) in floatInvariants.enumerated() where needs[k] { cotangents[k] = try result(floatCarries.count + j) }
        for (j, k) in floatSequences.enumerated() where needs[k] { cotangents[k] = try result(backward.carries + j) }
        return cotangents
    }

    /// The `result`s holding every carry at the start of every step, stacked by step number,
    /// added to the forward loop `id` once (its body returns its carry parameters as extra
    /// per-step outputs; the loop's other values keep their indices).
    mutating func tapeOfCarries(_ id: ValueID, _ s: ScanSignature, _ body: Function) throws(Diagnostic) -> [ValueID] {
        if let tape = tapes[id] { return tape }
        var taped = body
        let firstTape = body.outputs.count
        for k in s.carryOperands {
            let p = body.parameters[s.parameter(ofOperand: k)]
            taped.outputs.append(Output(name: "tape_\(p.name)", value: p.value))
        }
        builder.function.bodies.append(taped)
        builder.function.nodes[id].attrs[.body] = .int(builder.function.bodies.count - 1)
        var tape: [ValueID] = []
        for k in s.carryOperands {
            tape.append(try builder.add(.result, [id], Attributes([.index: .int(firstTape + k)])))
        }
        tapes[id] = tape
        return tape
    }
}
