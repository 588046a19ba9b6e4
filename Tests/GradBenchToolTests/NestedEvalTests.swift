import Foundation
import XCTest
@testable import GradBenchTool

/// particle and saddle: nested derivatives inside loops inside loops. No reference tool records
/// them; the eval checks against one hard-coded answer each (its run.py), which the tests pin,
/// and a direct implementation of our own (the suite's descent with closures, the inner
/// gradients by hand, the outer derivative by dual numbers through the whole inner loop) gives
/// the answers at other starting points.
final class NestedEvalTests: XCTestCase {
    let tool = GradBenchTool(modelsDirectory: GradBenchTool.defaultModelsDirectory)

    func evaluate(_ module: String, _ function: String, _ input: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        _ = tool.respond(to: ["id": 0, "kind": "define", "module": module])
        let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": module, "function": function, "input": input]), file: file, line: line)
        guard r["success"] as? Bool == true else {
            XCTFail("\(module).\(function) failed: \(r["error"] ?? "?")", file: file, line: line)
            throw ToolError("failed")
        }
        return r["output"] ?? NSNull()
    }

    // MARK: - The definitions, directly

    /// A number and its derivative in one variable.
    struct Dual {
        var v: Double, d: Double
        init(_ v: Double, _ d: Double = 0) { self.v = v; self.d = d }
        static func + (a: Dual, b: Dual) -> Dual { Dual(a.v + b.v, a.d + b.d) }
        static func - (a: Dual, b: Dual) -> Dual { Dual(a.v - b.v, a.d - b.d) }
        static func * (a: Dual, b: Dual) -> Dual { Dual(a.v * b.v, a.d * b.v + a.v * b.d) }
        static func / (a: Dual, b: Dual) -> Dual { Dual(a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)) }
        static prefix func - (a: Dual) -> Dual { Dual(-a.v, -a.d) }
        func sqrt() -> Dual { let r = v.squareRoot(); return Dual(r, d / (2 * r)) }
    }

    /// The suite's gradient descent (gd.hpp): the argmin and the number of steps taken.
    static func argmin(_ f: ([Double]) -> Double, _ g: ([Double]) -> [Double], from start: [Double]) -> ([Double], Int) {
        func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        var (x, fx, gx, eta, i, steps) = (start, f(start), g(start), 1e-5, 0, 0)
        while true {
            if norm(gx) <= 1e-5 { return (x, steps) }
            if i == 10 {
                eta *= 2
                i = 0
            } else {
                let xp = zip(x, gx).map { $0 - eta * $1 }
                if norm(zip(x, xp).map { $0 - $1 }) <= 1e-5 { return (x, steps) }
                let fxp = f(xp)
                if fxp < fx {
                    (x, fx, gx) = (xp, fxp, g(xp))
                    i += 1
                } else {
                    eta /= 2
                    i = 0
                }
            }
            steps += 1
        }
    }

    /// particle's cost x₀(t_f)² and its derivative in w: Euler steps with ∇ₓp by hand, every
    /// quantity a dual number in w.
    static func particleCost(_ w: Double) -> Dual {
        let charges = [(Dual(10), Dual(10) - Dual(w, 1)), (Dual(10), Dual(0))]
        var x = (Dual(0), Dual(8)), xdot = (Dual(0.75), Dual(0))
        let dt = Dual(0.1)
        while (x.1 + dt * xdot.1).v > 0 {
            // ∇ₓ Σ 1/‖x − c‖ = −Σ (x − c)/‖x − c‖³, and ẍ = −∇ₓp.
            var acc = (Dual(0), Dual(0))
            for (cx, cy) in charges {
                let (dx, dy) = (x.0 - cx, x.1 - cy)
                let r = (dx * dx + dy * dy).sqrt()
                let r3 = r * r * r
                acc = (acc.0 + dx / r3, acc.1 + dy / r3)
            }
            x = (x.0 + dt * xdot.0, x.1 + dt * xdot.1)
            xdot = (xdot.0 + dt * acc.0, xdot.1 + dt * acc.1)
        }
        let t = -x.1 / xdot.1
        let x0 = x.0 + t * xdot.0
        return x0 * x0
    }

    static func particleDirect(_ w0: Double) -> Double {
        argmin({ particleCost($0[0]).v }, { [particleCost($0[0]).d] }, from: [w0]).0[0]
    }

    /// saddle: the inner argmax of f(p₁, ·) (∇ by hand: −∇(−f) = 2p₂… as the descent of −f), the
    /// outer argmin of max f(p₁, ·) with its gradient in p₁ by dual numbers through the inner
    /// descent (the inner iterates do not depend on p₁ here: ∇ₚ₂f = −2p₂).
    static func saddleDirect(_ start: [Double]) -> [Double] {
        func f(_ p1: [Dual], _ p2: [Dual]) -> Dual { (p1[0] * p1[0] + p1[1] * p1[1]) - (p2[0] * p2[0] + p2[1] * p2[1]) }
        func argmax(_ p1: [Double]) -> [Double] {
            let c = p1.map { Dual($0) }
            return argmin({ -f(c, $0.map { Dual($0) }).v }, { p in p.map { 2 * $0 } }, from: start).0
        }
        func maxValue(_ p1: [Dual]) -> Dual { f(p1, argmax(p1.map(\.v)).map { Dual($0) }) }
        func gradient(_ p1: [Double]) -> [Double] {
            (0..<2).map { k in maxValue(p1.indices.map { Dual(p1[$0], $0 == k ? 1 : 0) }).d }
        }
        let r1 = argmin({ maxValue($0.map { Dual($0) }).v }, gradient, from: start).0
        return r1 + argmax(r1)
    }

    // MARK: - particle

    func testParticleMatchesTheEvalInAllFourModes() throws {
        for function in ["ff", "fr", "rf", "rr"] {
            let w = try XCTUnwrap(try evaluate("particle", function, ["w": 0.0]) as? Double)
            // The eval's expected answer (its run.py); the suite's tolerance is 1e-4.
            XCTAssertEqual(w, 0.2071918746486116, accuracy: 1e-12, function)
            XCTAssertEqual(w, Self.particleDirect(0), accuracy: 1e-12, function)
        }
        XCTAssertEqual(Self.particleDirect(0), 0.2071918746486116, accuracy: 1e-12)
    }

    func testParticleFromOtherStarts() throws {
        for w0 in [0.1, 0.3] {
            let direct = Self.particleDirect(w0)
            for function in ["ff", "rr"] {
                let w = try XCTUnwrap(try evaluate("particle", function, ["w": w0]) as? Double)
                XCTAssertEqual(w, direct, accuracy: 1e-10, "\(function) from \(w0)")
            }
        }
    }

    /// The derivative the descent follows, against central differences of the cost.
    func testParticleCostDerivative() {
        for w in [0.0, 0.2, 0.35] {
            let h = 1e-6
            let fd = (Self.particleCost(w + h).v - Self.particleCost(w - h).v) / (2 * h)
            XCTAssertEqual(Self.particleCost(w).d, fd, accuracy: 1e-6 * max(1, abs(fd)))
        }
    }

    // MARK: - saddle

    func testSaddleMatchesTheEvalInAllFourModes() throws {
        for function in ["ff", "fr", "rf", "rr"] {
            let out = try XCTUnwrap(try evaluate("saddle", function, ["start": [1.0, 1.0]]) as? [Double])
            // The eval's expected answer, four times 8.246324826140356e-06 (its run.py): exactly.
            XCTAssertEqual(out, [Double](repeating: 8.246324826140356e-06, count: 4), function)
        }
        XCTAssertEqual(Self.saddleDirect([1, 1]), [Double](repeating: 8.246324826140356e-06, count: 4))
    }

    func testSaddleFromOtherStarts() throws {
        for start in [[0.5, -2.0], [3.0, 0.25]] {
            let direct = Self.saddleDirect(start)
            for function in ["ff", "fr", "rf", "rr"] {
                let out = try XCTUnwrap(try evaluate("saddle", function, ["start": start]) as? [Double])
                XCTAssertEqual(out.count, 4)
                for (a, e) in zip(out, direct) { XCTAssertEqual(a, e, accuracy: 1e-12, "\(function) from \(start)") }
            }
        }
    }

    // MARK: - Inputs and bounds

    func testBadInputsAndLoopBounds() throws {
        for (module, input) in [("particle", [:]), ("particle", ["w": "x"]), ("saddle", ["start": [1.0]]), ("saddle", ["w": 0.0])] as [(String, [String: Any])] {
            let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": module, "function": "rr", "input": input]))
            XCTAssertEqual(r["success"] as? Bool, false, "\(r)")
        }
        // A run that reached a loop's bound is an error, not an answer.
        let k = Double(GradBenchEval.nestedLoopBound)
        let p = try GradBenchEval.particle.prepare("rr", ["w": 0.0])
        XCTAssertEqual(try p.decode([[0.2], [91], [354]]) as? Double, 0.2)
        XCTAssertThrowsError(try p.decode([[0.2], [k], [354]]))
        XCTAssertThrowsError(try p.decode([[0.2], [91], [Double(GradBenchEval.eulerStepBound)]]))
        let s = try GradBenchEval.saddle.prepare("rr", ["start": [1.0, 1.0]])
        XCTAssertThrowsError(try s.decode([[0, 0, 0, 0], [1, k, 1]]))
        // Outputs of another shape (a model of the user's, `--models`) are an error, not a crash.
        XCTAssertThrowsError(try p.decode([[0.2]]))
        XCTAssertThrowsError(try s.decode([[0, 0]]))
    }
}
