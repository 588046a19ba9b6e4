/// The optimizer's passes. Each has one job; the pass manager runs them to a fixpoint.
public enum OptimizerPass: String, CaseIterable, Hashable, Sendable {
    /// Common-subexpression elimination: hash-consing on (op, operands, attributes, type).
    /// `input` leaves are never merged; equal constants are.
    case cse
    /// Constant folding with the reference kernels (`evaluateOp`), so a folded value equals
    /// the run-time value bit for bit.
    case fold
    /// IEEE-safe algebraic simplification (`x·1 → x`, `−−x → x`, …); more under fast-math.
    case simplify
    /// Shape simplification: reshape chains, transpose of transpose, identity reshapes,
    /// broadcasts, slices, pads and casts.
    case shapes
    /// Numerically stable forms: `log(softmax) → log_softmax`, `log(1+x) → log1p`,
    /// `exp(x)−1 → expm1`, `log(sum(exp)) → logsumexp`, softmax cross-entropy fused.
    /// Changes bits by design (more accurate).
    case stabilize
    /// Dead-code elimination: drops nodes no output depends on (parameters always stay).
    case dce

    /// Parses a comma-separated list such as `cse,fold,dce`; `nil` names the first unknown one.
    public static func parseList(_ text: String) -> Result<[OptimizerPass], UnknownPassError> {
        var passes: [OptimizerPass] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let name = part.trimmingWhitespace()
            guard let pass = OptimizerPass(rawValue: name) else {
                return .failure(UnknownPassError(name: name))
            }
            passes.append(pass)
        }
        return .success(passes)
    }
}

/// A pass name that `OptimizerPass.parseList` does not know.
public struct UnknownPassError: Error, Sendable, CustomStringConvertible {
    public var name: String
    public var description: String {
        "unknown pass '\(name)': expected one of \(OptimizerPass.allCases.map(\.rawValue).joined(separator: ", "))"
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// What one run of one pass did, for `--stats`.
public struct PassStatistic: Sendable, CustomStringConvertible {
    /// The pass, or the local passes fused into one sweep (see `OptimizerOptions.pipeline`).
    public var passes: [OptimizerPass]
    /// Fixpoint round (1-based).
    public var round: Int
    public var nodesBefore: Int
    public var nodesAfter: Int
    /// Whether the pass rewrote anything.
    public var changed: Bool
    public var seconds: Double

    public var description: String {
        let name = passes.map(\.rawValue).joined(separator: "+").padding(toLength: 10)
        let ms = (seconds * 1000 * 1000).rounded() / 1000
        return "\(name) round \(round)  \(nodesBefore) → \(nodesAfter) nodes  \(ms) ms"
    }
}

extension String {
    fileprivate func padding(toLength n: Int) -> String {
        count >= n ? self : self + String(repeating: " ", count: n - count)
    }
}

/// Options of the optimizer.
///
/// Levels: `-O0` runs nothing; `-O1` runs the bit-exact passes (fold, simplify, shapes, cse,
/// dce): the optimized function computes exactly the same bits as the unoptimized one (NaN
/// payloads and the sign of a NaN aside); `-O2` (the default) adds `stabilize`, whose rewrites
/// change results on purpose to make them more accurate.
public struct OptimizerOptions: Sendable {
    /// 0: nothing; 1: bit-exact cleanups; 2: everything (the default).
    public var level: Int = 2
    /// An explicit pass list (`--passes=cse,fold,…`), run in this order to a fixpoint;
    /// overrides `level`.
    public var passes: [OptimizerPass]?
    /// Enables rewrites that are not IEEE-exact (`x·0 → 0`, `x−x → 0`, `x/x → 1`, `0/x → 0`,
    /// `x+0 → x`, `x^2 → square(x)`, `sum(broadcast_to(x)) → x·n`). Off by default.
    public var fastMath = false
    /// Runs the verifier after every pass (always in debug builds).
    public var verify: Bool
    /// Largest number of fixpoint rounds.
    public var maxRounds = 8
    /// Receives one record per pass run (`--stats`).
    public var statistics: (@Sendable (PassStatistic) -> Void)?

    public init(level: Int = 2, passes: [OptimizerPass]? = nil, fastMath: Bool = false,
                verify: Bool? = nil, statistics: (@Sendable (PassStatistic) -> Void)? = nil) {
        self.level = level
        self.passes = passes
        self.fastMath = fastMath
        #if DEBUG
        self.verify = verify ?? true
        #else
        self.verify = verify ?? false
        #endif
        self.statistics = statistics
    }

    /// The passes this configuration runs, in order. With a level (no explicit list) the
    /// local passes (all but `dce`) run fused in one sweep per round; `--stats` then reports
    /// the fused group.
    public var pipeline: [OptimizerPass] {
        if let passes { return passes }
        switch level {
        case ...0: return []
        case 1: return [.cse, .fold, .simplify, .shapes, .dce]
        default: return [.cse, .fold, .simplify, .shapes, .stabilize, .dce]
        }
    }
}

/// Optimizes a function whose derivative requests have been expanded. The parameters (their
/// order is the ABI) and the outputs keep their names and types.
///
/// The argument is `consuming`: a caller that passes `consume f` lets the optimizer free the
/// original nodes as soon as the first pass has rebuilt them (peak memory on large graphs).
public func optimize(_ function: consuming Function, options: OptimizerOptions = OptimizerOptions()) throws(Diagnostic) -> Function {
    var manager = PassManager(options: options)
    var f = try manager.run(consume function)
    guard !f.bodies.isEmpty else { return f }
    try optimizeBodies(&f, options: options)
    // Loops: prune and hoist on the optimized bodies (Pass+Loops.swift; CSE has merged what a
    // body computes twice, so it is hoisted once), then clean up what that leaves, a few
    // times (hoisting can leave an invariant only hoisted nodes read). The new bodies are
    // parts of optimized ones: they are not optimized again (nested loops would be, once per
    // level).
    if options.pipeline.contains(.dce) {
        var rounds = 0
        while rounds < 3, try optimizeLoops(&f) {
            f = try manager.run(f)
            rounds += 1
        }
        if rounds > 0 { dropUnusedBodies(&f) }
    }
    return f
}

/// Loop bodies are optimized like functions (their parameters and outputs are the loop's
/// interface, kept as they are), innermost first; bodies no loop runs any more — the
/// differentiation pass leaves a loop's untaped body behind — are dropped and the rest
/// renumbered.
func optimizeBodies(_ f: inout Function, options: OptimizerOptions) throws(Diagnostic) {
    dropUnusedBodies(&f)
    for k in f.bodies.indices { f.bodies[k] = try optimize(f.bodies[k], options: options) }
}

/// Drops the bodies no loop of `f` runs and renumbers the rest.
func dropUnusedBodies(_ f: inout Function) {
    var used = [Bool](repeating: false, count: f.bodies.count)
    for node in f.nodes where node.op == .scan {
        if let k = node.attrs.int(.body), k >= 0, k < used.count { used[k] = true }
    }
    var renumbered = [Int](repeating: -1, count: f.bodies.count)
    var kept: [Function] = []
    for (k, body) in f.bodies.enumerated() where used[k] {
        renumbered[k] = kept.count
        kept.append(body)
    }
    for id in f.nodes.indices where f.nodes[id].op == .scan {
        if let k = f.nodes[id].attrs.int(.body), k >= 0, k < renumbered.count { f.nodes[id].attrs[.body] = .int(renumbered[k]) }
    }
    f.bodies = kept
}
