import Foundation

/// The stages of the pipeline a model goes through, in order.
public enum Stage: String, CaseIterable, Sendable {
    case parsed, differentiated, optimized
}

/// Loading and lowering models: the front half of the pipeline shared by the CLI and the library.
public enum Pipeline {
    /// Reads and parses a `.ir` file. Errors carry the file name, line, column and source line.
    public static func load(path: String) throws(Diagnostic) -> Module {
        try parseModule(bytes: readFile(path: path), file: path)
    }

    /// Parses `.ir` text.
    public static func parse(_ source: String, file: String? = nil) throws(Diagnostic) -> Module {
        try parseModule(source, file: file)
    }

    /// Runs the pipeline up to `stage`.
    /// Each stage takes over its input's graphs (a caller passing its last use of `module`
    /// saves copying them). `timings` gets a mark as each stage ends ("differentiate",
    /// "optimize").
    public static func lower(_ module: consuming Module, to stage: Stage, options: OptimizerOptions = OptimizerOptions(),
                             timings: StageTimings? = nil) throws(Diagnostic) -> Module {
        switch stage {
        case .parsed:
            return module
        case .differentiated:
            timings?.skip()
            let m = try Differentiator.expand(module)
            timings?.mark("differentiate", note: "\(m.nodeCount) nodes")
            return m
        case .optimized:
            timings?.skip()
            var m = try Differentiator.expand(module)
            timings?.mark("differentiate", note: "\(m.nodeCount) nodes")
            for i in m.functions.indices {
                var f = Function(name: "")
                swap(&f, &m.functions[i])
                m.functions[i] = try optimize(consume f, options: options)  // `consume`: else f's reference lives on and the sweep copies
            }
            timings?.mark("optimize", note: "\(m.nodeCount) nodes")
            return m
        }
    }

    /// Picks the function `name`, or the last function of the file (the "main" one).
    public static func function(_ module: Module, named name: String?) throws(Diagnostic) -> Function {
        if let name {
            guard let f = module.function(named: name) else {
                let names = module.functions.map(\.name)
                let defined = "the file defines " + names.map { "'\($0)'" }.joined(separator: ", ")
                let hint = Suggestions.didYouMean(name, among: names).map { "\($0) (\(defined))" } ?? defined
                throw Diagnostic(.unknownFunction(name), hint: names.isEmpty ? nil : hint)
            }
            return f
        }
        guard let last = module.functions.last else { throw Diagnostic(.emptyFile) }
        return last
    }
}

// MARK: Memory limit

/// Default limit on the bytes a function's values may need (4 GiB); `--max-memory` changes it.
public let defaultMemoryLimit = 4 << 30

extension Pipeline {
    /// Refuses, before anything is allocated, a function whose inputs and values together
    /// would need more than `limit` bytes (a model with `f64[100000,100000]` would otherwise
    /// exhaust memory instead of failing with a message).
    public static func checkMemory(_ f: Function, limit: Int = defaultMemoryLimit) throws(Diagnostic) {
        var total = 0
        for node in f.nodes {
            let (bytes, o1) = node.type.count.multipliedReportingOverflow(by: node.type.dtype.byteSize)
            let (sum, o2) = total.addingReportingOverflow(bytes)
            guard !o1, !o2, sum <= limit else {
                throw Diagnostic(.other("function '\(f.name)' needs more than \(formatBytes(limit)) for its values (the value at \(node.location.isKnown ? "line \(node.location.line)" : "node") is \(node.type)); raise the limit with --max-memory BYTES if this is intended"), at: node.location)
            }
            total = sum
        }
    }
}

/// `1.5 GiB`-style size.
public func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024, u < units.count - 1 {
        v /= 1024
        u += 1
    }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

extension Module {
    /// Nodes of every function (loop bodies not counted).
    var nodeCount: Int { functions.reduce(0) { $0 + $1.nodes.count } }
}
