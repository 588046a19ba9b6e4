import Foundation
import Grad

enum CheckCommand {
    static let help = """
    usage: gradc check MODEL.ir [--func NAME] [--input NAME=SPEC]… [--seed N] [--max-elements K] [--rtol R] [--atol A]

    Evaluates every grad, jacobian and hessian in the file (every function, or only --func)
    at random (or given) inputs and compares it with central finite differences of the
    differentiated value. Prints one row per derivative: the max absolute and relative
    error. Exits with 1 when any derivative is off.

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
        let path = try o.modelPath()
        let module = try Pipeline.load(path: path)
        let functions = try o.value("--func").map { [try Pipeline.function(module, named: $0)] } ?? module.functions
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
            try located(path) { try Pipeline.checkMemory(Differentiator.expand(f), limit: limit) }
            let inputs = try makeInputs(for: f, specs: specs, seed: options.seed)
            for r in try located(path, { try GradientChecker.check(f, inputs: inputs, options: options) }) {
                total += 1
                if !r.passed { failed += 1 }
                if let h = r.hint, !hints.contains(h) { hints.append(h) }
                rows.append([f.name, r.label, r.type.description, String(r.compared),
                             String(format: "%.2e", r.maxAbsError), String(format: "%.2e", r.maxRelError),
                             r.passed ? "ok" : "FAIL" + (r.note.map { " (\($0))" } ?? "")])
            }
        }
        if total == 0 {
            print("no grad, jacobian or hessian in \(path)")
            return .ok
        }
        print(formatTable(rows))
        print("\(total - failed) passed, \(failed) failed")
        for h in hints { print("hint: \(h)") }
        return failed == 0 ? .ok : .checkFailed
    }
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
