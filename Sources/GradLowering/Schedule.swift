// Scheduling: which nodes run, in which order, and who reads each value.
//
// Part of the backend-neutral execution plan shared by the bytecode VM and the C backend
// (see `ExecutionPlan` in BufferPlan.swift).

/// The nodes an evaluation must compute, in execution order, with the uses of every value.
///
/// Only nodes some output depends on are scheduled (like the reference evaluator). Nodes of a
/// `Function` are already in topological (SSA) order, so the schedule keeps that order; the
/// schedule checks the graph is well formed (operands refer to earlier nodes, every
/// scheduled node's type is what its op's type rule infers) so that no later stage can index
/// out of bounds on a malformed graph.
public struct Schedule: Sendable {
    /// Scheduled nodes in execution order (inputs and constants included).
    public var order: [ValueID]
    /// `needed[id]`: the node is scheduled.
    public var needed: [Bool]
    /// Number of reads of each value by scheduled nodes, plus one per output that names it.
    public var useCount: [Int]
    /// `isOutput[id]`: some output of the function returns value `id`.
    public var isOutput: [Bool]
    /// The scheduled `result` nodes of each scheduled `scan` node, in node order, one per
    /// value of the loop (the first node naming it).
    public var loopResults: [ValueID: [ValueID]]
    /// A scheduled `result` node that names the same value of its loop as an earlier one → that
    /// one (hand-written canonical text may repeat a result; it shares the first's buffer).
    public var repeatedResults: [ValueID: ValueID]

    /// The scheduled `result` nodes of `scan` node `loop`.
    public func results(of loop: ValueID) -> [ValueID] { loopResults[loop] ?? [] }

    /// Builds the schedule of `f`, or a diagnostic naming the malformed node.
    public init(_ f: Function) throws(Diagnostic) {
        let nodes = f.nodes
        var needed = [Bool](repeating: false, count: nodes.count)
        var isOutput = [Bool](repeating: false, count: nodes.count)
        for o in f.outputs {
            guard o.value >= 0, o.value < nodes.count else {
                throw Diagnostic(.invalidOperand(op: "return", "output '\(o.name)' refers to no value"))
            }
            needed[o.value] = true
            isOutput[o.value] = true
        }
        // Which nodes are parameters, by node (`Function.parameterName` searches the list:
        // asking it per input node made scheduling quadratic in the number of parameters).
        var isParameter = [Bool](repeating: false, count: nodes.count)
        for p in f.parameters {
            guard p.value >= 0, p.value < nodes.count, nodes[p.value].op == .input else {
                throw Diagnostic(.invalidOperand(op: "input", "parameter '\(p.name)' is not an input node"))
            }
            isParameter[p.value] = true
        }
        for id in stride(from: nodes.count - 1, through: 0, by: -1) where needed[id] {
            for input in nodes[id].inputs {
                guard input >= 0, input < id else {
                    throw Diagnostic(.invalidOperand(op: nodes[id].op.name, "operand %\(input) of %\(id) is not an earlier value"), at: nodes[id].location)
                }
                needed[input] = true
            }
        }
        var useCount = [Int](repeating: 0, count: nodes.count)
        var order: [ValueID] = []
        var loopResults: [ValueID: [ValueID]] = [:]
        var repeatedResults: [ValueID: ValueID] = [:]
        var resultOf: [ValueID: [Int: ValueID]] = [:]  // loop → value index → first result node
        for (id, node) in nodes.enumerated() where needed[id] {
            order.append(id)
            if node.op == .result, let loop = node.inputs.first, let k = node.attrs.int(.index) {
                if let first = resultOf[loop]?[k] {
                    repeatedResults[id] = first
                } else {
                    resultOf[loop, default: [:]][k] = id
                    loopResults[loop, default: []].append(id)
                }
            }
            for input in node.inputs { useCount[input] += 1 }
            switch node.op.family {
            case .derivative:
                throw Diagnostic(.invalidOperand(op: node.op.name, "derivative requests must be expanded before scheduling"), at: node.location)
            case .loop:
                let t = try f.loopNodeType(node.op, node.inputs, node.attrs)
                guard t == node.type else { throw Diagnostic(.annotationMismatch(declared: node.type, inferred: t), at: node.location) }
            case .leaf:
                if node.op == .input, !isParameter[id] {
                    throw Diagnostic(.invalidOperand(op: "input", "node %\(id) is an input that is not a parameter"), at: node.location)
                }
                if node.op == .const {
                    let t = try node.op.inferType([], node.attrs)
                    guard t == node.type else { throw Diagnostic(.annotationMismatch(declared: node.type, inferred: t), at: node.location) }
                }
            default:
                let t = try node.op.inferType(node.inputs.map { nodes[$0].type }, node.attrs)
                guard t == node.type else { throw Diagnostic(.annotationMismatch(declared: node.type, inferred: t), at: node.location) }
            }
        }
        for o in f.outputs { useCount[o.value] += 1 }
        self.order = order
        self.needed = needed
        self.useCount = useCount
        self.isOutput = isOutput
        self.loopResults = loopResults
        self.repeatedResults = repeatedResults
    }
}
