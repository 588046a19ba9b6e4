import Foundation
import Grad

/// `GradBench scale --n N [--n N …] [--repeat R] [--vector]`: the optimizer scale benchmark.
///
/// The Rosenbrock function written element by element over N scalar parameters,
///
/// ```
/// f(x) = Σ_{i<N−1} 100·(x[i+1] − x[i]^2)^2 + (1 − x[i])^2
/// ```
///
/// with its gradient with respect to every x[i], is generated two ways: with `GraphBuilder`
/// (timed alone, then dropped) and as `.ir` text, which is parsed, differentiated and
/// optimized (-O2), each stage's input released once the next stage has it. Prints times,
/// node counts and the peak RSS of the process (getrusage).
///
/// `--vector`: the same sum over one parameter `x: f64[N]` read element by element (`x[i]`),
/// as one expression, the model of `Scripts/bench/rosenbrock_vector.py` (issue 16); the
/// builder column is then not measured.
enum ScaleBenchmark {
    static func run(_ args: [String]) throws {
        var sizes: [Int] = []
        var repeats = 3
        var stats = false
        var unfused = false
        var vector = false
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--n":
                guard i + 1 < args.count, let n = Int(args[i + 1]), n >= 2 else { throw BenchError("--n needs an integer ≥ 2") }
                sizes.append(n)
                i += 2
            case "--repeat":
                guard i + 1 < args.count, let r = Int(args[i + 1]), r >= 1 else { throw BenchError("--repeat needs a positive integer") }
                repeats = r
                i += 2
            case "--unfused":
                unfused = true
                i += 1
            case "--stats":
                stats = true
                i += 1
            case "--vector":
                vector = true
                i += 1
            default:
                throw BenchError("unknown option '\(args[i])'; usage: GradBench scale [--n N]… [--repeat R] [--stats] [--unfused] [--vector]")
            }
        }
        if sizes.isEmpty { sizes = [10_000, 100_000] }
        var options = OptimizerOptions(level: 2, verify: false)
        if unfused {
            options.passes = options.pipeline
        }
        if stats {
            options.statistics = { (s: PassStatistic) in print("  \(s)") }
        }
        print("Rosenbrock, element by element, gradient w.r.t. \(vector ? "x: f64[N], read as x[i]" : "all N scalars"); best of \(repeats); times in seconds")
        print("N        parse    build    diff     opt      diff+opt parse+diff+opt  nodes: parsed  diff      opt      peakRSS")
        for n in sizes {
            var best = [Double](repeating: .infinity, count: 4)
            var counts = (0, 0, 0)
            for _ in 0..<repeats {
                // The builder graph is timed on its own and dropped; the pipeline below is
                // parse → differentiate → optimize on the parsed function.
                let t0 = now()
                let builtCount = vector ? 0 : try rosenbrockGraph(n).nodes.count
                let t1 = now()
                let text = vector ? rosenbrockVectorText(n) : rosenbrockText(n)
                let t2 = now()
                let parsed = try parseModule(text, file: "rosenbrock.ir").functions.first ?? Function(name: "empty")
                let t3 = now()
                let parsedCount = parsed.nodes.count
                // Each stage hands its graph to the next (as `Pipeline.lower` does).
                let differentiated = try Differentiator.expand(consume parsed)
                let t4 = now()
                let differentiatedCount = differentiated.nodes.count
                let optimized = try optimize(consume differentiated, options: options)
                let t5 = now()
                best[0] = min(best[0], t3 - t2)
                best[1] = min(best[1], t1 - t0)
                best[2] = min(best[2], t4 - t3)
                best[3] = min(best[3], t5 - t4)
                counts = (parsedCount, differentiatedCount, optimized.nodes.count)
                if !vector, builtCount != parsedCount {
                    print("note: the builder graph has \(builtCount) nodes, the parsed one \(parsedCount)")
                }
            }
            let row = [
                String(n).padded(8),
                fmt(best[0]), fmt(best[1]), fmt(best[2]), fmt(best[3]), fmt(best[2] + best[3]),
                fmt(best[0] + best[2] + best[3]).padded(15),
                String(counts.0).padded(14), String(counts.1).padded(9), String(counts.2).padded(8),
                "\(peakRSSMegabytes()) MB",
            ]
            print(row.joined(separator: " "))
        }
    }

    /// The `.ir` text: one statement per term and one per partial sum (no deep nesting).
    static func rosenbrockText(_ n: Int) -> String {
        var s = "func rosenbrock("
        s += (0..<n).map { "x\($0): f64" }.joined(separator: ", ")
        s += ") {\n"
        for i in 0..<(n - 1) {
            s += "  t\(i) = 100 * (x\(i + 1) - x\(i) ^ 2) ^ 2 + (1 - x\(i)) ^ 2\n"
            s += i == 0 ? "  s0 = t0\n" : "  s\(i) = s\(i - 1) + t\(i)\n"
        }
        s += "  return s\(n - 2), grad(s\(n - 2), " + (0..<n).map { "x\($0)" }.joined(separator: ", ") + ")\n}\n"
        return s
    }

    /// The vector form: `x: f64[N]`, one expression of element reads (the text of
    /// `Scripts/bench/rosenbrock_vector.py`).
    static func rosenbrockVectorText(_ n: Int) -> String {
        let terms = (0..<(n - 1)).map { "100 * (x[\($0 + 1)] - x[\($0)]^2)^2 + (1 - x[\($0)])^2" }
        return "func rosenbrock(x: f64[\(n)]) {\n  f = " + terms.joined(separator: " + ") + "\n  return f, grad(f, x)\n}\n"
    }

    /// The same graph built with `GraphBuilder` (a constant node per literal, `^ 2` as `square`,
/// like the parser).
    static func rosenbrockGraph(_ n: Int) throws(Diagnostic) -> Function {
        var b = GraphBuilder(name: "rosenbrock")
        let scalar = TensorType(.f64)
        var xs: [ValueID] = []
        xs.reserveCapacity(n)
        for i in 0..<n { xs.append(try b.parameter("x\(i)", scalar, nameIsUnique: true)) }
        var total: ValueID? = nil
        for i in 0..<(n - 1) {
            // The parser reads `x ^ 2` (a literal 2) as square(x).
            let sq = try b.unary(.square, xs[i])
            let d = try b.binary(.sub, xs[i + 1], sq)
            let d2 = try b.unary(.square, d)
            let a = try b.binary(.mul, b.constant(100, scalar), d2)
            let e = try b.binary(.sub, b.constant(1, scalar), xs[i])
            let e2 = try b.unary(.square, e)
            let t = try b.binary(.add, a, e2)
            total = try total.map { (s: ValueID) throws(Diagnostic) -> ValueID in try b.binary(.add, s, t) } ?? t
        }
        guard let s = total else { throw Diagnostic(.other("rosenbrock needs n ≥ 2")) }
        b.function.outputs = [Output(name: "f", value: s)]
        for (i, x) in xs.enumerated() {
            let g = try b.add(.grad, [s, x])
            b.function.outputs.append(Output(name: "g\(i)", value: g))
        }
        return b.function
    }

    /// Wall-clock time, or with `GRADBENCH_CPU_TIME=1` the thread's CPU time (steadier on a
    /// loaded machine; the pipeline is single-threaded).
    static func now() -> Double {
        var t = timespec()
        clock_gettime(useCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    static let useCPUTime = ProcessInfo.processInfo.environment["GRADBENCH_CPU_TIME"] == "1"

    static func peakRSSMegabytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss / 1024  // Linux: kilobytes
    }

    static func fmt(_ v: Double) -> String {
        String(format: "%.3f", v).padded(8)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
