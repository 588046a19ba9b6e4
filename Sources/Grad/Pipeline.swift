import Foundation

/// The stages of the pipeline a model goes through, in order.
public enum Stage: String, CaseIterable, Sendable {
    case parsed, differentiated, optimized
}

/// Loading and lowering models: the front half of the pipeline shared by the CLI and the library.
public enum Pipeline {
    /// Reads and parses a `.ir` file. Errors carry the file name, line, column and source line.
    public static func load(path: String) throws(Diagnostic) -> Module {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Diagnostic(.io("cannot read '\(path)'"))
        }
        return try parseModule(bytes: [UInt8](data), file: path)
    }

    /// Parses `.ir` text.
    public static func parse(_ source: String, file: String? = nil) throws(Diagnostic) -> Module {
        try parseModule(source, file: file)
    }

    /// Runs the pipeline up to `stage`.
    public static func lower(_ module: Module, to stage: Stage, options: OptimizerOptions = OptimizerOptions()) throws(Diagnostic) -> Module {
        switch stage {
        case .parsed:
            return module
        case .differentiated:
            return try Differentiator.expand(module)
        case .optimized:
            var m = try Differentiator.expand(module)
            for i in m.functions.indices {
                m.functions[i] = try optimize(m.functions[i], options: options)
            }
            return m
        }
    }

    /// Picks the function `name`, or the last function of the file (the "main" one).
    public static func function(_ module: Module, named name: String?) throws(Diagnostic) -> Function {
        if let name {
            guard let f = module.function(named: name) else {
                let known = module.functions.map(\.name).joined(separator: ", ")
                throw Diagnostic(.unknownFunction(name + (known.isEmpty ? "" : " (the file defines: \(known))")))
            }
            return f
        }
        guard let last = module.functions.last else { throw Diagnostic(.emptyFile) }
        return last
    }
}
