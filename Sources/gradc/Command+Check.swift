import Foundation
import Grad

enum CheckCommand {
    static let help = """
    usage: gradc check MODEL.ir [--func NAME] [--input NAME=SPEC]… [--seed N] [--max-elements K] [--rtol R] [--atol A]

    Evaluates every grad, jacobian, hessian, jvp and hvp in the file (every function, or only
    --func) at random (or given) inputs and compares it with central finite differences of the
    differentiated value (for jvp and hvp, one difference along the tangents). Prints one row per derivative, named as in the model
    (dloss_dw1 = grad(loss, w1)): the max absolute and relative error. Exits with 1 when
    any derivative is off. MODEL.ir may be - (standard input).

      --func NAME         check only this function
      --input NAME=SPEC   as for gradc run (applies to functions that have that input)
      --seed N            seed for random inputs and sampled elements (default 1)
      --max-elements K    perturb at most K elements of each x (default 64)
      --max-memory BYTES  refuse models whose values need more (default 4 GiB)
      --rtol R, --atol A  tolerances (default f64: 1e-6, 1e-7; f32: 1e-2, 1e-3)
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: ["--max-memory", "--func", "--input", "--seed", "--max-elements", "--rtol", "--atol"], flags: ["--help", "-h"])
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let model = try o.model()
        let module = try model.module()
        let functions = o.value("--func") == nil ? module.functions : [try model.function(module, o)]
        var options = CheckOptions()
        options.seed = try parseSeed(o.value("--seed"))
        if let k = o.value("--max-elements") {
            guard let v = Int(k), v > 0 else { throw UsageError(message: "--max-elements expects a positive integer") }
            options.maxElements = v
        }
        if let r = o.value("--rtol") {
            guard let v = Double(r) else { throw UsageError(message: "--rtol expects a number") }
            options.relativeTolerance = v
        }
        if let a = o.value("--atol") {
            guard let v = Double(a) else { throw UsageError(message: "--atol expects a number") }
            options.absoluteTolerance = v
        }
        var rows: [[String]] = [["function", "derivative", "type", "compared", "max abs err", "max rel err", "result"]]
        var failed = 0
        var total = 0
        var hints: [String] = []
        for f in functions {
            let specs = (o.values["--input"] ?? []).filter { spec in
                f.parameters.contains { spec.hasPrefix($0.name + "=") }
            }
            let limit = try memoryLimit(o)
            try model.located { try Pipeline.checkMemory(Differentiator.expand(f), limit: limit) }
            let inputs = try makeInputs(for: f, specs: specs, seed: options.seed)
            for r in try model.located({ try GradientChecker.check(f, inputs: inputs, options: options) }) {
                total += 1
                if !r.passed { failed += 1 }
                if let h = r.hint, !hints.contains(h) { hints.append(h) }
                rows.append([f.name, sourceLabel(r, in: f, model: model), r.type.description, String(r.compared),
                             String(format: "%.2e", r.maxAbsError), String(format: "%.2e", r.maxRelError),
                             r.passed ? "ok" : "FAIL" + (r.note.map { " (\($0))" } ?? "")])
            }
        }
        if total == 0 {
            print("no grad, jacobian or hessian in \(model.name)")
            return .ok
        }
        print(formatTable(rows))
        print("\(total - failed) passed, \(failed) failed")
        for h in hints { print("hint: \(h)") }
        return failed == 0 ? .ok : .checkFailed
    }
}

/// A check's label in the words of the model: `dloss_dw1 = grad(loss, w1)` where the
/// library's label says `grad(%12, w1)` (the graph keeps no names of intermediate values).
/// The request's node points at its call in the source, whose arguments are taken as
/// written; the library's label when they cannot be read.
func sourceLabel(_ r: DerivativeCheck, in f: Function, model: ModelFile) -> String {
    let node = f.nodes[r.request]
    guard node.inputs.count == 2, let args = callArguments(at: node.location, in: model.bytes), args.count >= 2 else { return r.label }
    // grad(y, x1, x2, …) made one node per x, in order, all at the call.
    let k = f.nodes[..<r.request].filter { $0.op == node.op && $0.location == node.location && $0.inputs.first == node.inputs[0] }.count
    guard 1 + k < args.count else { return r.label }
    var x = args[1 + k]
    if let p = f.parameterName(node.inputs[1]), p != x { x = p }
    let request = "\(node.op.name)(\(args[0]), \(x))"
    guard let out = f.outputs.first(where: { $0.value == r.request }) else { return request }
    return "\(out.name) = \(request)"
}

/// The arguments of the call whose name starts at `location`, as written (comments dropped,
/// runs of blanks and newlines made one space, each cut at 40 characters); `nil` if there is
/// no call there.
func callArguments(at location: SourceLocation, in bytes: [UInt8]) -> [String]? {
    guard location.isKnown, var i = Suggestions.byteOffset(of: location, in: bytes) else { return nil }
    let isNameByte = { (b: UInt8) in b == 0x5F || (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
    while i < bytes.count, isNameByte(bytes[i]) { i += 1 }
    while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
    guard i < bytes.count, bytes[i] == UInt8(ascii: "(") else { return nil }
    i += 1
    var args: [String] = []
    var current: [UInt8] = []
    var depth = 0
    func finish() {
        let words = String(decoding: current, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        let text = words.joined(separator: " ")
        args.append(text.count > 40 ? String(text.prefix(39)) + "…" : text)
        current = []
    }
    while i < bytes.count {
        let b = bytes[i]
        i += 1
        switch b {
        case UInt8(ascii: "#"):
            while i < bytes.count, bytes[i] != 0x0A { i += 1 }
        case UInt8(ascii: "("), UInt8(ascii: "["):
            depth += 1
            current.append(b)
        case UInt8(ascii: ")") where depth == 0:
            finish()
            return args
        case UInt8(ascii: ")"), UInt8(ascii: "]"):
            depth -= 1
            current.append(b)
        case UInt8(ascii: ",") where depth == 0:
            finish()
        default:
            current.append(b)
        }
    }
    return nil
}

/// Left-aligned text table with a rule under the header.
func formatTable(_ rows: [[String]]) -> String {
    guard let header = rows.first else { return "" }
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() where i < widths.count {
            widths[i] = max(widths[i], cell.count)
        }
    }
    func line(_ row: [String]) -> String {
        row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    var out = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
    out += rows.dropFirst().map(line)
    return out.joined(separator: "\n")
}
