/// Options of the optimizer.
public struct OptimizerOptions: Sendable {
    /// 0: nothing; 1: cheap cleanups; 2: everything (the default).
    public var level: Int = 2
    public init(level: Int = 2) {
        self.level = level
    }
}

/// Optimizes a function whose derivative requests have been expanded.
/// (Placeholder until the optimizer lands: returns the function unchanged.)
public func optimize(_ function: Function, options: OptimizerOptions = OptimizerOptions()) throws(Diagnostic) -> Function {
    function
}
