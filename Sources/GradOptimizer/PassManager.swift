/// Runs a pipeline of passes to a fixpoint, with the verifier after each pass when asked
/// (always in debug builds).
///
/// A pass is re-run only if the graph changed since it last ran, so the final round, which
/// confirms the fixpoint, costs one scan per pass at most.
struct PassManager {
    var options: OptimizerOptions

    mutating func run(_ function: Function) throws(Diagnostic) -> Function {
        let pipeline = options.pipeline
        guard !pipeline.isEmpty else { return function }
        if options.verify { try verifyFunction(function, stage: "before optimization") }
        var f = function
        var version = 0
        var lastRun: [OptimizerPass: Int] = [:]
        var round = 0
        while round < options.maxRounds {
            round += 1
            var changedThisRound = false
            for pass in pipeline where lastRun[pass] != version {
                let before = f.nodes.count
                let start = options.statistics == nil ? nil : ContinuousClock.now
                let changed = try runPass(pass, &f)
                if let start, let sink = options.statistics {
                    let elapsed = ContinuousClock.now - start
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                    sink(PassStatistic(pass: pass, round: round, nodesBefore: before, nodesAfter: f.nodes.count,
                                       changed: changed, seconds: seconds))
                }
                if options.verify { try verifyFunction(f, stage: "after pass '\(pass.rawValue)'") }
                if changed {
                    version += 1
                    changedThisRound = true
                }
                lastRun[pass] = version
            }
            if !changedThisRound { break }
        }
        return f
    }

    /// Runs one pass; returns whether it changed the function.
    func runPass(_ pass: OptimizerPass, _ f: inout Function) throws(Diagnostic) -> Bool {
        switch pass {
        case .cse:
            var p = CSEPass(capacity: f.nodes.count)
            return try applyLocal(&p, to: &f)
        case .fold:
            var p = FoldPass()
            return try applyLocal(&p, to: &f)
        case .simplify:
            var p = SimplifyPass(fastMath: options.fastMath)
            return try applyLocal(&p, to: &f)
        case .shapes:
            var p = ShapePass(fastMath: options.fastMath)
            return try applyLocal(&p, to: &f)
        case .stabilize:
            var p = StabilizePass()
            return try applyLocal(&p, to: &f)
        case .dce:
            return eliminateDeadCode(&f)
        }
    }
}

/// Runs one pass by name on a function (for tests and tools): no fixpoint, no verifier.
public func runOptimizerPass(_ pass: OptimizerPass, on function: Function, fastMath: Bool = false) throws(Diagnostic) -> Function {
    var f = function
    let manager = PassManager(options: OptimizerOptions(level: 0, passes: [pass], fastMath: fastMath, verify: false))
    _ = try manager.runPass(pass, &f)
    return f
}
