/// The tangent of a loop is a loop (docs/forward-mode.md). For a `scan` whose body is
/// `f(c, x_t, w) -> (c', y_t)` and whose operands move along tangents (ċ₀, ẋ, ẇ), the tangent
/// loop runs the body together with its own tangent,
/// `(c, ċ, x_t, ẋ_t, w, ẇ) -> (c', ċ', y_t, ẏ_t)`, built by `jvp` requests in a new body that
/// this same pass expands (so loops nest, and tangents of tangents work). Only the carries,
/// sequences and invariants that can move get a tangent: a carry does when its initial value
/// moves or its update reads something that moves (found by a fixpoint over the body). The
/// tangent loop stores no tape; it recomputes the loop's primal values (the original loop
/// still computes the values its other readers use).
extension Expansion {
    /// The tangent loop of the `scan` `id` given its operands' tangents (`nil`: zero), and for
    /// each of the loop's values the index of its tangent among the tangent loop's values.
    mutating func scanTangents(_ id: ValueID, _ operandTangents: [ValueID?]) throws(Diagnostic) -> (loop: ValueID, tangentIndex: [Int?])? {
        let node = builder.function.nodes[id]
        let s = try ScanSignature(node.attrs, operandCount: node.inputs.count)
        let body = builder.function.bodies[s.body]
        let operand = Array(node.inputs)
        let outputCount = body.outputs.count - s.carries
        func isFloat(_ v: ValueID) -> Bool { body.type(of: v).dtype.isFloat }
        func parameterValue(ofOperand k: Int) -> ValueID { body.parameters[s.parameter(ofOperand: k)].value }

        // Which operands move: those given a tangent, and the carries whose update reads a
        // moving value (to a fixpoint: a carry that starts moving can move others).
        var moving = (0..<operand.count).map { operandTangents[$0] != nil && isFloat(parameterValue(ofOperand: $0)) }
        var dependsOnMoving: [Bool] = []
        while true {
            dependsOnMoving = [Bool](repeating: false, count: body.nodes.count)
            for k in operand.indices where moving[k] { dependsOnMoving[parameterValue(ofOperand: k)] = true }
            for i in body.nodes.indices where !dependsOnMoving[i] {
                dependsOnMoving[i] = body.nodes[i].inputs.contains { dependsOnMoving[$0] }
            }
            var changed = false
            for k in s.carryOperands where !moving[k] {
                let update = body.outputs[k].value
                if isFloat(update), dependsOnMoving[update] {
                    moving[k] = true
                    changed = true
                }
            }
            if !changed { break }
        }
        let movingCarries = s.carryOperands.filter { moving[$0] }
        let movingSequences = s.overOperands.filter { moving[$0] }
        let movingInvariants = s.invariantOperands.filter { moving[$0] }
        let movingOutputs = (0..<outputCount).filter { j in
            let v = body.outputs[s.carries + j].value
            return isFloat(v) && dependsOnMoving[v]
        }
        guard moving.contains(true) else { return nil }  // only integer or bool operands were given tangents

        // The tangent body: parameters in the tangent loop's operand order.
        var fb = GraphBuilder(name: "\(body.name)_jvp")
        fb.function.bodies = body.bodies
        fb.location = body.location
        var bodyMap = [ValueID](repeating: -1, count: body.nodes.count)
        func parameter(_ name: String, _ type: TensorType) throws(Diagnostic) -> ValueID {
            try fb.parameter(name, type, nameIsUnique: true)
        }
        func type(ofOperand k: Int) -> TensorType { body.type(of: parameterValue(ofOperand: k)) }
        if s.indexed { bodyMap[body.parameters[0].value] = try parameter("step", TensorType(.i64)) }
        var tangentParameter: [Int: ValueID] = [:]
        for k in s.carryOperands { bodyMap[parameterValue(ofOperand: k)] = try parameter("c_\(k)", type(ofOperand: k)) }
        for k in movingCarries { tangentParameter[k] = try parameter("dc_\(k)", type(ofOperand: k)) }
        for k in s.overOperands { bodyMap[parameterValue(ofOperand: k)] = try parameter("x_\(k)", type(ofOperand: k)) }
        for k in movingSequences { tangentParameter[k] = try parameter("dx_\(k)", type(ofOperand: k)) }
        for k in s.invariantOperands { bodyMap[parameterValue(ofOperand: k)] = try parameter("w_\(k)", type(ofOperand: k)) }
        for k in movingInvariants { tangentParameter[k] = try parameter("dw_\(k)", type(ofOperand: k)) }
        for i in body.nodes.indices where body.nodes[i].op != .input {
            var copy = body.nodes[i]
            for j in copy.inputs.indices { copy.inputs[j] = bodyMap[copy.inputs[j]] }
            bodyMap[i] = fb.function.append(copy)
        }
        // One request per moving value, all with the same pairs: one tangent sweep serves them.
        var pairs: [ValueID] = []
        for k in operand.indices where moving[k] {
            pairs += [bodyMap[parameterValue(ofOperand: k)], tangentParameter[k] ?? -1]
        }
        func tangent(of v: ValueID) throws(Diagnostic) -> ValueID { try fb.add(.jvp, [bodyMap[v]] + pairs) }
        var outputs: [Output] = []
        for k in s.carryOperands { outputs.append(Output(name: body.outputs[k].name, value: bodyMap[body.outputs[k].value])) }
        for k in movingCarries { outputs.append(Output(name: "d\(body.outputs[k].name)", value: try tangent(of: body.outputs[k].value))) }
        for j in 0..<outputCount {
            let o = body.outputs[s.carries + j]
            outputs.append(Output(name: o.name, value: bodyMap[o.value]))
        }
        for j in movingOutputs {
            let o = body.outputs[s.carries + j]
            outputs.append(Output(name: "d\(o.name)", value: try tangent(of: o.value)))
        }
        fb.function.outputs = outputs
        builder.function.bodies.append(try Differentiator.expand(fb.function))

        // The tangent loop.
        var operands: [ValueID] = []
        operands += s.carryOperands.map { operand[$0] }
        for k in movingCarries {
            if let t = operandTangents[k] { operands.append(t) } else { operands.append(try builder.zeros(like: operand[k])) }
        }
        operands += s.overOperands.map { operand[$0] }
        // A moving sequence or invariant is one given a tangent.
        operands += movingSequences.compactMap { operandTangents[$0] }
        operands += s.invariantOperands.map { operand[$0] }
        operands += movingInvariants.compactMap { operandTangents[$0] }
        let carries = s.carries + movingCarries.count
        let signature = ScanSignature(body: builder.function.bodies.count - 1, carries: carries,
                                      over: s.over + movingSequences.count, invariants: s.invariants + movingInvariants.count,
                                      length: s.length, reverse: s.reverse, indexed: s.indexed,
                                      // A gate sequence moves past the carries' tangents.
                                      gate: s.gate.map { $0 < s.carries ? $0 : $0 + movingCarries.count })
        let loop = try builder.add(.scan, operands, signature.attributes)

        var tangentIndex = [Int?](repeating: nil, count: body.outputs.count)
        for (j, k) in movingCarries.enumerated() { tangentIndex[k] = s.carries + j }
        for (j, o) in movingOutputs.enumerated() { tangentIndex[s.carries + o] = carries + outputCount + j }
        return (loop, tangentIndex)
    }
}
