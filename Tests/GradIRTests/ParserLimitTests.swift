@testable import GradIR
import XCTest

/// Small files that used to make the parser use unbounded memory or quadratic time
/// (issue 13 §2): inlining without a budget, and quadratic steps reachable from a file.
final class ParserLimitTests: XCTestCase {
    /// `depth + 1` two-line functions, each calling the previous one twice: g0 has 3 nodes
    /// (x, 2, x * 2) and g_k has 3·2^k, so the whole file 3·(2^(depth+1) − 1).
    static func doublingChain(depth: Int) -> String {
        var s = "func g0(x: f64) {\n  return x * 2\n}\n"
        for k in 1...depth {
            s += "func g\(k)(x: f64) {\n  return g\(k - 1)(x) + g\(k - 1)(x)\n}\n"
        }
        return s
    }

    /// With a budget of 1000: before g8, the file has 3·(2⁸ − 1) = 765 nodes; g8's first call
    /// adds its parameter and 3·2⁷ − 1 = 383 copied nodes, 1149 in all. g8's body is line 26.
    func testInliningBudgetIsALocatedError() throws {
        var limits = ParseLimits()
        limits.maxInlinedNodes = 1000
        XCTAssertThrowsError(try parseModule(Self.doublingChain(depth: 40), file: "chain.ir", limits: limits)) { e in
            guard let d = e as? Diagnostic else { return XCTFail("\(e)") }
            XCTAssertEqual(d.kind, .inliningBudgetExceeded(callee: "g7", nodes: 1149, limit: 1000))
            XCTAssertEqual(d.location, SourceLocation(line: 26, column: 10))
            XCTAssertEqual(d.description, """
                chain.ir:26:10: error: inlining this call of 'g7' would give the file 1149 nodes, more than the inlining budget of 1000 (ParseLimits.maxInlinedNodes): every call copies the callee, so functions that call each other several times grow exponentially
                  return g7(x) + g7(x)
                         ^
                """)
        }
        // Up to g7 the file has 765 nodes: within the budget.
        let module = try parseModule(Self.doublingChain(depth: 7), limits: limits)
        XCTAssertEqual(module.functions.map(\.nodes.count).reduce(0, +), 765)
    }

    /// The file (40 levels, 2⁴⁰ nodes) under the default budget of 4 Mi nodes: g20's
    /// first call would give 3·(2²⁰ − 1) + 1 + 3·2¹⁹ − 1 = 4 718 589 nodes.
    func testDefaultBudgetStopsTheDoublingChain() {
        XCTAssertEqual(ParseLimits().maxInlinedNodes, 1 << 22)
        XCTAssertThrowsError(try parseModule(Self.doublingChain(depth: 40), file: "chain.ir")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .inliningBudgetExceeded(callee: "g19", nodes: 4_718_589, limit: 1 << 22))
            XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 62, column: 10))
        }
    }

    /// The search a name repeats from `_2` every time, as the parser did (quadratic).
    static func naiveUnique(_ bases: [String]) -> (names: [String], probes: Int) {
        var used = Set<String>()
        var probes = 0
        let names = bases.map { base -> String in
            var name = base
            var suffix = 2
            probes += 1
            while !used.insert(name).inserted {
                name = "\(base)_\(suffix)"
                suffix += 1
                probes += 1
            }
            return name
        }
        return (names, probes)
    }

    /// `return x, x, …` with 20 000 repeats took a minute: every repeat tried every suffix.
    /// The names are those of the naive search; the probes are linear in the count.
    func testRepeatedOutputNamesAreLinear() throws {
        let n = 20_000
        var names = UniqueNames()
        let unique = (0..<n).map { _ in names.unique("x") }
        XCTAssertEqual(unique, ["x"] + (2...n).map { "x_\($0)" })
        XCTAssertLessThanOrEqual(names.probes, 2 * n)

        // Mixed with explicit names that take suffixes ahead of the repeats.
        var rng = SystemRandomNumberGenerator()
        let pool = ["x", "y", "x_2", "x_4", "x_2_2", "y_3", "out0"]
        let bases = (0..<500).map { _ in pool.randomElement(using: &rng) ?? "x" }
        var mixed = UniqueNames()
        XCTAssertEqual(bases.map { mixed.unique($0) }, Self.naiveUnique(bases).names, "\(bases)")

        // Through the parser.
        let source = "func f(x: f64) {\n  return " + Array(repeating: "x", count: n).joined(separator: ", ") + "\n}\n"
        let f = try XCTUnwrap(parseModule(source).functions.first)
        XCTAssertEqual(f.outputs.map(\.name), unique)
    }

    /// 10⁵ one-line functions took 44 s: each definition searched (and copied) every earlier
    /// function for a duplicate name, each call searched them for the callee. 20 000 of them,
    /// each calling the previous one, parse in about 1 s in a debug build; the quadratic search
    /// took over a minute. (A bound, not a timing: 30 s is far from both.)
    func testManyFunctionsParseInLinearTime() throws {
        let n = 20_000
        var source = "func f0(x: f64) { return x }\n"
        for k in 1..<n { source += "func f\(k)(x: f64) { return f\(k - 1)(x) }\n" }
        let started = Date()
        let module = try parseModule(source)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        XCTAssertEqual(module.functions.count, n)
        XCTAssertEqual(module.functions.last?.nodes.count, 1)
        XCTAssertThrowsError(try parseModule(source + "func f7(x: f64) { return x }\n")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .duplicateFunction("f7"))
        }
    }
}
