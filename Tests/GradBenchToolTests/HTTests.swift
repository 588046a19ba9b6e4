import Foundation
import XCTest
@testable import GradBenchTool

/// ht (hand tracking): the model against a direct implementation of the eval's definition
/// (ADBench's loops, bone by bone), its jacobian against central differences of that
/// implementation, exact hand-computed cases, and bad inputs. The recorded cases are replayed by
/// `GradBenchToolTests.testRecordedCasesMatchTheReferenceTool`.
final class HTTests: XCTestCase {
    let tool = GradBenchTool(modelsDirectory: GradBenchTool.defaultModelsDirectory)

    func evaluate(_ function: String, _ input: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        _ = tool.respond(to: ["id": 0, "kind": "define", "module": "ht"])
        let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": "ht", "function": function, "input": input]), file: file, line: line)
        guard r["success"] as? Bool == true else {
            XCTFail("ht.\(function) failed: \(r["error"] ?? "?")", file: file, line: line)
            throw ToolError("failed")
        }
        let data = try JSONSerialization.data(withJSONObject: ["o": r["output"] ?? NSNull()])
        let back = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return back["o"] ?? NSNull()
    }

    // MARK: - The definition, directly

    struct Hand {
        var parents: [Int]
        var baseRelatives: [[[Double]]]      // b × 4 × 4, row-major as in the JSON
        var inverseBaseAbsolutes: [[[Double]]]
        var basePositions: [[Double]]        // v × 4 (homogeneous)
        var weights: [[Double]]              // v × b
        var triangles: [[Int]]
        var mirrored: Bool
        var correspondences: [Int]
        var points: [[Double]]               // n × 3

        func input(theta: [Double], us: [[Double]]) -> [String: Any] {
            let model: [String: Any] = [
                "bone_count": parents.count, "bone_names": parents.indices.map { "bone\($0)" }, "parents": parents,
                "base_relatives": baseRelatives, "inverse_base_absolutes": inverseBaseAbsolutes,
                "base_positions": basePositions, "weights": weights, "triangles": triangles, "is_mirrored": mirrored,
            ]
            return ["theta": theta, "us": us, "data": ["model": model, "correspondences": correspondences, "points": points]]
        }
    }

    static func matmul(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        a.map { row in b[0].indices.map { j in row.indices.reduce(0.0) { $0 + row[$1] * b[$1][j] } } }
    }

    /// R_z · R_y · R_x of the Euler angles stored (x, z, y).
    static func euler(_ e: [Double]) -> [[Double]] {
        let (tx, tz, ty) = (e[0], e[1], e[2])
        let (cx, sx, cy, sy, cz, sz) = (cos(tx), sin(tx), cos(ty), sin(ty), cos(tz), sin(tz))
        let rx: [[Double]] = [[1, 0, 0], [0, cx, -sx], [0, sx, cx]]
        let ry: [[Double]] = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]
        let rz: [[Double]] = [[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]
        return matmul(matmul(rz, ry), rx)
    }

    static func angleAxis(_ r: [Double]) -> [[Double]] {
        let norm = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).squareRoot()
        if norm < 1e-4 { return [[1, 0, 0], [0, 1, 0], [0, 0, 1]] }
        let (x, y, z) = (r[0] / norm, r[1] / norm, r[2] / norm)
        let (s, c) = (sin(norm), cos(norm))
        let d = 1 - c
        let row0: [Double] = [x * x + (1 - x * x) * c, x * y * d - z * s, x * z * d + y * s]
        let row1: [Double] = [x * y * d + z * s, y * y + (1 - y * y) * c, y * z * d - x * s]
        let row2: [Double] = [x * z * d - y * s, z * y * d + x * s, z * z + (1 - z * z) * c]
        return [row0, row1, row2]
    }

    /// The residuals, 3 per point, straight from the definition: θ spread into per-bone Euler
    /// angles as the eval's to_pose_params does, bones composed one by one down the hierarchy.
    static func direct(_ hand: Hand, theta: [Double], us: [[Double]]) -> [Double] {
        let b = hand.parents.count
        var angles = [[Double]](repeating: [0, 0, 0], count: b)
        var next = 6
        for finger in 0..<5 {
            for joint in 0..<3 {
                let bone = 2 + 4 * finger + joint
                angles[bone][0] = theta[next]; next += 1
                if joint == 0 { angles[bone][1] = theta[next]; next += 1 }
            }
        }
        var absolutes: [[[Double]]] = []
        for i in 0..<b {
            let r = euler(angles[i])
            var t: [[Double]] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
            for row in 0..<3 {
                for col in 0..<3 { t[row][col] = r[row][col] }
            }
            let relative = matmul(hand.baseRelatives[i], t)
            absolutes.append(hand.parents[i] < 0 ? relative : matmul(absolutes[hand.parents[i]], relative))
        }
        let transforms = (0..<b).map { matmul(absolutes[$0], hand.inverseBaseAbsolutes[$0]) }
        let global = angleAxis(Array(theta[0..<3]))
        let posed: [[Double]] = hand.basePositions.indices.map { vert in
            var p = [0.0, 0.0, 0.0]
            for bone in 0..<b {
                for i in 0..<3 {
                    let (t, x) = (transforms[bone][i], hand.basePositions[vert])
                    let moved = t[0] * x[0] + t[1] * x[1] + t[2] * x[2] + t[3] * x[3]
                    p[i] += moved * hand.weights[vert][bone]
                }
            }
            if hand.mirrored { p[0] = -p[0] }
            var q = [0.0, 0.0, 0.0]
            for i in 0..<3 {
                q[i] = global[i][0] * p[0] + global[i][1] * p[1] + global[i][2] * p[2] + theta[3 + i]
            }
            return q
        }
        var err: [Double] = []
        for (k, c) in hand.correspondences.enumerated() {
            for j in 0..<3 {
                let target: Double
                if us.isEmpty {
                    target = posed[c][j]
                } else {
                    let tri = hand.triangles[c], u = us[k]
                    let (p0, p1, p2) = (posed[tri[0]][j], posed[tri[1]][j], posed[tri[2]][j])
                    target = u[0] * p0 + u[1] * p1 + (1 - u[0] - u[1]) * p2
                }
                err.append(hand.points[k][j] - target)
            }
        }
        return err
    }

    // MARK: - Cases

    static func random(_ seed: UInt64) -> () -> Double {
        var state = seed
        return {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
    }

    /// A hand of our own: 22 bones in a hierarchy deeper than the ADBench hand's (a chain of 8,
    /// then branches), general 4 × 4 base matrices (not rigid), v vertices (9 by default) each
    /// weighted on several bones, 9 triangles, n = 7 points. With v = 9 the simple variant
    /// skins only the 7 vertices read and the complicated one all 9 (it reads 21 corners); with
    /// v = 5 both skin all, with v = 30 both only the vertices read.
    static func syntheticHand(mirrored: Bool = false, seed: UInt64 = 3, vertices v: Int = 9) -> Hand {
        let next = random(seed)
        let parents = [-1, 0, 1, 2, 3, 4, 5, 6, 0, 8, 9, 10, 1, 12, 13, 14, 2, 16, 17, 18, 0, 20]
        func affine() -> [[Double]] {
            (0..<4).map { r in (0..<4).map { c in r == 3 ? (c == 3 ? 1 : 0) : (r == c ? 1 : 0) + 0.4 * next() } }
        }
        let weights: [[Double]] = (0..<v).map { vert in
            (0..<22).map { bone in (bone * 7 + vert) % 5 == 0 ? 0.5 + next() : 0 }
        }
        return Hand(parents: parents, baseRelatives: (0..<22).map { _ in affine() },
                    inverseBaseAbsolutes: (0..<22).map { _ in affine() },
                    basePositions: (0..<v).map { _ in [next(), next(), next(), 1] }, weights: weights,
                    triangles: (0..<9).map { [($0 * 2) % v, ($0 * 5 + 1) % v, ($0 * 7 + 3) % v] }, mirrored: mirrored,
                    correspondences: [3, 0, 8, 5, 5, 1, 2].map { $0 % v }, points: (0..<7).map { _ in [next(), next(), next()] })
    }

    static func theta(_ seed: UInt64) -> [Double] {
        let next = random(seed)
        return (0..<26).map { _ in 2 * next() }
    }

    func checkAgainstTheDefinition(_ hand: Hand, theta: [Double], us: [[Double]], file: StaticString = #filePath, line: UInt = #line) throws {
        let input = hand.input(theta: theta, us: us)
        let err = try XCTUnwrap(try evaluate("objective", input) as? [Double], file: file, line: line)
        let direct = Self.direct(hand, theta: theta, us: us)
        XCTAssertEqual(err.count, direct.count, file: file, line: line)
        for (i, (a, e)) in zip(err, direct).enumerated() {
            XCTAssertEqual(a, e, accuracy: 1e-12 * max(1, abs(e)), "residual \(i)", file: file, line: line)
        }
        let jac = try XCTUnwrap(try evaluate("jacobian", input) as? [[Double]], file: file, line: line)
        let uColumns = us.isEmpty ? 0 : 2
        XCTAssertEqual(jac.count, direct.count, file: file, line: line)
        XCTAssert(jac.allSatisfy { $0.count == 26 + uColumns }, file: file, line: line)
        let h = 1e-6
        for j in 0..<26 {
            var plus = theta, minus = theta
            plus[j] += h
            minus[j] -= h
            let (a, b) = (Self.direct(hand, theta: plus, us: us), Self.direct(hand, theta: minus, us: us))
            for r in direct.indices {
                let fd = (a[r] - b[r]) / (2 * h)
                XCTAssertEqual(jac[r][uColumns + j], fd, accuracy: 1e-7 * max(1, abs(fd)), "∂err[\(r)]/∂θ[\(j)]", file: file, line: line)
            }
        }
        // The u columns: row 3k + c against point k's own (u₀, u₁), moved one at a time.
        for k in us.indices {
            for c in 0..<uColumns {
                var plus = us, minus = us
                plus[k][c] += h
                minus[k][c] -= h
                let (a, b) = (Self.direct(hand, theta: theta, us: plus), Self.direct(hand, theta: theta, us: minus))
                for r in 0..<direct.count {
                    let fd = (a[r] - b[r]) / (2 * h)
                    if r / 3 == k {
                        XCTAssertEqual(jac[r][c], fd, accuracy: 1e-7 * max(1, abs(fd)), "∂err[\(r)]/∂u\(c)", file: file, line: line)
                    } else {
                        XCTAssertEqual(fd, 0, "point \(k)'s u moves only its own residuals", file: file, line: line)
                    }
                }
            }
        }
    }

    func testSimpleVariantAgainstTheDefinitionAndCentralDifferences() throws {
        try checkAgainstTheDefinition(Self.syntheticHand(), theta: Self.theta(5), us: [])
        try checkAgainstTheDefinition(Self.syntheticHand(mirrored: true, seed: 8), theta: Self.theta(6), us: [])
        try checkAgainstTheDefinition(Self.syntheticHand(vertices: 5), theta: Self.theta(7), us: [])
    }

    func testComplicatedVariantAgainstTheDefinitionAndCentralDifferences() throws {
        let next = Self.random(21)
        let us = (0..<7).map { _ in [0.5 + next(), 0.3 * next()] }
        try checkAgainstTheDefinition(Self.syntheticHand(), theta: Self.theta(9), us: us)
        try checkAgainstTheDefinition(Self.syntheticHand(mirrored: true, seed: 4), theta: Self.theta(10), us: us)
        try checkAgainstTheDefinition(Self.syntheticHand(vertices: 30), theta: Self.theta(11), us: us)
    }

    /// A global rotation of norm below 1e-4 is the identity (the eval's branch): no derivative
    /// through it, and the other columns as elsewhere.
    func testSmallGlobalRotationIsTheIdentity() throws {
        var theta = Self.theta(12)
        theta[0] = 3e-5; theta[1] = -4e-5; theta[2] = 2e-5
        try checkAgainstTheDefinition(Self.syntheticHand(), theta: theta, us: [])
        let jac = try XCTUnwrap(try evaluate("jacobian", Self.syntheticHand().input(theta: theta, us: [])) as? [[Double]])
        XCTAssert(jac.allSatisfy { $0[0] == 0 && $0[1] == 0 && $0[2] == 0 })
    }

    /// Identity bones and θ = 0 except the translation t: each vertex weighted 1 on one bone
    /// stays where it is, so err = point − vertex − t exactly, ∂err/∂t = −I, and the complicated
    /// variant's u columns are −(P₀ − P₂) and −(P₁ − P₂).
    func testIdentityHandByHand() throws {
        let eye: [[Double]] = (0..<4).map { r in (0..<4).map { $0 == r ? 1 : 0 } }
        let base: [[Double]] = [[1, 2, 3, 1], [0.5, -1, 4, 1], [-2, 0, 1, 1]]
        var hand = Hand(parents: Self.syntheticHand().parents, baseRelatives: Array(repeating: eye, count: 22),
                        inverseBaseAbsolutes: Array(repeating: eye, count: 22), basePositions: base,
                        weights: (0..<3).map { v in (0..<22).map { $0 == 5 * v ? 1 : 0 } }, triangles: [[0, 1, 2]],
                        mirrored: false, correspondences: [2, 0], points: [[1, 1, 1], [0, 0, 0]])
        var theta = [Double](repeating: 0, count: 26)
        theta[3] = 0.25; theta[4] = -0.5; theta[5] = 2
        let err = try XCTUnwrap(try evaluate("objective", hand.input(theta: theta, us: [])) as? [Double])
        // (1, 1, 1) − P₂ − t and (0, 0, 0) − P₀ − t.
        XCTAssertEqual(err, [2.75, 1.5, -2, -1.25, -1.5, -5])
        let jac = try XCTUnwrap(try evaluate("jacobian", hand.input(theta: theta, us: [])) as? [[Double]])
        for r in 0..<6 {
            XCTAssertEqual(Array(jac[r][3..<6]), (0..<3).map { $0 == r % 3 ? -1 : 0 })
        }
        hand.correspondences = [0]
        hand.points = [[0, 0, 0]]
        let c = try XCTUnwrap(try evaluate("jacobian", hand.input(theta: theta, us: [[0.25, 0.5]])) as? [[Double]])
        // P₀ − P₂ = (3, 2, 2), P₁ − P₂ = (2.5, −1, 3).
        XCTAssertEqual(c.map { $0[0] }, [-3, -2, -2])
        XCTAssertEqual(c.map { $0[1] }, [-2.5, 1, -3])
        XCTAssertEqual(c.map { Array($0[5..<8]) }, [[-1, 0, 0], [0, -1, 0], [0, 0, -1]])
        let e = try XCTUnwrap(try evaluate("objective", hand.input(theta: theta, us: [[0.25, 0.5]])) as? [Double])
        // The point 0.25·P₀ + 0.5·P₁ + 0.25·P₂ + t = (0, 0, 3) + (0.25, −0.5, 2), every step exact.
        XCTAssertEqual(e, [-0.25, 0.5, -5])
    }

    func testBadInputs() throws {
        let hand = Self.syntheticHand()
        var cycle = hand
        cycle.parents[3] = 5
        var fewBones = hand
        fewBones.parents = Array(hand.parents.prefix(20))
        var noWeights = hand.input(theta: Self.theta(1), us: [])
        var data = noWeights["data"] as! [String: Any]
        var model = data["model"] as! [String: Any]
        model["weights"] = [[1.0]]
        data["model"] = model
        noWeights["data"] = data
        var outOfRange = hand
        outOfRange.correspondences[0] = 9
        let inputs: [[String: Any]] = [
            cycle.input(theta: Self.theta(1), us: []), fewBones.input(theta: Self.theta(1), us: []), noWeights,
            hand.input(theta: [1, 2, 3], us: []), hand.input(theta: Self.theta(1), us: [[0.1, 0.2]]),
            outOfRange.input(theta: Self.theta(1), us: []), ["theta": Self.theta(1)],
        ]
        for input in inputs {
            let r = try XCTUnwrap(tool.respond(to: ["id": 1, "kind": "evaluate", "module": "ht", "function": "objective", "input": input]))
            XCTAssertEqual(r["success"] as? Bool, false, "\(r)")
        }
    }

    func testHierarchyDepth() throws {
        XCTAssertEqual(try htHierarchyDepth([-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19, 0]), 5)
        XCTAssertEqual(try htHierarchyDepth(Self.syntheticHand().parents.map(Double.init)), 8)
        XCTAssertEqual(try htHierarchyDepth([-1, -1]), 1)
        XCTAssertThrowsError(try htHierarchyDepth([0]))
        XCTAssertThrowsError(try htHierarchyDepth([-1, 1]))
        XCTAssertThrowsError(try htHierarchyDepth([-1, 0.5]))
    }
}
