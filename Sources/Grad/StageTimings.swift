import Foundation

/// `--timings`: the wall time of each stage of a compile and the process's peak resident set
/// size after it, reported as one line per stage (to stderr by the CLI).
///
/// A stage is timed from the previous mark (or from `init`) to `mark(_:)`, so phases reported
/// by a callee (`ExecutionPlan`'s `onPhase`, the VM's) fit between the caller's marks.
public final class StageTimings {
    /// Each stage as it ends: name, seconds, peak RSS in bytes.
    public private(set) var stages: [(name: String, seconds: Double, peakRSS: Int)] = []
    private var last: Double
    private let report: (String) -> Void

    /// `report` receives each stage's line as the stage ends.
    public init(report: @escaping (String) -> Void) {
        self.report = report
        last = StageTimings.now()
    }

    /// Ends the stage `name` (started at the previous mark); `note` is appended to its line.
    public func mark(_ name: String, note: String? = nil) {
        let t = StageTimings.now()
        let seconds = t - last
        let rss = StageTimings.peakRSS()
        stages.append((name, seconds, rss))
        report(Self.line(name, seconds, rss) + (note.map { "   " + $0 } ?? ""))
        last = StageTimings.now()  // the getrusage and the report are not part of the next stage
    }

    /// Reports a stage timed by the caller (`seconds`, e.g. the best of several runs); the
    /// clock restarts.
    public func record(_ name: String, seconds: Double, note: String? = nil) {
        let rss = StageTimings.peakRSS()
        stages.append((name, seconds, rss))
        report(Self.line(name, seconds, rss) + (note.map { "   " + $0 } ?? ""))
        last = StageTimings.now()
    }

    /// The best of `repeats` runs of `body`, in seconds.
    public static func best(of repeats: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t = now()
            body()
            best = min(best, now() - t)
        }
        return best
    }

    /// A callback for a callee's `onPhase` (`ExecutionPlan`, `BytecodeProgram`,
    /// `VirtualMachine`): each phase is marked as `prefix` + its name.
    public func phases(_ prefix: String) -> (String) -> Void {
        { [self] phase in mark(prefix + phase) }
    }

    /// Seconds since the last mark (the stage running now).
    public func sinceLastMark() -> Double { StageTimings.now() - last }

    /// Reports a line that is not a stage (a count, a size), after `timing: `; the clock runs on.
    public func info(_ text: String) { report("timing: " + text) }

    /// Restarts the clock without reporting (work between stages that is not a stage).
    public func skip() { last = StageTimings.now() }

    /// Runs `body` as stage `name`.
    public func measure<T, E: Error>(_ name: String, _ body: () throws(E) -> T) throws(E) -> T {
        skip()
        let result = try body()
        mark(name)
        return result
    }

    /// `timing: NAME  SECONDS s  peak RSS MB`, aligned.
    public static func line(_ name: String, _ seconds: Double, _ peakRSS: Int) -> String {
        let padded = name.count < 28 ? name + String(repeating: " ", count: 28 - name.count) : name
        return "timing: " + padded + String(format: " %10.4f s   peak RSS %8.1f MB", seconds, Double(peakRSS) / 1_048_576)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The process's peak resident set size so far, in bytes (getrusage).
    public static func peakRSS() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        #if os(Linux)
        return usage.ru_maxrss * 1024  // kilobytes
        #else
        return usage.ru_maxrss  // bytes
        #endif
    }
}
