import Foundation
import Grad

/// `gradc emit M.ir --format sparsity [--spy F.svg|F.pbm]`: the structural sparsity of every
/// `jacobian` and `hessian` request of one function (docs/sparsity.md).
enum SparsityReport {
    /// Rows of a pattern printed, and columns per row.
    static let shownRows = 64
    static let shownColumns = 32

    static func run(_ f: Function, spy: String?, inputs specs: [String] = []) throws -> ExitStatus {
        let indices = try indexInputs(f, specs)
        let requests = f.nodes.indices.filter { f.nodes[$0].op == .jacobian || f.nodes[$0].op == .hessian }
        if let spy, !(spy.hasSuffix(".svg") || spy.hasSuffix(".pbm")) {
            throw UsageError(message: "--spy '\(spy)': the file name must end in .svg or .pbm (the picture's format)")
        }
        guard !requests.isEmpty else {
            print("function '\(f.name)' has no jacobian or hessian request")
            return .ok
        }
        for (k, id) in requests.enumerated() {
            let node = f.nodes[id]
            let (y, x) = (node.inputs[0], node.inputs[1])
            let isHessian = node.op == .hessian
            let names = f.outputs.filter { $0.value == id }.map(\.name)
            let label = "\(node.op.name)(\(name(f, y)), \(name(f, x)))" + (names.isEmpty ? "" : " as " + names.joined(separator: ", "))
            let (g, gy, gx) = expanded(f, y, x)
            var known: [ValueID: [Int64]] = [:]
            for p in g.parameters { if let v = indices[p.name] { known[p.value] = v } }
            let pattern: SparsityPattern
            do {
                pattern = isHessian ? try Sparsity.hessian(of: gy, wrt: gx, in: g, indexValues: known)
                    : try Sparsity.jacobian(of: gy, wrt: gx, in: g, indexValues: known)
            } catch {
                print("\(label): pattern not computed: \(error.description)")
                continue
            }
            let total = Double(pattern.rows) * Double(pattern.columns)
            let share = total == 0 ? 0 : 100 * Double(pattern.nonZeroCount) / total
            func count(_ n: Int, _ what: String) -> String { "\(n) \(what)\(n == 1 ? "" : "s")" }
            var colours = "colours: " + count(Colouring.columnColouring(pattern).colourCount, "column") + " (forward sweeps), "
                + count(Colouring.rowColouring(pattern).colourCount, "row") + " (reverse sweeps)"
            if isHessian { colours += ", \(Colouring.symmetricColouring(pattern).colourCount) star (Hessian-vector products)" }
            print("\(label): \(pattern.rows)×\(pattern.columns), \(pattern.nonZeroCount) non-zeros (\(String(format: "%.3g", share))%); \(colours)")
            for i in 0..<min(pattern.rows, shownRows) {
                let row = pattern.columns(ofRow: i)
                var line = "  \(i):" + row.prefix(shownColumns).map { " \($0)" }.joined()
                if row.count > shownColumns { line += " … (\(row.count - shownColumns) more)" }
                print(line)
            }
            if pattern.rows > shownRows { print("  … \(pattern.rows - shownRows) more rows") }
            if let spy {
                let path = spyPath(spy, k, of: requests.count)
                let data = spy.hasSuffix(".svg") ? Data(pattern.spySVG().utf8) : Data(pattern.spyPBM())
                try OutputPath.file(path, data, option: "--spy")
                FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
            }
        }
        return .ok
    }

    /// The values of the i64 inputs given with `--input NAME=SPEC` (the indices of an indexing
    /// op: with their values, the op's pattern is exact). Float inputs are refused: a pattern
    /// does not depend on them.
    static func indexInputs(_ f: Function, _ specs: [String]) throws -> [String: [Int64]] {
        guard !specs.isEmpty else { return [:] }
        var given = Function(name: f.name)
        for spec in specs {
            let name = String(spec.prefix { $0 != "=" })
            guard let p = f.parameters.first(where: { $0.name == name }) else {
                _ = try makeInputs(for: f, specs: [spec], seed: 1)  // the usual message for an unknown name
                continue
            }
            guard f.type(of: p.value).dtype == .i64 else {
                throw UsageError(message: "--input \(name): with --format sparsity, inputs give index values, but '\(name)' is \(f.type(of: p.value)), not i64 (a pattern does not depend on float values)")
            }
            if given.parameters.contains(where: { $0.name == name }) { continue }
            given.addParameter(name, f.type(of: p.value))
        }
        var out: [String: [Int64]] = [:]
        for (name, t) in try makeInputs(for: given, specs: specs, seed: 1) {
            if case .i64(let v) = t.storage { out[name] = v }
        }
        return out
    }

    /// A value's name: the parameter's, an output's, else `%id`.
    static func name(_ f: Function, _ id: ValueID) -> String {
        f.parameterName(id) ?? f.outputs.first { $0.value == id }?.name ?? "%\(id)"
    }

    /// The spy file of request k: F itself for the first, F-2.svg, F-3.svg… for the others.
    static func spyPath(_ spy: String, _ k: Int, of count: Int) -> String {
        guard k > 0 else { return spy }
        let ext = (spy as NSString).pathExtension
        return (spy as NSString).deletingPathExtension + "-\(k + 1)." + ext
    }

    /// The graph the pattern is computed on: when y is computed from derivative requests
    /// (a Jacobian of a gradient), the function with y as its only output, expanded, so the
    /// propagation sees the derivative's ordinary nodes; else the function as it is.
    static func expanded(_ f: Function, _ y: ValueID, _ x: ValueID) -> (Function, ValueID, ValueID) {
        guard f.nodes[0...y].contains(where: { $0.op.isDerivativeRequest }), let xName = f.parameterName(x) else { return (f, y, x) }
        var g = f
        g.outputs = [Output(name: "y", value: y)]
        guard let e = try? Differentiator.expand(g), let ex = e.parameters.first(where: { $0.name == xName })?.value,
              let ey = e.outputs.first?.value else { return (f, y, x) }
        return (e, ey, ex)
    }
}
