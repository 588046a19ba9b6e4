/// The canonical text form of the IR: a subset of the `.ir` language with one node per line,
/// explicit types and attributes, so that `printModule(parseModule(printModule(m)))` equals
/// `printModule(m)` and the parsed nodes equal the original ones.
///
/// ```
/// func seed(x: f64, y: f64) -> (f64, f64) {
///   %2: f64 = sigmoid(x)
///   %3: f64 = add(x, %2)
///   return %3 as z, x
/// }
/// ```

/// The canonical text of every function, separated by blank lines.
public func printModule(_ m: Module) -> String {
    m.functions.map(printFunction).joined(separator: "\n")
}

/// The canonical text of one function.
public func printFunction(_ f: Function) -> String {
    var names: [ValueID: String] = [:]
    for p in f.parameters { names[p.value] = p.name }
    func ref(_ id: ValueID) -> String { names[id] ?? "%\(id)" }

    let params = f.parameters.map { p in "\(p.name): \(p.value < f.nodes.count ? f.type(of: p.value).description : "?")" }
    let results = f.outputs.map { $0.value < f.nodes.count ? f.type(of: $0.value).description : "?" }
    var text = "func \(f.name)(\(params.joined(separator: ", "))) -> (\(results.joined(separator: ", "))) {\n"
    // Loop bodies (issue 15) come first, each as `body k = func …`, indented. The parser
    // does not read this form yet (the loop ops are not implemented); it is printed so that
    // no body is silently dropped from the text.
    for (k, body) in f.bodies.enumerated() {
        let lines = printFunction(body).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        for (j, line) in lines.enumerated() {
            text += j == 0 ? "  body \(k) = \(line)\n" : "  \(line)\n"
        }
    }
    for (i, node) in f.nodes.enumerated() where node.op != .input {
        var parts = node.inputs.map(ref)
        for item in node.attrs.items {
            parts.append("\(item.key.rawValue)=\(item.value)")
        }
        text += "  %\(i): \(node.type) = \(node.op.rawValue)(\(parts.joined(separator: ", ")))\n"
    }
    let outs = f.outputs.map { o -> String in
        let r = ref(o.value)
        return r == o.name ? r : "\(r) as \(o.name)"
    }
    text += "  return \(outs.joined(separator: ", "))\n}\n"
    return text
}
