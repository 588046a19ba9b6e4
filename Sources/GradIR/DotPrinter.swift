/// Graphviz output: one box per parameter, one ellipse per node (forward nodes light blue,
/// gradient nodes filled orange with dashed incoming edges), one double octagon per output,
/// grouped into "forward" and "gradient" clusters.

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
    for (k, o) in f.outputs.enumerated() {
        text += "  out\(k) [label=\(dotQuoted(o.name)), shape=doubleoctagon, style=filled, fillcolor=palegreen];\n"
        edges.append("  n\(o.value) -> out\(k);")
    }
    text += edges.map { $0 + "\n" }.joined()
    text += "}\n"
    return text
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
