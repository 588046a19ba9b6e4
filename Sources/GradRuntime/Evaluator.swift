/// Evaluates a `Function` node by node with the reference kernels (`evaluateOp`).
///
/// This is the obviously-correct baseline: the VM, the C backend and constant folding are
/// tested against it.
public struct ReferenceEvaluator {
    /// The function's outputs, in order. Only nodes some output depends on are computed.
    public static func run(_ f: Function, inputs: [String: Tensor]) throws(Diagnostic) -> [Tensor] {
        let values = try evaluate(f, inputs: inputs, onlyNeeded: true)
        var outputs: [Tensor] = []
        for output in f.outputs {
            guard output.value >= 0, output.value < values.count, let v = values[output.value] else {
                throw Diagnostic(.invalidOperand(op: "return", "output '\(output.name)' refers to no value"))
            }
            outputs.append(v)
        }
        return outputs
    }

    /// The value of every node (indexed by `ValueID`); all nodes are computed.
    public static func runAll(_ f: Function, inputs: [String: Tensor]) throws(Diagnostic) -> [Tensor?] {
        try evaluate(f, inputs: inputs, onlyNeeded: false)
    }

    private static func evaluate(_ f: Function, inputs: [String: Tensor], onlyNeeded: Bool) throws(Diagnostic) -> [Tensor?] {
        let nodes = f.nodes
        // Check the inputs first, in parameter order, so the first problem is reported.
        var parameterValues: [ValueID: Tensor] = [:]
        for p in f.parameters {
            guard let t = inputs[p.name] else { throw Diagnostic(.missingInput(p.name)) }
            guard p.value >= 0, p.value < nodes.count else {
                throw Diagnostic(.invalidOperand(op: "input", "parameter '\(p.name)' refers to no node"))
            }
            let declared = nodes[p.value].type
            guard t.type == declared else {
                throw Diagnostic(.inputTypeMismatch(name: p.name, expected: declared, got: t.type))
            }
            parameterValues[p.value] = t
        }

        var needed = [Bool](repeating: !onlyNeeded, count: nodes.count)
        if onlyNeeded {
            for o in f.outputs where o.value >= 0 && o.value < nodes.count { needed[o.value] = true }
            for id in stride(from: nodes.count - 1, through: 0, by: -1) where needed[id] {
                for input in nodes[id].inputs where input >= 0 && input < id { needed[input] = true }
            }
        }

        var values = [Tensor?](repeating: nil, count: nodes.count)
        var loopValues: [ValueID: [Tensor]] = [:]  // the values of each scan, for its `result`s
        for (id, node) in nodes.enumerated() where needed[id] {
            if node.op == .input {
                guard let t = parameterValues[id] else {
                    throw Diagnostic(.invalidOperand(op: "input", "node %\(id) is an input that is not a parameter"), at: node.location)
                }
                values[id] = t
                continue
            }
            var operands: [Tensor] = []
            operands.reserveCapacity(node.inputs.count)
            for input in node.inputs {
                guard input >= 0, input < id, let v = values[input] else {
                    throw Diagnostic(.invalidOperand(op: node.op.name, "operand %\(input) of %\(id) is not an earlier value"), at: node.location)
                }
                operands.append(v)
            }
            do throws(Diagnostic) {
                switch node.op {
                case .scan:
                    loopValues[id] = try runScan(f, node, operands)
                    values[id] = Tensor(.bool([]), shape: [0])
                case .result:
                    guard let results = loopValues[node.inputs[0]], let k = node.attrs.int(.index), k >= 0, k < results.count,
                          results[k].type == node.type else {
                        throw Diagnostic(.invalidOperand(op: "result", "%\(id) names no value of the loop %\(node.inputs[0])"))
                    }
                    values[id] = results[k]
                default:
                    values[id] = try evaluateOp(node.op, node.attrs, operands, resultType: node.type)
                }
            } catch {
                var e = error
                if !e.location.isKnown { e.location = node.location }
                throw e
            }
        }
        return values
    }

    /// Runs a `scan` node step by step: the body is evaluated like any function, its new
    /// carries fed to the next step, its per-step outputs stacked by step number.
    static func runScan(_ f: Function, _ node: Node, _ operands: [Tensor]) throws(Diagnostic) -> [Tensor] {
        let s = try ScanSignature(node.attrs, operandCount: operands.count)
        let types = try f.scanResultTypes(operands.map(\.type), node.attrs)
        let body = f.bodies[s.body]
        let names = body.parameters.map(\.name)
        var carries = Array(operands[s.carryOperands])
        let sequences = Array(operands[s.overOperands])
        let invariants = Array(operands[s.invariantOperands])
        let rows = sequences.map { seq in (seq.shape.dropFirst().reduce(1, *), Array(seq.shape.dropFirst())) }
        let outputCount = types.count - s.carries
        var stepOutputs = [[Tensor.Storage?]](repeating: [Tensor.Storage?](repeating: nil, count: s.length), count: outputCount)
        for t in s.steps {
            if let g = s.gate {
                // A step the gate closes is skipped: carries kept, per-step outputs zero.
                let gate = s.carryOperands.contains(g) ? carries[g] : sequences[g - s.carries]
                guard case .bool(let open) = gate.storage, open.indices.contains(s.carryOperands.contains(g) ? 0 : t) else {
                    throw Diagnostic(.invalidOperand(op: "scan", "the gate is not a bool"))
                }
                if !open[s.carryOperands.contains(g) ? 0 : t] {
                    for j in 0..<outputCount {
                        stepOutputs[j][t] = Tensor(body.type(of: body.outputs[s.carries + j].value), doubles: []).storage
                    }
                    continue
                }
            }
            var args: [Tensor] = []
            if s.indexed { args.append(Tensor(i64: Int64(t))) }
            args += carries
            for (seq, (n, shape)) in zip(sequences, rows) {
                guard let row = Tensor(seq.storage.gathered(Array(t * n ..< (t + 1) * n)), shape: shape) else {
                    throw Diagnostic(.invalidOperand(op: "scan", "row \(t) of a sequence \(seq.type) is malformed"))
                }
                args.append(row)
            }
            args += invariants
            let out = try run(body, inputs: Dictionary(zip(names, args), uniquingKeysWith: { a, _ in a }))
            carries = Array(out[0..<s.carries])
            for j in 0..<outputCount { stepOutputs[j][t] = out[s.carries + j].storage }
        }
        var results = carries
        for j in 0..<outputCount {
            let parts = stepOutputs[j].compactMap { $0 }
            let stacked = parts.isEmpty ? Tensor(types[s.carries + j], doubles: []).storage : Tensor.Storage.concatenated(parts)
            guard let stacked, let t = Tensor(stacked, shape: types[s.carries + j].shape) else {
                throw Diagnostic(.invalidOperand(op: "scan", "per-step output \(j) could not be stacked"))
            }
            results.append(t)
        }
        return results
    }
}

// MARK: - Deterministic random inputs

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator. The same seed
/// gives the same sequence on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// A deterministic random tensor: one `next()` of `SplitMix64(seed:)` per element in
    /// row-major order. f64: `2·(r >> 11)·2⁻⁵³ − 1`, f32: `2·(r >> 40)·2⁻²⁴ − 1` (both
    /// uniform in [−1, 1), exactly representable); i64: `r % 10` (0…9); bool: `r & 1 == 1`.
    public static func random(_ type: TensorType, seed: UInt64) -> Tensor {
        var g = SplitMix64(seed: seed)
        let n = checkedElementCount(type.shape) ?? 0
        let storage: Storage
        switch type.dtype {
        case .f64:
            storage = .f64((0..<n).map { _ in 2 * (Double(g.next() >> 11) * 0x1p-53) - 1 })
        case .f32:
            storage = .f32((0..<n).map { _ in 2 * (Float(g.next() >> 40) * 0x1p-24) - 1 })
        case .i64:
            storage = .i64((0..<n).map { _ in Int64(g.next() % 10) })
        case .bool:
            storage = .bool((0..<n).map { _ in g.next() & 1 == 1 })
        }
        return Tensor(storage, shape: type.shape) ?? Tensor(type.with(shape: []), doubles: [0])
    }
}
