/// Checks the invariants every pass must keep:
/// - each operand refers to an earlier node (topological, SSA order);
/// - re-running the op's type rule on the operands' types gives the node's type;
/// - the parameters are exactly the `input` nodes, each once, and every output refers to a node;
/// - every loop body (`Function.bodies`) keeps the same invariants.
///
/// Throws a diagnostic naming the first broken node and `stage` (e.g. "after pass 'cse'").
public func verifyFunction(_ f: Function, stage: String = "") throws(Diagnostic) {
    func fail(_ message: String) -> Diagnostic {
        Diagnostic(.other("verifier\(stage.isEmpty ? "" : " (\(stage))"): \(f.name): \(message)"))
    }
    // Loop bodies keep the same invariants, innermost first (before the loops that run them
    // are typed against them).
    for (k, body) in f.bodies.enumerated() {
        try verifyFunction(body, stage: stage.isEmpty ? "body \(k) of \(f.name)" : "\(stage), body \(k) of \(f.name)")
    }
    var isParameter = [Bool](repeating: false, count: f.nodes.count)
    for p in f.parameters {
        guard p.value >= 0, p.value < f.nodes.count else { throw fail("parameter '\(p.name)' refers to no node") }
        guard f.nodes[p.value].op == .input else { throw fail("parameter '\(p.name)' is %\(p.value), not an input node") }
        guard !isParameter[p.value] else { throw fail("two parameters name %\(p.value)") }
        isParameter[p.value] = true
    }
    var operandTypes: [TensorType] = []
    for id in f.nodes.indices {
        let node = f.nodes[id]
        if node.op == .input {
            guard isParameter[id] else { throw fail("%\(id) is an input that is not a parameter") }
            continue
        }
        operandTypes.removeAll(keepingCapacity: true)
        for input in node.inputs {
            guard input >= 0, input < id else { throw fail("%\(id) = \(node.op.name)(…) uses %\(input), which does not precede it") }
            operandTypes.append(f.nodes[input].type)
        }
        let inferred: TensorType
        do {
            inferred = node.op.family == .loop || (node.op.family == .derivative && node.attrs.sparse)
                ? try f.nodeType(node.op, node.inputs, node.attrs) : try node.op.inferType(operandTypes, node.attrs)
        } catch {
            throw fail("%\(id) = \(node.op.name)(…) is ill-typed: \(error.kind.message)")
        }
        guard inferred == node.type else {
            throw fail("%\(id) = \(node.op.name)(…) is annotated \(node.type) but its type rule gives \(inferred)")
        }
    }
    for o in f.outputs where o.value < 0 || o.value >= f.nodes.count {
        throw fail("output '\(o.name)' refers to no node")
    }
}
