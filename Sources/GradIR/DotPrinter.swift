/// Graphviz output: one box per parameter, one ellipse per node (forward nodes light blue,
/// gradient nodes filled orange with dashed incoming edges), one double octagon per output,
/// grouped into "forward" and "gradient" clusters; each loop body a dotted cluster of its own.

/// A Graphviz `digraph` of a function.
public func printDot(_ f: Function) -> String {
    var names: [ValueID: String] = [:]
    for p in f.parameters { names[p.value] = p.name }

    var forward: [String] = []
    var gradient: [String] = []
    var edges: [String] = []
    for (i, node) in f.nodes.enumerated() {
        let label: String
        let style: String
        if node.op == .input {
            label = "\(names[i] ?? "%\(i)")\n\(node.type)"
            style = "shape=box, style=filled, fillcolor=\"#e8e8e8\""
        } else {
            label = "%\(i) \(node.op.rawValue)\n\(node.type)"
            style = node.role == .gradient
                ? "shape=ellipse, style=filled, fillcolor=orange, color=darkorange3"
                : "shape=ellipse, style=filled, fillcolor=lightblue"
        }
        let line = "    n\(i) [label=\(dotQuoted(label)), \(style)];"
        if node.role == .gradient { gradient.append(line) } else { forward.append(line) }
        for input in node.inputs {
            let edgeStyle = node.role == .gradient ? " [style=dashed, color=darkorange3]" : ""
            edges.append("  n\(input) -> n\(i)\(edgeStyle);")
        }
    }
    var text = "digraph \(dotQuoted(f.name)) {\n"
    text += "  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\"];\n"
    text += "  subgraph cluster_forward {\n    label=\"forward\";\n    color=steelblue;\n"
    text += forward.map { $0 + "\n" }.joined()
    text += "  }\n"
    if !gradient.isEmpty {
        text += "  subgraph cluster_gradient {\n    label=\"gradient\";\n    color=darkorange3;\n    style=dashed;\n"
        text += gradient.map { $0 + "\n" }.joined()
        text += "  }\n"
    }
    for (k, body) in f.bodies.enumerated() {
        text += dotBodyCluster(body, prefix: "b\(k)_", label: "body \(k): \(body.name)", indent: "  ")
    }
    for (k, o) in f.outputs.enumerated() {
        text += "  out\(k) [label=\(dotQuoted(o.name)), shape=doubleoctagon, style=filled, fillcolor=palegreen];\n"
        edges.append("  n\(o.value) -> out\(k);")
    }
    text += edges.map { $0 + "\n" }.joined()
    text += "}\n"
    return text
}

/// A loop body (issue 15, `Function.bodies`) as a dotted cluster of its own, its nodes named
/// `<prefix>n<i>` so that they never collide with the owner's (nested bodies extend the
/// prefix). No edge crosses a cluster: a body sees only its parameters.
private func dotBodyCluster(_ f: Function, prefix: String, label: String, indent: String) -> String {
    var names: [ValueID: String] = [:]
    for p in f.parameters { names[p.value] = p.name }
    let inner = indent + "  "
    var text = "\(indent)subgraph cluster_\(prefix)body {\n\(inner)label=\(dotQuoted(label));\n\(inner)style=dotted;\n"
    for (i, node) in f.nodes.enumerated() {
        let text1 = node.op == .input ? "\(names[i] ?? "%\(i)")\n\(node.type)" : "%\(i) \(node.op.rawValue)\n\(node.type)"
        let shape = node.op == .input ? "shape=box" : "shape=ellipse"
        text += "\(inner)\(prefix)n\(i) [label=\(dotQuoted(text1)), \(shape)];\n"
        for input in node.inputs {
            text += "\(inner)\(prefix)n\(input) -> \(prefix)n\(i);\n"
        }
    }
    for (k, body) in f.bodies.enumerated() {
        text += dotBodyCluster(body, prefix: "\(prefix)b\(k)_", label: "body \(k): \(body.name)", indent: inner)
    }
    return text + "\(indent)}\n"
}

/// A DOT string literal: quotes and backslashes escaped, newlines as `\n` (centered lines).
func dotQuoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}
