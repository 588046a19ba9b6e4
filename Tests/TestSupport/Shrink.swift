import Grad

/// A failing test case: a function and the inputs it fails on.
public struct FailingCase: Sendable {
    public var function: Function
    public var inputs: [String: Tensor]

    public init(function: Function, inputs: [String: Tensor]) {
        self.function = function
        self.inputs = inputs
    }

    /// The case as an `.ir` file: a comment with the `gradc` command that feeds it the same
    /// inputs, then the function in canonical form.
    public var irFile: String {
        var command = "# gradc check FILE.ir"
        for p in function.parameters {
            guard let t = inputs[p.name] else { continue }
            let values = t.doubles.map { formatNumber($0) }.joined(separator: ",")
            command += " --input \(p.name)=[\(values)]"
        }
        return command + "\n" + printFunction(function)
    }
}

/// Delta debugging of random graphs: shrinks a failing case while `failure` keeps returning
/// a message, and returns the smallest case found with its message.
///
/// Each round tries, in order, and keeps the first candidate that still fails:
/// 1. dropping one output;
/// 2. returning an operand of an output's node instead of the node;
/// 3. replacing a node by one of its operands of the same type (which drops the node and,
///    once unused, everything only it needed), or by a parameter of the same type;
/// 4. shrinking one dimension of one parameter to 1 (every node's type is inferred again,
///    so candidates whose fixed attributes no longer fit are skipped).
/// Every candidate is printed and parsed again, so it is a valid, canonical function.
/// `budget` bounds the number of candidates evaluated.
public func shrink(_ start: FailingCase, budget: Int = 2_000,
                   failure: (FailingCase) -> String?) -> (case: FailingCase, message: String?) {
    var best = start
    var message = failure(start)
    guard message != nil else { return (start, nil) }
    var left = budget
    var progress = true
    while progress, left > 0 {
        progress = false
        for make in shrinkCandidates(best) {
            guard left > 0 else { break }
            guard let candidate = make() else { continue }
            left -= 1
            if let m = failure(candidate) {
                best = candidate
                message = m
                progress = true
                break
            }
        }
    }
    return (best, message)
}

/// The candidates of one shrinking round, built on demand (nil: the edit broke a type rule).
func shrinkCandidates(_ c: FailingCase) -> [() -> FailingCase?] {
    let f = c.function
    var makers: [() -> FailingCase?] = []
    // 1. Drop an output.
    if f.outputs.count > 1 {
        for k in f.outputs.indices {
            makers.append {
                var g = f
                g.outputs.remove(at: k)
                return recanonicalized(g, c.inputs)
            }
        }
    }
    // 2. Return an operand of an output's node instead of the node (any type).
    for k in f.outputs.indices {
        for j in Set(f.nodes[f.outputs[k].value].inputs).sorted() {
            makers.append {
                var g = f
                g.outputs[k].value = j
                return recanonicalized(g, c.inputs)
            }
        }
    }
    // 3. Replace a node by a same-typed operand or parameter, latest nodes first.
    for i in f.nodes.indices.reversed() where f.nodes[i].op != .input {
        let node = f.nodes[i]
        var replacements = node.inputs.filter { f.nodes[$0].type == node.type }
        replacements += f.parameters.map(\.value).filter { f.nodes[$0].type == node.type && !replacements.contains($0) }
        for r in replacements {
            makers.append { recanonicalized(replacing(i, by: r, in: f), c.inputs) }
        }
    }
    // 4. Shrink a parameter's dimension to 1.
    for (k, p) in f.parameters.enumerated() {
        let type = f.type(of: p.value)
        for axis in type.shape.indices where type.shape[axis] > 1 {
            makers.append { shrinkingDimension(c, parameter: k, axis: axis) }
        }
    }
    return makers
}

/// `f` with every use of node `old` (later nodes and outputs) replaced by `new`.
func replacing(_ old: ValueID, by new: ValueID, in f: Function) -> Function {
    var g = f
    for k in g.nodes.indices where k > old {
        g.nodes[k].inputs = Operands(g.nodes[k].inputs.map { $0 == old ? new : $0 })
    }
    g.outputs = g.outputs.map { Output(name: $0.name, value: $0.value == old ? new : $0.value) }
    return g
}

/// Drops the nodes (and parameters) no output needs, renumbers, prints and parses again.
/// Returns nil when the result does not parse (a candidate that broke a type rule).
func recanonicalized(_ f: Function, _ inputs: [String: Tensor], stripTypes: Bool = false) -> FailingCase? {
    var needed = [Bool](repeating: false, count: f.nodes.count)
    for o in f.outputs { needed[o.value] = true }
    for i in f.nodes.indices.reversed() where needed[i] {
        for j in f.nodes[i].inputs { needed[j] = true }
    }
    var newID = [ValueID](repeating: -1, count: f.nodes.count)
    var g = Function(name: f.name)
    for (i, node) in f.nodes.enumerated() where needed[i] {
        var n = node
        n.inputs = Operands(node.inputs.map { newID[$0] })
        newID[i] = g.append(n)
    }
    g.parameters = f.parameters.filter { needed[$0.value] }.map { Parameter(name: $0.name, value: newID[$0.value]) }
    g.outputs = f.outputs.map { Output(name: $0.name, value: newID[$0.value]) }
    var text = printFunction(g)
    if stripTypes { text = withoutTypeAnnotations(text) }
    guard let parsed = try? parseModule(text, file: "shrunk.ir").functions.last else { return nil }
    var kept: [String: Tensor] = [:]
    for p in parsed.parameters { kept[p.name] = inputs[p.name] }
    return FailingCase(function: parsed, inputs: kept)
}

/// Canonical text without the `-> (…)` result types and the `%n: T` annotations, so the
/// parser infers every type again.
func withoutTypeAnnotations(_ text: String) -> String {
    var lines: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        var s = String(line)
        if s.hasPrefix("func "), let arrow = s.range(of: ") -> (") {
            s = String(s[..<arrow.lowerBound]) + ") {"
        } else if s.hasPrefix("  %"), let colon = s.firstIndex(of: ":"), let eq = s.range(of: " = ") {
            s = String(s[..<colon]) + String(s[eq.lowerBound...])
        }
        lines.append(s)
    }
    return lines.joined(separator: "\n")
}

/// The case with parameter `k`'s dimension `axis` shrunk to 1 (its input keeps the first
/// elements of each slice along that axis).
func shrinkingDimension(_ c: FailingCase, parameter k: Int, axis: Int) -> FailingCase? {
    var f = c.function
    let p = f.parameters[k]
    let old = f.type(of: p.value)
    var shape = old.shape
    shape[axis] = 1
    f.nodes[p.value].type = TensorType(old.dtype, shape)
    var inputs = c.inputs
    if let t = inputs[p.name] {
        // Keep index 0 along `axis`: element (…, i_axis, …) of the old tensor with i_axis = 0.
        let values = t.doubles
        let inner = old.shape[(axis + 1)...].reduce(1, *)
        let outer = old.shape[..<axis].reduce(1, *)
        var kept: [Double] = []
        for o in 0..<outer {
            kept += values[(o * old.shape[axis] * inner)..<(o * old.shape[axis] * inner + inner)]
        }
        inputs[p.name] = Tensor(TensorType(old.dtype, shape), doubles: kept)
    }
    return recanonicalized(f, inputs, stripTypes: true)
}
