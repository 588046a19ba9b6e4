/// Runs a pipeline of passes to a fixpoint, with the verifier after each pass when asked
/// (always in debug builds).
///
/// A pass is re-run only if another one changed the graph since it last reached its own
/// fixpoint, so a graph that one sweep cleans up costs one sweep and one DCE.
struct PassManager {
    var options: OptimizerOptions

    /// The units the manager runs: with an optimization level, consecutive local passes are
    /// fused into one sweep over the graph (each node sees every pass's rules in pipeline
    /// order; one rebuild instead of one per pass); an explicit `--passes` list runs each
    /// pass on its own.
    var units: [[OptimizerPass]] {
        let pipeline = options.pipeline
        guard options.passes == nil else { return pipeline.map { [$0] } }
        var units: [[OptimizerPass]] = []
        for pass in pipeline {
            if pass != .dce, let last = units.last, !last.contains(.dce) {
                units[units.count - 1].append(pass)
            } else {
                units.append([pass])
            }
        }
        return units
    }

    mutating func run(_ function: consuming Function) throws(Diagnostic) -> Function {
        let units = self.units
        guard !units.isEmpty else { return function }
        if options.verify { try verifyFunction(function, stage: "before optimization") }
        var f = consume function
        // A unit is clean when running it again would change nothing. A local unit's sweep
        // ends at its own fixpoint; another unit's change makes it dirty again, except DCE's:
        // everything a live node depends on is live, so the rules see the same operands (and
        // operands' operands) after DCE, the order is kept (so is CSE's normalization), and
        // CSE loses only dead entries, which no live node equalled.
        var clean = [Bool](repeating: false, count: units.count)
        var round = 0
        while round < options.maxRounds, clean.contains(false) {
            round += 1
            for (k, unit) in units.enumerated() where !clean[k] {
                let before = f.nodes.count
                let start = options.statistics == nil ? nil : ContinuousClock.now
                let outcome = try run(unit, &f)
                if let start, let sink = options.statistics {
                    let elapsed = ContinuousClock.now - start
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                    sink(PassStatistic(passes: unit, round: round, nodesBefore: before, nodesAfter: f.nodes.count,
                                       changed: outcome.changed, seconds: seconds))
                }
                if options.verify {
                    try verifyFunction(f, stage: "after pass '\(unit.map(\.rawValue).joined(separator: "+"))'")
                }
                if outcome.changed {
                    let onlyRemovedDeadCode = unit == [.dce]
                    for j in units.indices where j != k && (!onlyRemovedDeadCode || units[j] == [.dce]) {
                        clean[j] = false
                    }
                }
                clean[k] = outcome.atFixpoint
            }
        }
        if options.verify && !clean.contains(false) { try confirmFixpoint(units, f) }
        return f
    }

    /// Checks, in verifying builds, that no unit changes the optimized function any more (the
    /// bookkeeping above skips those sweeps).
    func confirmFixpoint(_ units: [[OptimizerPass]], _ f: Function) throws(Diagnostic) {
        for unit in units {
            var copy = f
            if try run(unit, &copy).changed {
                throw Diagnostic(.other("internal error: the optimizer stopped before its fixpoint: pass '\(unit.map(\.rawValue).joined(separator: "+"))' still changes the function"))
            }
        }
    }

    /// Runs one pass, or several local passes fused into one sweep.
    func run(_ unit: [OptimizerPass], _ f: inout Function) throws(Diagnostic) -> LocalOutcome {
        if unit.count == 1 { return try runPass(unit[0], &f) }
        var fused = FusedLocalPass(unit, fastMath: options.fastMath, capacity: f.nodes.count)
        return try applyLocal(&fused, to: &f)
    }

    /// Runs one pass; reports whether it changed the function and whether it is at its fixpoint.
    func runPass(_ pass: OptimizerPass, _ f: inout Function) throws(Diagnostic) -> LocalOutcome {
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
            return LocalOutcome(changed: eliminateDeadCode(&f), atFixpoint: true)
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

/// Several local passes in one sweep: at each node, CSE first (an equal earlier node replaces
/// it), then fold, simplify, shapes and stabilize in that order; the first rule that fires
/// wins, and what it builds is seen by the others in the next round.
struct FusedLocalPass: LocalRewrite {
    var cse: CSEPass?
    var fold: FoldPass?
    var simplify: SimplifyPass?
    var shapes: ShapePass?
    var stabilize: StabilizePass?

    init(_ passes: [OptimizerPass], fastMath: Bool, capacity: Int) {
        for pass in passes {
            switch pass {
            case .cse: cse = CSEPass(capacity: capacity)
            case .fold: fold = FoldPass()
            case .simplify: simplify = SimplifyPass(fastMath: fastMath)
            case .shapes: shapes = ShapePass(fastMath: fastMath)
            case .stabilize: stabilize = StabilizePass()
            case .dce: break
            }
        }
    }

    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        if let id = try cse?.rewrite(node, &r) ?? nil { return id }
        guard let id = try others(node, &r) else { return nil }
        cse?.dropPending()  // the node is not kept: CSE's hash of it must not be used for another
        return id
    }

    private mutating func others(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        if let id = try fold?.rewrite(node, &r) ?? nil { return id }
        if let id = try simplify?.rewrite(node, &r) ?? nil { return id }
        if let id = try shapes?.rewrite(node, &r) ?? nil { return id }
        if let id = try stabilize?.rewrite(node, &r) ?? nil { return id }
        return nil
    }

    mutating func kept(_ node: Node, as id: ValueID) {
        cse?.kept(node, as: id)
    }
}
