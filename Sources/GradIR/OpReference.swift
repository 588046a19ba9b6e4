/// The op reference (`docs/ops.md`), generated from the op table so it cannot drift from it.
/// `Scripts/refresh-docs.sh` rewrites the file; a test checks it is current.
public func opReferenceMarkdown() -> String {
    var out = """
    # Op reference

    Generated from the op table (`Sources/GradIR/Ops.swift`) by `Scripts/refresh-docs.sh`;
    do not edit by hand. Every op takes its operands positionally and its attributes by
    name: `sum(x, axes=[0], keepdims=true)`. Elementwise binary ops, comparisons and `select`
    broadcast like NumPy. `g` below is the gradient flowing into the op's output, `out` its
    value.

    Conventions at non-differentiable points follow one rule — the subgradient of minimum
    norm where one exists — and are the same on every backend.

    """
    let families: [(OpFamily, String)] = [
        (.leaf, "Leaves"), (.unary, "Elementwise unary"), (.binary, "Elementwise binary"),
        (.comparison, "Comparisons"), (.select, "Selection"), (.reduction, "Reductions"),
        (.linalg, "Linear algebra"), (.shape, "Shape and data movement"),
        (.nn, "Neural-network helpers"), (.derivative, "Derivative requests"), (.loop, "Loops"),
    ]
    for (family, title) in families {
        out += "\n## \(title)\n\n"
        out += "| op | operands | attributes | dtypes | meaning | derivative |\n"
        out += "|---|---|---|---|---|---|\n"
        for op in Op.allCases where op.family == family {
            let info = op.info
            let attrs = info.attributes.map { "`\($0.key.rawValue)`: \($0.kind.rawValue)\($0.required ? "" : "?")" }
                .joined(separator: ", ")
            let dtypes: String
            switch (family, op) {
            case _ where info.dtypes != nil: dtypes = info.dtypes ?? ""
            case (.leaf, _), (.shape, _): dtypes = "any"
            case (.comparison, _): dtypes = "T, T → bool"
            case (.select, _): dtypes = "bool, T, T → T"
            default: dtypes = op.acceptsIntegers ? "f32 f64 i64" : "f32 f64"
            }
            out += "| `\(op.name)` | \(info.arity) | \(attrs.isEmpty ? "—" : attrs) | \(dtypes) | \(escape(info.doc)) | \(escape(info.derivative)) |\n"
        }
    }
    return out
}

private func escape(_ s: String) -> String {
    s.split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|")
}
