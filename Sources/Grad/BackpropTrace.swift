import Foundation

/// The forward and backward tables of backpropagation through a function, as the lecture
/// notes draw them: every node's inputs, output and local derivatives in the forward pass;
/// every node's incoming gradient and the gradients it sends to its operands in the
/// backward pass. `gradc run --trace` prints it.
public struct BackpropTrace: Sendable {
    public struct ForwardRow: Sendable {
        /// `%3 = add(x, %2)`.
        public var node: String
        public var inputs: [(name: String, value: Tensor)]
        public var output: Tensor
        /// ∂out/∂operand for scalar nodes (`nil` where the operand is not differentiable or
        /// the node is not scalar: tensors use vector–Jacobian products instead).
        public var localDerivatives: [(name: String, value: Double)]?
    }

    public struct BackwardRow: Sendable {
        public var node: String
        /// dy/d(node): the sum of the gradients its users sent back.
        public var incoming: Tensor
        /// The gradient sent to each differentiable operand (vector–Jacobian product).
        public var outgoing: [(name: String, value: Tensor)]
    }

    /// Name of `y` of the backward pass (the first `grad`/`hessian` request's y), if any.
    public var differentiated: String?
    public var forward: [ForwardRow] = []
    /// In the order backpropagation visits the nodes: from y back to the inputs.
    public var backward: [BackwardRow] = []
}

extension BackpropTrace {
    /// Traces `function` (as parsed, with its derivative requests) at `inputs`.
    public init(_ function: Function, inputs: [String: Tensor]) throws(Diagnostic) {
        let f = function
        func name(_ id: ValueID) -> String { f.parameterName(id) ?? "%\(id)" }
        func describe(_ id: ValueID) -> String {
            let node = f.nodes[id]
            if node.op == .const, let v = node.attrs.value { return "\(name(id)) = \(formatNumber(v))" }
            var arguments = node.inputs.map(name)
            // A loop is one row (its steps are not traced one by one): name its body and length.
            if node.op == .scan, let k = node.attrs.int(.body), k >= 0, k < f.bodies.count, let n = node.attrs.int(.length) {
                arguments.append("body \(f.bodies[k].name), \(n) steps\(node.attrs.reverse ? ", reversed" : "")")
            }
            if node.op == .result, let k = node.attrs.int(.index) { arguments.append("index=\(k)") }
            let call = "\(node.op.name)(\(arguments.joined(separator: ", ")))"
            let output = f.outputs.first { $0.value == id }.map { " → \($0.name)" } ?? ""
            return "\(name(id)) = \(call)\(output)"
        }
        let isForward: (Node) -> Bool = { $0.op != .input && $0.op.family != .derivative }

        // Forward values of every node.
        var probe = f
        probe.outputs = f.nodes.indices.filter { isForward(f.nodes[$0]) || f.nodes[$0].op == .input }
            .map { Output(name: "v\($0)", value: $0) }
        let values = try ReferenceEvaluator.run(Differentiator.expand(probe), inputs: inputs)
        var value: [ValueID: Tensor] = [:]
        for (o, t) in zip(probe.outputs, values) { value[o.value] = t }

        for (id, node) in f.nodes.enumerated() where isForward(node) {
            guard let out = value[id] else { continue }
            let operands = node.inputs.compactMap { i in value[i].map { (name(i), $0) } }
            var local: [(String, Double)]?
            if node.type.isScalar, node.type.dtype.isFloat, node.op != .const,
               node.inputs.allSatisfy({ f.type(of: $0).isScalar }) {
                let slopes = try vjpValues(node, operands: operands.map(\.1), seed: Tensor(node.type, doubles: [1]))
                local = zip(node.inputs, slopes).compactMap { i, s in
                    f.nodes[i].op == .const ? nil : s.map { ("d/d\(name(i))", $0.scalar ?? .nan) }
                }
            }
            self.forward.append(ForwardRow(node: describe(id), inputs: operands, output: out, localDerivatives: local))
        }

        // Backward: the incoming gradient of every ancestor of y, from one backward pass.
        guard let request = f.nodes.first(where: { $0.op == .grad || $0.op == .hessian }) else { return }
        let y = request.inputs[0]
        differentiated = f.outputs.first { $0.value == y }?.name ?? name(y)
        var ancestors = Set<ValueID>([y])
        for id in stride(from: y, through: 0, by: -1) where ancestors.contains(id) {
            ancestors.formUnion(f.nodes[id].inputs)
        }
        let visited = ancestors.sorted(by: >).filter { f.nodes[$0].type.dtype.isFloat && f.nodes[$0].op != .const }
        var b = GraphBuilder(f)
        var outputs: [Output] = []
        for n in visited {
            outputs.append(Output(name: "g\(n)", value: try b.add(.grad, [y, n])))
        }
        var gradientProbe = b.function
        gradientProbe.outputs = outputs
        let incoming = try ReferenceEvaluator.run(Differentiator.expand(gradientProbe), inputs: inputs)
        for (n, g) in zip(visited, incoming) {
            let node = f.nodes[n]
            var outgoing: [(String, Tensor)] = []
            // A loop is one row: its body's steps are not traced one by one (yet).
            if node.op != .input, node.op.family != .loop, let operands = Optional(node.inputs.compactMap({ value[$0] })), operands.count == node.inputs.count {
                let sent = try vjpValues(node, operands: operands, seed: g)
                outgoing = zip(node.inputs, sent).compactMap { i, t in f.nodes[i].op == .const ? nil : t.map { (name(i), $0) } }
            }
            backward.append(BackwardRow(node: describe(n), incoming: g, outgoing: outgoing))
        }
    }
}

/// The vector–Jacobian product of one node at given operand values: the gradient each float
/// operand receives when `seed` flows into the node's output (`nil` for other operands).
private func vjpValues(_ node: Node, operands: [Tensor], seed: Tensor) throws(Diagnostic) -> [Tensor?] {
    var b = GraphBuilder(name: "vjp")
    var params: [ValueID] = []
    var inputs: [String: Tensor] = [:]
    for (k, t) in operands.enumerated() {
        params.append(try b.parameter("a\(k)", t.type))
        inputs["a\(k)"] = t
    }
    let out = try b.add(node.op, params, node.attrs)
    let g = try b.parameter("g", seed.type)
    inputs["g"] = seed
    let weighted = try b.reduce(.sum, b.binary(.mul, out, g), axes: nil)
    var outputs: [Output] = []
    var which: [Int] = []
    for (k, p) in params.enumerated() where operands[k].dtype.isFloat {
        outputs.append(Output(name: "d\(k)", value: try b.add(.grad, [weighted, p])))
        which.append(k)
    }
    var f = b.function
    f.outputs = outputs
    let results = outputs.isEmpty ? [] : try ReferenceEvaluator.run(Differentiator.expand(f), inputs: inputs)
    var out2 = [Tensor?](repeating: nil, count: operands.count)
    for (k, t) in zip(which, results) { out2[k] = t }
    return out2
}

extension BackpropTrace: CustomStringConvertible {
    /// The two tables as text.
    public var description: String {
        func show(_ t: Tensor) -> String {
            if t.shape.isEmpty { return shortNumber(t.scalar ?? .nan) }
            let values = t.doubles
            let head = values.prefix(4).map(shortNumber).joined(separator: ", ")
            return "\(t.type) [\(head)\(values.count > 4 ? ", …" : "")]"
        }
        var lines = ["forward pass", ""]
        var rows: [[String]] = [["node", "inputs", "output", "local derivatives"]]
        for r in forward {
            rows.append([r.node,
                         r.inputs.map { "\($0.name)=\(show($0.value))" }.joined(separator: ", "),
                         show(r.output),
                         r.localDerivatives.map { $0.map { "\($0.name)=\(shortNumber($0.value))" }.joined(separator: ", ") }
                            ?? (r.inputs.isEmpty ? "" : "(tensor: vector–Jacobian product in the backward pass)")])
        }
        lines.append(table(rows))
        if let y = differentiated {
            lines += ["", "backward pass: the gradient d\(y)/d(node) arriving at each node, and what it sends back", ""]
            var back: [[String]] = [["node", "incoming gradient", "outgoing gradients"]]
            for r in backward {
                back.append([r.node, show(r.incoming), r.outgoing.map { "→ \($0.name): \(show($0.value))" }.joined(separator: ", ")])
            }
            lines.append(table(back))
            lines.append("")
            lines.append("Where a value feeds several nodes, its incoming gradient is the sum of what they sent back.")
        }
        return lines.joined(separator: "\n")
    }
}

private func shortNumber(_ v: Double) -> String {
    if !v.isFinite { return formatNumber(v) }
    return String(format: "%.6g", v)
}

private func table(_ rows: [[String]]) -> String {
    guard let header = rows.first else { return "" }
    var widths = header.map(\.count)
    for row in rows {
        for (i, c) in row.enumerated() where i < widths.count { widths[i] = Swift.max(widths[i], c.count) }
    }
    func line(_ row: [String]) -> String {
        row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.dropFirst().map(line))
        .joined(separator: "\n")
}
