import Foundation
@testable import GradC
import Grad
import TestSupport
import XCTest

/// The C backend's cache key is a digest of the graph, computed before any C is generated:
/// a hit generates no C, and any change that changes the C changes the key.
final class CacheKeyTests: XCTestCase {
    func function(_ text: String) throws -> Function {
        try Pipeline.function(Pipeline.lower(Pipeline.parse(text), to: .optimized), named: nil)
    }

    let base = "func f(x: f64[3]) {\n  y = sum(x * 2.0)\n  return y, grad(y, x)\n}\n"

    func digest(_ text: String, options: CEmitOptions = CEmitOptions(), names: [String]? = nil) throws -> [UInt8] {
        ModuleDigest.of([try function(text)], options: options, names: names)
    }

    func testTheSameGraphHasTheSameDigest() throws {
        XCTAssertEqual(try digest(base), try digest(base))
        // Source locations do not reach the C, so they do not change the key.
        XCTAssertEqual(try digest(base), try digest("\n\n" + base.replacingOccurrences(of: "  y", with: "      y")))
    }

    func testEveryChangeThatReachesTheCChangesTheDigest() throws {
        let reference = try digest(base)
        let variants: [(String, String)] = [
            ("a constant one ulp away", base.replacingOccurrences(of: "2.0", with: "2.0000000000000004")),
            ("a parameter name", base.replacingOccurrences(of: "x", with: "z")),
            ("a function name", base.replacingOccurrences(of: "func f", with: "func g")),
            ("a shape", base.replacingOccurrences(of: "f64[3]", with: "f64[4]")),
            ("a dtype", base.replacingOccurrences(of: "f64[3]", with: "f32[3]")),
            ("an op", base.replacingOccurrences(of: "sum(", with: "max(")),
            ("the output order", "func f(x: f64[3]) {\n  y = sum(x * 2.0)\n  return grad(y, x), y\n}\n"),
        ]
        for (what, text) in variants {
            XCTAssertNotEqual(try digest(text), reference, what)
        }
        XCTAssertNotEqual(try digest(base, options: CEmitOptions(threads: false)), reference, "emit options")
        XCTAssertNotEqual(try digest(base, options: CEmitOptions(chunkStatements: 7)), reference, "chunk size")
        XCTAssertNotEqual(try digest(base, options: CEmitOptions(reroll: false)), reference, "re-rolling")
        XCTAssertNotEqual(try digest(base, names: ["model"]), reference, "exported names")
    }

    /// Loop bodies (issue 15) reach the C, so they are in the key: a body added, or changed
    /// in one node, changes it.
    func testLoopBodiesChangeTheDigest() throws {
        let f = try function(base)
        var withBody = f
        withBody.bodies = [try function(base)]
        let key = { (g: Function) in ModuleDigest.of([g], options: CEmitOptions(), names: nil) }
        XCTAssertNotEqual(key(withBody), key(f))
        var changedBody = withBody
        let i = try XCTUnwrap(changedBody.bodies[0].nodes.firstIndex { $0.op == .const })
        changedBody.bodies[0].nodes[i].attrs[.value] = .float(3)
        XCTAssertNotEqual(key(changedBody), key(withBody))
        XCTAssertEqual(key(withBody), key(withBody))
    }

    func testAHitGeneratesNoCAndRunsTheSameCode() throws {
        var env = testEnvironment
        env["GRADC_CACHE_DIR"] = try temporaryDirectory("key").path
        let f = try function(base)
        let cold = try CModule([f], environment: env)
        XCTAssertFalse(cold.report.cacheHit)
        XCTAssertNotNil(cold.source)
        XCTAssertGreaterThan(cold.report.sourceBytes, 0)
        let warm = try CModule([function(base)], environment: env)
        XCTAssertTrue(warm.report.cacheHit)
        XCTAssertNil(warm.source, "a hit must not generate C")
        XCTAssertEqual(warm.report.sourceBytes, 0)
        XCTAssertEqual(warm.report.objectPath, cold.report.objectPath)
        XCTAssertEqual(warm.kernels[0].abi, cold.kernels[0].abi, "the ABI read from the object is the emitted one")
        let x = try XCTUnwrap(Tensor([1, -2, 0.5] as [Double], shape: [3]))
        XCTAssertEqual(try warm.kernels[0].run([x])[0].scalar, -1)
        XCTAssertEqual(try warm.kernels[0].run([x])[1].doubles, [2, 2, 2])
        // Other backend options are another entry.
        let portable = try CModule([f], options: CBackendOptions(portable: true), environment: env)
        XCTAssertFalse(portable.report.cacheHit)
        XCTAssertNotEqual(portable.report.objectPath, cold.report.objectPath)
    }

    func testAHitOnAFunctionWithADefaultExportedName() throws {
        // A name that is no C identifier is exported as gradc_<digest>_<k>: computed on a hit
        // from the digest alone.
        var env = testEnvironment
        env["GRADC_CACHE_DIR"] = try temporaryDirectory("key-name").path
        var f = try function(base)
        f.name = "not a C name"
        let cold = try CModule([f], environment: env)
        let warm = try CModule([f], environment: env)
        XCTAssertTrue(warm.report.cacheHit)
        XCTAssertEqual(warm.kernels[0].abi.symbol, cold.kernels[0].abi.symbol)
        XCTAssertTrue(warm.kernels[0].abi.symbol.hasPrefix("gradc_"))
    }
}
