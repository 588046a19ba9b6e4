import Foundation
import XCTest
@testable import GradBenchTool

/// gradc-gradbench: the protocol, the recorded cases of the suite at its tolerance, exact
/// hand-computed cases and gmm's gradient against central differences.
final class GradBenchToolTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let tool = GradBenchTool(modelsDirectory: GradBenchTool.defaultModelsDirectory)

    // MARK: - Helpers

    /// One evaluate message through the tool; fails the test unless it succeeded.
    func evaluate(_ module: String, _ function: String, _ input: Any, file: StaticString = #filePath, line: UInt = #line) throws -> (output: Any, timings: [[String: Any]]) {
        _ = tool.respond(to: ["id": 0, "kind": "define", "module": module])
        let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": module, "function": function, "input": input]), file: file, line: line)
        guard r["success"] as? Bool == true else {
            XCTFail("\(module).\(function) failed: \(r["error"] ?? "?")", file: file, line: line)
            throw ToolError("failed")
        }
        // Through JSON and back, as the eval sees it.
        let data = try JSONSerialization.data(withJSONObject: ["o": r["output"] ?? NSNull()])
        let back = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (back["o"] ?? NSNull(), r["timings"] as? [[String: Any]] ?? [])
    }

    /// The suite's comparison (gradbench/comparison.py, from ADBench): |a − b| / max(1, |a| + |b|)
    /// at most 1e-4 for every number, same structure everywhere else.
    static func mismatches(_ expected: Any, _ actual: Any, _ path: String = "", tolerance: Double = 1e-4) -> [String] {
        if let e = expected as? [String: Any] {
            guard let a = actual as? [String: Any], Set(a.keys) == Set(e.keys) else { return ["\(path): keys differ"] }
            return e.keys.sorted().flatMap { mismatches(e[$0]!, a[$0]!, "\(path).\($0)", tolerance: tolerance) }
        }
        if let e = expected as? [Any] {
            guard let a = actual as? [Any], a.count == e.count else { return ["\(path): length differs"] }
            return zip(e, a).enumerated().flatMap { mismatches($0.element.0, $0.element.1, "\(path)[\($0.offset)]", tolerance: tolerance) }
        }
        guard let e = (expected as? NSNumber)?.doubleValue, let a = (actual as? NSNumber)?.doubleValue else {
            return ["\(path): not numbers"]
        }
        return abs(a - e) / max(1, abs(a) + abs(e)) <= tolerance ? [] : ["\(path): expected \(e), got \(a)"]
    }

    /// The recorded cases of an eval: ../shared/gradbench when present, else the trimmed copy.
    func recordedCases(_ eval: String) throws -> [[String: Any]]? {
        let shared = Self.root.appendingPathComponent("../shared/gradbench/\(eval).jsonl").standardized
        let fixture = Self.root.appendingPathComponent("Tests/Fixtures/gradbench/\(eval).jsonl")
        guard let text = (try? String(contentsOf: shared, encoding: .utf8)) ?? (try? String(contentsOf: fixture, encoding: .utf8)) else {
            return nil
        }
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    // MARK: - Recorded cases

    func testRecordedCasesMatchTheReferenceTool() throws {
        var replayed = 0
        for eval in ["hello", "lse", "llsq", "kmeans", "gmm", "ode", "lstm", "det", "ba", "ht"] {
            guard let cases = try recordedCases(eval) else { continue }   // kmeans, lstm without ../shared
            for c in cases {
                let function = try XCTUnwrap(c["function"] as? String)
                let r = try evaluate(eval, function, c["input"] ?? NSNull())
                let bad = Self.mismatches(c["output"] ?? NSNull(), r.output)
                XCTAssert(bad.isEmpty, "\(eval).\(function) \(c["description"] ?? ""): \(bad.count) mismatches: \(bad.prefix(3))")
                replayed += 1
            }
        }
        XCTAssertGreaterThanOrEqual(replayed, 23)
    }

    // MARK: - Protocol

    func testProtocolMessages() throws {
        let start = try XCTUnwrap(tool.respond(toLine: #"{"id": 0, "kind": "start", "eval": "lse"}"#))
        let s = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(start.utf8)) as? [String: Any])
        XCTAssertEqual(s["id"] as? Int, 0)
        XCTAssertEqual(s["tool"] as? String, "gradc")

        for module in ["nonesuch"] {
            let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "define", "module": module]))
            XCTAssertEqual(r["success"] as? Bool, false, module)
            XCTAssert((r["error"] as? String ?? "").hasPrefix("gradc: "), module)
        }
        for module in ["hello", "lse", "llsq", "kmeans", "gmm", "ode", "lstm", "det", "ba", "ht", "particle", "saddle"] {
            XCTAssertEqual(tool.respond(to: ["id": 2, "kind": "define", "module": module])?["success"] as? Bool, true, module)
        }
        let analysis = try XCTUnwrap(tool.respond(to: ["id": 3, "kind": "analysis", "of": 2, "valid": true]))
        XCTAssertEqual(analysis.count, 1)
        XCTAssertEqual(analysis["id"] as? Int, 3)
        XCTAssertNil(tool.respond(to: ["id": 4, "kind": "end"]))
        XCTAssertNil(tool.respond(toLine: "  "))

        // Errors are responses, never crashes.
        let notJSON = try XCTUnwrap(tool.respond(toLine: "{oops"))
        XCTAssert(notJSON.contains("\"success\":false"), notJSON)
        let unknown = try XCTUnwrap(tool.respond(to: ["id": 5, "kind": "evaluate", "module": "lse", "function": "tertiary", "input": ["x": [1.0]]]))
        XCTAssertEqual(unknown["success"] as? Bool, false)
        XCTAssert((unknown["error"] as? String ?? "").contains("has no function 'tertiary'"))
        let ragged = try XCTUnwrap(tool.respond(to: ["id": 6, "kind": "evaluate", "module": "kmeans", "function": "cost",
                                                     "input": ["points": [[1.0, 2.0], [3.0]], "centroids": [[0.0, 0.0]]]]))
        XCTAssertEqual(ragged["success"] as? Bool, false)
        XCTAssert((ragged["error"] as? String ?? "").contains("points[1] has 1 elements, expected 2"), "\(ragged)")
        let text = try XCTUnwrap(tool.respond(to: ["id": 7, "kind": "evaluate", "module": "llsq", "function": "primal", "input": ["x": ["a"], "n": 4]]))
        XCTAssertEqual(text["success"] as? Bool, false)
    }

    func testRunsAndTimings() throws {
        let r = try evaluate("lse", "gradient", ["x": [1.0, 2.0, 3.0], "min_runs": 5, "min_seconds": 0])
        let evaluate = r.timings.filter { $0["name"] as? String == "evaluate" }
        XCTAssertEqual(evaluate.count, 5)
        XCTAssert(evaluate.allSatisfy { ($0["nanoseconds"] as? Int ?? -1) >= 0 })
        // min_seconds keeps it running past min_runs.
        let timed = try self.evaluate("lse", "primal", ["x": [1.0, 2.0, 3.0], "min_runs": 1, "min_seconds": 0.02])
        let ns = timed.timings.filter { $0["name"] as? String == "evaluate" }.compactMap { $0["nanoseconds"] as? Int }
        XCTAssertGreaterThan(ns.count, 1)
        XCTAssertGreaterThanOrEqual(ns.reduce(0, +), 20_000_000)
    }

    func testTemplateSubstitution() throws {
        let t = ModelTemplate(name: "t.ir", text: "func f(x: f64[$n]) {  # $n stays\n  y = x * $g   #@repeat r\n  return y\n}")
        let text = try t.instantiate(["n": .int(3), "g": .real(-1.5), "r": .int(2)])
        XCTAssertEqual(text, "func f(x: f64[3]) {  # $n stays\n  y = x * (-1.5)   \n  y = x * (-1.5)   \n  return y\n}")
        XCTAssertThrowsError(try t.instantiate(["n": .int(3), "r": .int(1)])) { XCTAssert("\($0)".contains("'$g'")) }
        XCTAssertThrowsError(try t.instantiate(["n": .int(-1), "g": .real(1), "r": .int(1)]))
        XCTAssertThrowsError(try t.instantiate(["n": .int(1), "g": .real(.nan), "r": .int(1)]))
    }

    // MARK: - Hand-computed cases

    /// n = 3, x = (0.5, 1): t = (−1, 0, 1), s = (−1, 0, 1), every residual −0.5, so
    /// y = ½·3·0.25 = 0.375, ∂y/∂x₀ = −Σr = 1.5 and ∂y/∂x₁ = −Σ r·t = 0 exactly.
    func testLLSQByHand() throws {
        let y = try evaluate("llsq", "primal", ["x": [0.5, 1.0], "n": 3]).output
        XCTAssertEqual((y as? NSNumber)?.doubleValue, 0.375)
        let g = try XCTUnwrap(try evaluate("llsq", "gradient", ["x": [0.5, 1.0], "n": 3]).output as? [Double])
        XCTAssertEqual(g, [1.5, 0])
    }

    /// Points (0,0), (2,0), (10,10); centroids (1,1), (9,10): the first two points are 2 from
    /// the first centroid, the third 1 from the second, so the cost is 5; the Newton direction
    /// is each centroid minus the mean of its points: (0, 1) and (−1, 0).
    func testKMeansByHand() throws {
        let input: [String: Any] = ["points": [[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]], "centroids": [[1.0, 1.0], [9.0, 10.0]]]
        XCTAssertEqual((try evaluate("kmeans", "cost", input).output as? NSNumber)?.doubleValue, 5)
        let dir = try XCTUnwrap(try evaluate("kmeans", "dir", input).output as? [[Double]])
        XCTAssertEqual(dir, [[0, 1], [-1, 0]])
    }

    func testHelloAndODEByHand() throws {
        XCTAssertEqual((try evaluate("hello", "square", 3.0).output as? NSNumber)?.doubleValue, 9)
        XCTAssertEqual((try evaluate("hello", "double", 3.0).output as? NSNumber)?.doubleValue, 6)
        // One RK4 step of h = 2 on y₀′ = x₀, y₁′ = x₁y₀ is exact for these polynomials:
        // y₀ = x₀t, y₁ = x₀x₁t²/2; at t = 2 with x = (3, 5): (6, 30); ∂y₁/∂x = (2x₁, 2x₀) = (10, 6).
        XCTAssertEqual(try evaluate("ode", "primal", ["x": [3.0, 5.0], "s": 1]).output as? [Double], [6, 30])
        XCTAssertEqual(try evaluate("ode", "gradient", ["x": [3.0, 5.0], "s": 1]).output as? [Double], [10, 6])
    }

    // MARK: - gmm

    /// A small gmm input with d = 3 (the recorded cases all have d = 2, where l has one element
    /// per component and its order cannot be wrong).
    static func gmmInput(d: Int = 3, k: Int = 2, n: Int = 4, m: Int = 1, gamma: Double = 0.7) -> [String: Any] {
        var state: UInt64 = 42
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        func rows(_ r: Int, _ c: Int) -> [[Double]] { (0..<r).map { _ in (0..<c).map { _ in next() } } }
        return ["d": d, "k": k, "n": n, "m": m, "gamma": gamma, "x": rows(n, d), "alpha": (0..<k).map { _ in next() },
                "mu": rows(k, d), "q": rows(k, d), "l": rows(k, d * (d - 1) / 2)]
    }

    /// The log posterior straight from the README's definition, with Qₖ built element by
    /// element (l column by column below the diagonal) and loops: an implementation
    /// independent of the model's.
    static func gmmDirect(_ input: [String: Any]) -> Double {
        let d = input["d"] as! Int, k = input["k"] as! Int, n = input["n"] as! Int, m = input["m"] as! Int
        let gamma = input["gamma"] as! Double
        let x = input["x"] as! [[Double]], alpha = input["alpha"] as! [Double]
        let mu = input["mu"] as! [[Double]], q = input["q"] as! [[Double]], l = input["l"] as! [[Double]]
        func lse(_ v: [Double]) -> Double { let a = v.max()!; return a + log(v.map { exp($0 - a) }.reduce(0, +)) }
        var Q = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: d), count: d), count: k)
        for c in 0..<k {
            var next = 0
            for j in 0..<d {
                Q[c][j][j] = exp(q[c][j])
                for i in (j + 1)..<max(j + 1, d) { Q[c][i][j] = l[c][next]; next += 1 }
            }
        }
        var total = 0.0
        for i in 0..<n {
            var beta: [Double] = []
            for c in 0..<k {
                var sq = 0.0
                for r in 0..<d {
                    var s = 0.0
                    for j in 0..<d { s += Q[c][r][j] * (x[i][j] - mu[c][j]) }
                    sq += s * s
                }
                beta.append(alpha[c] - 0.5 * sq + q[c].reduce(0, +))
            }
            total += lse(beta)
        }
        total -= Double(n) * (Double(d) / 2 * log(2 * Double.pi) + lse(alpha))
        let dof = Double(d + m + 1)
        var frob = 0.0
        for c in 0..<k { for r in 0..<d { for j in 0..<d { frob += Q[c][r][j] * Q[c][r][j] } } }
        let sumQ = q.flatMap { $0 }.reduce(0, +)
        total += Double(k) * (dof * Double(d) * log(gamma / 2.0.squareRoot()) - logMultivariateGamma(dof / 2, dimension: d))
        total += -gamma * gamma / 2 * frob + Double(m) * sumQ
        return total
    }

    func testGMMObjectiveAgainstTheDefinition() throws {
        for d in [1, 3, 4] {
            let input = Self.gmmInput(d: d)
            let f = try XCTUnwrap((try evaluate("gmm", "objective", input).output as? NSNumber)?.doubleValue)
            let direct = Self.gmmDirect(input)
            XCTAssertEqual(f, direct, accuracy: 1e-10 * max(1, abs(direct)), "d = \(d)")
        }
    }

    func testGMMJacobianAgainstCentralDifferences() throws {
        let input = Self.gmmInput()
        let g = try XCTUnwrap(try evaluate("gmm", "jacobian", input).output as? [String: Any])
        let h = 1e-6
        for field in ["alpha", "mu", "q", "l"] {
            let isVector = field == "alpha"
            let base: [[Double]] = isVector ? [input[field] as! [Double]] : input[field] as! [[Double]]
            let grad: [[Double]] = isVector ? [try XCTUnwrap(g[field] as? [Double])] : try XCTUnwrap(g[field] as? [[Double]])
            XCTAssertEqual(grad.map(\.count), base.map(\.count), field)
            for r in base.indices {
                for c in base[r].indices {
                    func shifted(_ delta: Double) throws -> Double {
                        var p = base
                        p[r][c] += delta
                        var moved = input
                        moved[field] = isVector ? p[0] : p
                        return try XCTUnwrap((try evaluate("gmm", "objective", moved).output as? NSNumber)?.doubleValue)
                    }
                    let fd = (try shifted(h) - shifted(-h)) / (2 * h)
                    XCTAssertEqual(grad[r][c], fd, accuracy: 1e-6 * max(1, abs(fd)), "\(field)[\(r)][\(c)]")
                }
            }
        }
    }

    // MARK: - lstm

    /// A small lstm input with an odd layer count (the recorded cases all have l = 2).
    static func lstmInput(l: Int = 3, b: Int = 4, c: Int = 5) -> [String: Any] {
        var state: UInt64 = 7
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        func rows(_ r: Int, _ n: Int) -> [[Double]] { (0..<r).map { _ in (0..<n).map { _ in next() } } }
        return ["main_params": rows(2 * l, 4 * b), "extra_params": rows(3, b), "state": rows(2 * l, b),
                "sequence": rows(c, b).map { $0.map { $0 < 0.5 ? 0.0 : 1.0 } }]
    }

    /// The loss straight from the eval's definition, element by element: independent of the model.
    static func lstmDirect(_ input: [String: Any]) -> Double {
        let main = input["main_params"] as! [[Double]], extra = input["extra_params"] as! [[Double]]
        var st = input["state"] as! [[Double]]
        let seq = input["sequence"] as! [[Double]]
        let l = main.count / 2, b = seq[0].count
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        var total = 0.0
        for t in 0..<(seq.count - 1) {
            var inp = (0..<b).map { seq[t][$0] * extra[0][$0] }
            for i in 0..<l {
                let w = main[2 * i], v = main[2 * i + 1]
                for j in 0..<b {
                    let f = sigmoid(inp[j] * w[j] + v[j]), g = sigmoid(st[2 * i][j] * w[b + j] + v[b + j])
                    let o = sigmoid(inp[j] * w[2 * b + j] + v[2 * b + j]), k = tanh(st[2 * i][j] * w[3 * b + j] + v[3 * b + j])
                    st[2 * i + 1][j] = st[2 * i + 1][j] * f + g * k
                    st[2 * i][j] = o * tanh(st[2 * i + 1][j])
                }
                inp = st[2 * i]
            }
            let y = (0..<b).map { inp[$0] * extra[1][$0] + extra[2][$0] }
            let lse = log(y.map { exp($0) }.reduce(0, +) + 2)
            for j in 0..<b { total += seq[t + 1][j] * (y[j] - lse) }
        }
        return -total / Double((seq.count - 1) * b)
    }

    func testLSTMAgainstTheDefinitionAndCentralDifferences() throws {
        let input = Self.lstmInput()
        let f = try XCTUnwrap((try evaluate("lstm", "objective", input).output as? NSNumber)?.doubleValue)
        XCTAssertEqual(f, Self.lstmDirect(input), accuracy: 1e-12)
        let g = try XCTUnwrap(try evaluate("lstm", "jacobian", input).output as? [Double])
        var fd: [Double] = []
        let h = 1e-6
        for field in ["main_params", "extra_params"] {
            let base = input[field] as! [[Double]]
            for r in base.indices {
                for c in base[r].indices {
                    func shifted(_ delta: Double) -> Double {
                        var p = base
                        p[r][c] += delta
                        var moved = input
                        moved[field] = p
                        return Self.lstmDirect(moved)
                    }
                    fd.append((shifted(h) - shifted(-h)) / (2 * h))
                }
            }
        }
        XCTAssertEqual(g.count, fd.count)
        for (i, (a, e)) in zip(g, fd).enumerated() { XCTAssertEqual(a, e, accuracy: 1e-8, "element \(i)") }
    }

    func testLSTMBadInputs() throws {
        var odd = Self.lstmInput()
        odd["main_params"] = (odd["main_params"] as! [[Double]]).dropLast().map { $0 }
        var short = Self.lstmInput()
        short["sequence"] = [(short["sequence"] as! [[Double]])[0]]
        for input in [odd, short, ["sequence": [[1.0]]]] {
            let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": "lstm", "function": "objective", "input": input]))
            XCTAssertEqual(r["success"] as? Bool, false, "\(r)")
        }
    }

    // MARK: - ba

    /// Observation errors straight from the eval's definition (ADBench's C++ order of
    /// operations, including its r = 0 branch): independent of the model.
    static func baDirect(cam c: [Double], x: [Double], w: Double, feat: [Double]) -> [Double] {
        let pt = [x[0] - c[3], x[1] - c[4], x[2] - c[5]]
        let r = Array(c[0..<3])
        let sq = r[0] * r[0] + r[1] * r[1] + r[2] * r[2]
        var q = [0.0, 0.0, 0.0]
        func cross(_ a: [Double], _ b: [Double]) -> [Double] {
            [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
        }
        if sq != 0 {
            let theta = sq.squareRoot(), ct = cos(theta), st = sin(theta)
            let a = r.map { $0 / theta }
            let cr = cross(a, pt)
            let t = (a[0] * pt[0] + a[1] * pt[1] + a[2] * pt[2]) * (1 - ct)
            for i in 0..<3 { q[i] = pt[i] * ct + cr[i] * st + a[i] * t }
        } else {
            let cr = cross(r, pt)
            for i in 0..<3 { q[i] = pt[i] + cr[i] }
        }
        let u = q[0] / q[2], v = q[1] / q[2]
        let rho = u * u + v * v
        let l = 1 + c[9] * rho + c[10] * rho * rho
        return [w * (u * l * c[6] + c[7] - feat[0]), w * (v * l * c[6] + c[8] - feat[1])]
    }

    /// n = 3 cameras (the second with no rotation at all, so the model's r = 0 branch runs),
    /// m = 4 points, p = 7 observations in an order of our own, every parameter distinct.
    static func baCase() -> (cams: [[Double]], x: [[Double]], w: [Double], obs: [(Int, Int)], feats: [[Double]]) {
        var state: UInt64 = 11
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
        var cams = (0..<3).map { _ in
            [next(), next(), next(), next(), next(), next() - 8, 400 + 100 * next(), 5 * next(), 5 * next(), 0.1 * next(), 0.01 * next()]
        }
        cams[1][0] = 0; cams[1][1] = 0; cams[1][2] = 0
        let x = (0..<4).map { _ in [next(), next(), next() + 2] }
        let w = (0..<7).map { _ in 0.5 + next() }
        let obs = (0..<7).map { ($0 * 2 % 3, $0 * 3 % 4) }
        let feats = (0..<7).map { _ in [100 * next(), 100 * next()] }
        return (cams, x, w, obs, feats)
    }

    func testBAAgainstTheDefinitionAndCentralDifferences() throws {
        let (cams, x, w, obs, feats) = Self.baCase()
        let (n, m, p) = (cams.count, x.count, w.count)
        let inputs = [cams.flatMap { $0 }, x.flatMap { $0 }, w, obs.flatMap { [Double($0.0), Double($0.1)] }, feats.flatMap { $0 }]
        let parameters: [String: ModelTemplate.Value] = ["n": .int(n), "m": .int(m), "p": .int(p)]
        let objective = try GradBenchTool.time(try tool.kernel(eval: .ba, function: "objective", parameters: parameters), inputs, Runs([:])).0
        let jacobian = try GradBenchTool.time(try tool.kernel(eval: .ba, function: "jacobian", parameters: parameters), inputs, Runs([:])).0
        XCTAssertEqual(jacobian.count, 7)
        for i in 0..<p {
            let (ci, pi) = obs[i]
            let e = Self.baDirect(cam: cams[ci], x: x[pi], w: w[i], feat: feats[i])
            for k in 0..<2 {
                XCTAssertEqual(objective[0][2 * i + k], e[k], accuracy: 1e-12 * max(1, abs(e[k])), "error \(k) of observation \(i)")
            }
            XCTAssertEqual(objective[1][i], 1 - w[i] * w[i])
            // Central differences of the definition, parameter by parameter.
            func fd(_ move: (Double) -> [Double], _ at: Double) -> [Double] {
                let h = 1e-6 * max(1, abs(at))
                let (a, b) = (move(h), move(-h))
                return [(a[0] - b[0]) / (2 * h), (a[1] - b[1]) / (2 * h)]
            }
            for k in 0..<2 {
                let (dcam, dx, dw) = (jacobian[3 * k], jacobian[3 * k + 1], jacobian[3 * k + 2])
                for j in 0..<11 {
                    let d = fd({ var c = cams[ci]; c[j] += $0; return Self.baDirect(cam: c, x: x[pi], w: w[i], feat: feats[i]) }, cams[ci][j])
                    XCTAssertEqual(dcam[j * p + i], d[k], accuracy: 1e-6 * max(1, abs(d[k])), "∂e\(k)/∂cam[\(j)] of observation \(i)")
                }
                for j in 0..<3 {
                    let d = fd({ var y = x[pi]; y[j] += $0; return Self.baDirect(cam: cams[ci], x: y, w: w[i], feat: feats[i]) }, x[pi][j])
                    XCTAssertEqual(dx[j * p + i], d[k], accuracy: 1e-6 * max(1, abs(d[k])), "∂e\(k)/∂x[\(j)] of observation \(i)")
                }
                // Exact by hand: e is linear in w and in the principal point.
                XCTAssertEqual(dw[i], e[k] / w[i], accuracy: 1e-12 * max(1, abs(e[k] / w[i])))
                XCTAssertEqual(dcam[7 * p + i], k == 0 ? w[i] : 0)
                XCTAssertEqual(dcam[8 * p + i], k == 1 ? w[i] : 0)
            }
            XCTAssertEqual(jacobian[6][i], -2 * w[i])
        }
    }

    /// The sparse layout of the answer, on the suite's replicated input: rows of 15 entries,
    /// the camera's 11 columns, the point's 3, the weight's, then the weight-error rows.
    func testBASparseLayout() throws {
        let input: [String: Any] = ["n": 2, "m": 3, "p": 16, "cam": [0.1, -0.2, 0.3, 0.5, -0.4, -8, 420, 3, -2, 0.01, 0.001],
                                    "x": [0.3, -0.1, 2.5], "w": 0.7, "feat": [10.0, -20.0]]
        let j = try XCTUnwrap(try evaluate("ba", "jacobian", input).output as? [String: Any])
        let rows = try XCTUnwrap(j["rows"] as? [Int]), cols = try XCTUnwrap(j["cols"] as? [Int])
        let vals = try XCTUnwrap(j["vals"] as? [Double])
        XCTAssertEqual(rows, (0..<30).map { 15 * $0 } + [31 * 16])
        let first = Array(0..<11) + [22, 23, 24, 31]
        XCTAssertEqual(cols, first + first + [22 + 9 + 15])
        XCTAssertEqual(vals.count, 31)
        XCTAssertEqual(vals.last, -1.4)
        let objective = try XCTUnwrap(try evaluate("ba", "objective", input).output as? [String: Any])
        let e = try XCTUnwrap((objective["reproj_error"] as? [String: Any])?["elements"] as? [Double])
        XCTAssertEqual(vals[14], e[0] / 0.7, accuracy: 1e-12 * abs(e[0]))   // ∂eₖ/∂w = eₖ/w
        XCTAssertEqual(vals[29], e[1] / 0.7, accuracy: 1e-12 * abs(e[1]))
        XCTAssertEqual(vals[7], 0.7)      // ∂e₀/∂u₀ = w
        XCTAssertEqual(vals[15 + 8], 0.7) // ∂e₁/∂v₀ = w
    }

    func testBABadInputs() throws {
        let good: [String: Any] = ["n": 1, "m": 1, "p": 1, "cam": [Double](repeating: 0.1, count: 11), "x": [0, 0, 3.0], "w": 1.0, "feat": [0, 0.0]]
        var shortCam = good; shortCam["cam"] = [0.1]
        var noObservations = good; noObservations["p"] = 0
        var huge = good; huge["p"] = 1 << 40
        var negative = good; negative["n"] = -3
        for input in [shortCam, noObservations, huge, negative, ["n": 1]] {
            let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": "ba", "function": "objective", "input": input]))
            XCTAssertEqual(r["success"] as? Bool, false, "\(r)")
        }
    }
}
