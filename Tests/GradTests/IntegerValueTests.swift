import Foundation
import Grad
import TestSupport
import XCTest

/// i64 values are exact from the text to every backend: literals at the ends of i64's range
/// (Tests/Fixtures/integers.ir) through parsing, printing, every optimizer level, the VM and C.
final class IntegerValueTests: XCTestCase {
    static let model = repositoryRoot.appendingPathComponent("Tests/Fixtures/integers.ir").path

    /// The outputs of `extremes(n, b)`, computed here with Swift's (wrapping) integers.
    static func expected(_ n: Int64, _ b: Bool) -> [Tensor.Storage] {
        let top = Int64.max, bottom = Int64.min
        return [
            .i64([n &+ 9_007_199_254_740_993]),
            .i64([top, top]),
            .i64([bottom]),
            .i64([9_007_199_254_740_992, 9_007_199_254_740_993, -Int64.max]),
            .i64([1]),
            .i64([top &- n &* 2, top &- n &* 2]),
            .i64([b ? top : bottom]),
            .bool([b]),
            .i64([bottom &+ n]),
        ]
    }

    static let points: [(Int64, Bool)] = [(0, true), (1, false), (-1, true), (.max, false), (.min, true), (9_007_199_254_740_993, false)]

    func inputs(_ n: Int64, _ b: Bool) throws -> [Tensor] {
        [try XCTUnwrap(Tensor(.i64([n]), shape: [])), try XCTUnwrap(Tensor(.bool([b]), shape: []))]
    }

    func check(_ got: [Tensor], _ n: Int64, _ b: Bool, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.map(\.storage), Self.expected(n, b), "\(label) at n = \(n), b = \(b)", file: file, line: line)
    }

    func testEveryLevelAndBackendIsExact() throws {
        let f = try XCTUnwrap(Pipeline.load(path: Self.model).functions.first)
        var levels: [(String, Function)] = [("unoptimized", f)]
        for level in [0, 1, 2] {
            levels.append(("-O\(level)", try optimize(Differentiator.expand(f), options: OptimizerOptions(level: level))))
        }
        for (label, g) in levels {
            for (n, b) in Self.points {
                check(try ReferenceEvaluator.run(g, inputs: ["n": Tensor(.i64([n]), shape: [])!, "b": Tensor(.bool([b]), shape: [])!]), n, b, "reference \(label)")
            }
        }
        let optimized = levels[levels.count - 1].1
        for (fuse, inPlace) in [(true, true), (false, false)] {
            let vm = try VirtualMachine(BytecodeProgram(function: optimized, fuse: fuse, inPlace: inPlace))
            for (n, b) in Self.points { check(try vm.run(inputs(n, b)), n, b, "VM fuse \(fuse)") }
        }
        guard (try? CCompiler.find()) != nil else { return }
        var env = ProcessInfo.processInfo.environment
        env["GRADC_CACHE_DIR"] = try temporaryDirectory("integers").path
        let module = try CModule([optimized, levels[1].1], environment: env)
        for kernel in module.kernels {
            for (n, b) in Self.points { check(try kernel.run(inputs(n, b)), n, b, "C") }
        }
        // The C literal of INT64_MIN is one the compiler reads as an int64_t.
        XCTAssertTrue(try XCTUnwrap(module.source).source.contains("INT64_MIN"), "the C source holds i64's minimum")
    }

    /// The printed form holds every value exactly and parses back to the same nodes, before
    /// and after optimization (which folds some of them into new constants).
    func testPrintedFormRoundTripsExactly() throws {
        let f = try XCTUnwrap(Pipeline.load(path: Self.model).functions.first)
        for g in [f, try optimize(Differentiator.expand(f))] {
            let text = printFunction(g)
            for literal in ["9223372036854775807", "-9223372036854775808", "9007199254740993", "-9223372036854775807"] {
                XCTAssertTrue(text.contains(literal), "\(literal) in\n\(text)")
            }
            let back = try XCTUnwrap(parseModule(text, file: "printed.ir").functions.first)
            XCTAssertEqual(back.nodes, g.nodes, text)
            XCTAssertEqual(printFunction(back), text)
        }
    }
}
