import Foundation
import XCTest
@testable import GradBenchTool

/// det: the recorded cases of the suite's manual tool, a direct recursive expansion by minors
/// (the eval's `det_of_minor`, no sharing) on random matrices, exact hand-computed cases, the
/// gradient against central differences, and bad inputs.
final class DetTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let tool = GradBenchTool(modelsDirectory: GradBenchTool.defaultModelsDirectory)

    func response(_ function: String, _ input: [String: Any]) throws -> [String: Any] {
        XCTAssertEqual(tool.respond(to: ["id": 0, "kind": "define", "module": "det"])?["success"] as? Bool, true)
        return try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": "det", "function": function, "input": input]))
    }

    func evaluate(_ function: String, _ a: [Double], ell: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [Double] {
        let r = try response(function, ["A": a, "ell": ell])
        guard r["success"] as? Bool == true else {
            XCTFail("det.\(function) failed: \(r["error"] ?? "?")", file: file, line: line)
            throw ToolError("failed")
        }
        if function == "primal" { return [try XCTUnwrap(r["output"] as? Double, file: file, line: line)] }
        return try XCTUnwrap(r["output"] as? [Double], file: file, line: line)
    }

    func determinant(_ a: [Double], ell: Int) throws -> Double { try evaluate("primal", a, ell: ell)[0] }
    func gradient(_ a: [Double], ell: Int) throws -> [Double] { try evaluate("gradient", a, ell: ell) }

    // MARK: - The definition, directly

    /// The eval's `det_of_minor`: the minor of `rows` × `columns` (both increasing) expanded
    /// along its first row, the signed terms added in column order from 0; the 0 × 0 minor is 1.
    static func minor(_ a: [Double], _ ell: Int, rows: [Int], columns: [Int]) -> Double {
        guard let r = rows.first else { return 1 }
        if columns.count == 1 { return a[r * ell + columns[0]] }
        var d = 0.0
        for j in columns.indices {
            var rest = columns
            rest.remove(at: j)
            let term = a[r * ell + columns[j]] * minor(a, ell, rows: Array(rows.dropFirst()), columns: rest)
            d = j % 2 == 0 ? d + term : d - term
        }
        return d
    }

    static func directDeterminant(_ a: [Double], ell: Int) -> Double {
        minor(a, ell, rows: Array(0..<ell), columns: Array(0..<ell))
    }

    /// The cofactors (−1)^(i+j) · M_ij, each minor by the same expansion (the manual tool's gradient).
    static func directGradient(_ a: [Double], ell: Int) -> [Double] {
        var g: [Double] = []
        for i in 0..<ell {
            for j in 0..<ell {
                let m = minor(a, ell, rows: (0..<ell).filter { $0 != i }, columns: (0..<ell).filter { $0 != j })
                g.append((i + j) % 2 == 0 ? m : -m)
            }
        }
        return g
    }

    /// SplitMix64: uniform doubles in [−1, 1), the same on every run.
    struct Random {
        var state: UInt64
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(1 << 52) - 1
        }
    }

    // MARK: - Recorded cases

    /// The recorded cases: ../shared/gradbench when present, else the copy in Tests/Fixtures.
    func recordedCases() throws -> [[String: Any]] {
        let shared = Self.root.appendingPathComponent("../shared/gradbench/det.jsonl").standardized
        let fixture = Self.root.appendingPathComponent("Tests/Fixtures/gradbench/det.jsonl")
        let text = try (try? String(contentsOf: shared, encoding: .utf8)) ?? String(contentsOf: fixture, encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// ℓ = 5, 6, 7, primal and gradient, against the manual tool's outputs: the suite's
    /// tolerance, and much closer (the primal is the same sums in the same order; the gradient
    /// is the reverse sweep of them, where manual expands each cofactor).
    func testRecordedCasesMatchTheReferenceTool() throws {
        let cases = try recordedCases()
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let function = try XCTUnwrap(c["function"] as? String)
            let input = try XCTUnwrap(c["input"] as? [String: Any])
            let a = try XCTUnwrap(input["A"] as? [Double])
            let ell = try XCTUnwrap(input["ell"] as? Int)
            let expected = function == "primal" ? [try XCTUnwrap(c["output"] as? Double)] : try XCTUnwrap(c["output"] as? [Double])
            let actual = try evaluate(function, a, ell: ell)
            XCTAssertEqual(actual.count, expected.count)
            let relative = zip(expected, actual).map { abs($0 - $1) / max(1, abs($0) + abs($1)) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(relative, 1e-4, "\(function) ℓ = \(ell): the suite's tolerance")
            XCTAssertLessThanOrEqual(relative, 1e-15, "\(function) ℓ = \(ell): rounding")
            print("det.\(function) ℓ = \(ell): largest error against manual \(relative)")
            if function == "primal" {
                // The same sums in the same order as the definition, to the last bit. (Not
                // manual's double: its compiler may contract a·b + c, and Foundation's JSON
                // reader on Linux rounds some inputs an ulp off.)
                XCTAssertEqual(actual[0], Self.directDeterminant(a, ell: ell), "primal ℓ = \(ell)")
            }
        }
    }

    // MARK: - Against the definition

    /// Random matrices, ℓ = 1 … 7: the determinant equals the direct recursive expansion (the
    /// same products and sums, so equal to the last bit), the gradient its cofactors to rounding.
    func testAgainstTheRecursiveExpansion() throws {
        var random = Random(state: 19)
        for ell in 1...7 {
            for _ in 0..<2 {
                let a = (0..<(ell * ell)).map { _ in random.next() }
                let d = try determinant(a, ell: ell)
                XCTAssertEqual(d, Self.directDeterminant(a, ell: ell), "ℓ = \(ell)")
                let g = try gradient(a, ell: ell)
                let expected = Self.directGradient(a, ell: ell)
                XCTAssertEqual(g.count, ell * ell)
                for (k, (x, y)) in zip(g, expected).enumerated() {
                    XCTAssertEqual(x, y, accuracy: 1e-13 * max(1, abs(y)), "ℓ = \(ell), element \(k)")
                }
            }
        }
    }

    /// The gradient against central differences at ℓ = 5: det is linear in each element, so
    /// the difference quotient is exact but for rounding.
    func testGradientAgainstCentralDifferences() throws {
        var random = Random(state: 7)
        let ell = 5
        let a = (0..<(ell * ell)).map { _ in random.next() }
        let g = try gradient(a, ell: ell)
        let h = 1e-4
        for k in a.indices {
            var plus = a, minus = a
            plus[k] += h
            minus[k] -= h
            let fd = (try determinant(plus, ell: ell) - determinant(minus, ell: ell)) / (2 * h)
            XCTAssertEqual(g[k], fd, accuracy: 1e-10, "element \(k)")
        }
    }

    // MARK: - Hand-computed cases

    func testHandComputedCases() throws {
        // ℓ = 1: the element; its derivative 1.
        XCTAssertEqual(try determinant([-2.5], ell: 1), -2.5)
        XCTAssertEqual(try gradient([-2.5], ell: 1), [1])
        // ℓ = 2: ad − bc; the gradient [d, −c, −b, a].
        XCTAssertEqual(try determinant([3, 5, 7, 11], ell: 2), -2)
        XCTAssertEqual(try gradient([3, 5, 7, 11], ell: 2), [11, -7, -5, 3])
        // The identity: det 1, each cofactor of the identity is the identity's element.
        let identity = (0..<16).map { $0 % 5 == 0 ? 1.0 : 0.0 }
        XCTAssertEqual(try determinant(identity, ell: 4), 1)
        XCTAssertEqual(try gradient(identity, ell: 4), identity)
        // Rows 0 and 1 of the 3 × 3 identity swapped: det −1, cofactors det · P⁻ᵀ = −P.
        let swap: [Double] = [0, 1, 0, 1, 0, 0, 0, 0, 1]
        XCTAssertEqual(try determinant(swap, ell: 3), -1)
        XCTAssertEqual(try gradient(swap, ell: 3), swap.map { -$0 })
        // A 3-cycle (even): det +1, cofactors P⁻ᵀ = P.
        let cycle: [Double] = [0, 1, 0, 0, 0, 1, 1, 0, 0]
        XCTAssertEqual(try determinant(cycle, ell: 3), 1)
        XCTAssertEqual(try gradient(cycle, ell: 3), cycle)
        // Singular: 1(45 − 48) − 2(36 − 42) + 3(32 − 35) = −3 + 12 − 9 = 0 exactly; the gradient
        // is the adjugate transposed, the cofactors (all integers, exact).
        let singular: [Double] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        XCTAssertEqual(try determinant(singular, ell: 3), 0)
        XCTAssertEqual(try gradient(singular, ell: 3), [-3, 6, -3, 6, -12, 6, -3, 6, -3])
    }

    // MARK: - Bad inputs

    func testBadInputsAreErrors() throws {
        func error(_ function: String, _ input: [String: Any]) throws -> String {
            let r = try response(function, input)
            XCTAssertEqual(r["success"] as? Bool, false, "\(input)")
            return r["error"] as? String ?? ""
        }
        XCTAssert(try error("primal", ["A": [1.0, 2.0, 3.0], "ell": 2]).contains("A has 3 elements, expected ell · ell = 4"))
        XCTAssert(try error("gradient", ["A": [Double](repeating: 1, count: 9), "ell": 2]).contains("expected ell · ell = 4"))
        XCTAssert(try error("primal", ["A": [Double](), "ell": 0]).contains("ell is 0, expected 1 ≤ ell ≤ 11"))
        XCTAssert(try error("primal", ["A": [Double](repeating: 1, count: 144), "ell": 12]).contains("ell is 12, expected 1 ≤ ell ≤ 11 (the eval's largest"))
        // Huge: refused before ℓ · ℓ is formed (it would overflow) or any model is built.
        XCTAssert(try error("primal", ["A": [1.0], "ell": 3_037_000_500]).contains("expected 1 ≤ ell ≤ 11"))
        XCTAssert(try error("primal", ["A": [1.0], "ell": 1e300]).contains("ell is not an integer ≥ 0"))
        XCTAssert(try error("primal", ["A": [1.0], "ell": -1]).contains("ell is not an integer ≥ 0"))
        XCTAssert(try error("primal", ["A": [1.0]]).contains("ell is not an integer"))
        XCTAssert(try error("primal", ["A": ["x"], "ell": 1]).contains("A[0] is not a number"))
        XCTAssert(try error("primal", ["ell": 1]).contains("A is not an array"))
        XCTAssertThrowsError(try DetModel(ell: 12))
        XCTAssertThrowsError(try DetModel(ell: 0))
    }

    // MARK: - The model

    /// The generated model at ℓ = 3 is the example in Examples/gradbench (kept in step), and
    /// the ℓ = 11 model stays small: ℓ·2^(ℓ−1) products, twice that many table entries.
    func testGeneratedModel() throws {
        let example = Self.root.appendingPathComponent("Examples/gradbench/det-ell3.ir")
        XCTAssertEqual(try DetModel(ell: 3).text, try String(contentsOf: example, encoding: .utf8))
        XCTAssertEqual(DetModel.subsets(of: 2, from: 4), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
        XCTAssertEqual(DetModel.subsets(of: 4, from: 4), [[0, 1, 2, 3]])
        XCTAssertEqual((1...11).map { DetModel.subsets(of: $0, from: 11).count }.reduce(0, +), 2047)
        let text = try DetModel(ell: 11).text
        XCTAssertLessThan(text.utf8.count, 150_000)
    }
}
