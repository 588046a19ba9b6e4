import Foundation

extension GradBenchEval {
    /// Hand tracking (evals/ht): the input's hand model and measurements become the model's
    /// tensors as they are (matrices row-major, indices as i64); `us` empty is the simple
    /// variant, n pairs the complicated one. The only things the tool derives are the
    /// template's sizes, the depth of the bone hierarchy (how many composition rounds `ht.ir`
    /// unrolls), whether to skin only the vertices read (when they are fewer than all), and ±1
    /// for `is_mirrored`. The jacobian comes back as the suite's rows (3n residuals) of 26
    /// columns, or 28 with the two u columns first.
    static let ht = GradBenchEval(name: "ht", model: "ht", functions: ["objective", "jacobian"]) { function, input in
        let o = try object(input)
        guard let data = o["data"] as? [String: Any], let model = data["model"] as? [String: Any] else {
            throw ToolError("the input has no data.model object")
        }
        let theta = try vector(o["theta"], "theta", count: 26)
        let parents = try vector(model["parents"], "data.model.parents")
        let b = parents.count
        guard b == htBoneCount else {
            throw ToolError("the hand model has \(b) bones, expected \(htBoneCount) (the eval's 26 pose parameters drive the ADBench hand's 22 bones)")
        }
        if let count = model["bone_count"], try integer(count, "data.model.bone_count") != b {
            throw ToolError("data.model.bone_count is not the number of parents (\(b))")
        }
        let depth = try htHierarchyDepth(parents)
        let relatives = try tensor3(model["base_relatives"], "data.model.base_relatives", b, 4, 4)
        let inverses = try tensor3(model["inverse_base_absolutes"], "data.model.inverse_base_absolutes", b, 4, 4)
        let positions = try matrix(model["base_positions"], "data.model.base_positions", columns: 4)
        let v = positions.rows
        let weights = try matrix(model["weights"], "data.model.weights", rows: v, columns: b)
        let triangles = try matrix(model["triangles"], "data.model.triangles", columns: 3)
        guard let mirrored = model["is_mirrored"] as? Bool else { throw ToolError("data.model.is_mirrored is not a boolean") }
        let correspondences = try vector(data["correspondences"], "data.correspondences")
        let n = correspondences.count
        let points = try matrix(data["points"], "data.points", rows: n, columns: 3)
        let usRows = try matrix(o["us"] ?? [Any](), "us", columns: 2)
        guard v >= 1, n >= 1 else { throw ToolError("expected at least one vertex and one correspondence") }
        let complicated = usRows.rows > 0
        if complicated {
            guard usRows.rows == n else { throw ToolError("us has \(usRows.rows) pairs, expected one per correspondence (\(n)) or none") }
            guard triangles.rows >= 1 else { throw ToolError("the complicated variant needs data.model.triangles") }
        }
        // Skin only the vertices read when they are fewer than all (the model's `simple_err`).
        let (simpleReads, complicatedReads) = (n, 3 * n)
        let parameters: [String: ModelTemplate.Value] = [
            "b": .int(b), "v": .int(v), "n": .int(n), "n3": .int(3 * n), "t": .int(triangles.rows), "depth": .int(depth),
            "gs": .int(simpleReads < v ? 1 : 0), "ms": .int(min(simpleReads, v)),
            "gc": .int(complicatedReads < v ? 1 : 0), "mc": .int(min(complicatedReads, v)),
        ]
        let mirror: Double = mirrored ? -1 : 1
        let inputs: [[Double]]
        if complicated {
            inputs = [theta, usRows.values, relatives, inverses, positions.values, weights.values, parents, [mirror],
                      triangles.values, correspondences, points.values]
        } else {
            inputs = [theta, relatives, inverses, positions.values, weights.values, parents, [mirror], correspondences, points.values]
        }
        let name = (function == "objective" ? "objective" : "ht_jacobian") + (complicated ? "_complicated" : "")
        let columns = complicated ? 28 : 26
        return EvalCall(parameters: parameters, inputs: inputs, modelFunction: name) { out in
            let expected = function == "objective" ? 3 * n : 3 * n * columns
            guard out.count == 1, out[0].count == expected else {
                throw ToolError("the model's ht \(name) must return \(expected) numbers")
            }
            return function == "objective" ? out[0] as Any : rows(out[0], columns) as Any
        }
    }

    static let htBoneCount = 22
}

/// The number of bones on the longest chain from a root (a parent of −1) down the hierarchy,
/// checking that every parent comes before its bone (as the eval's model assumes).
func htHierarchyDepth(_ parents: [Double]) throws -> Int {
    var depth: [Int] = []
    for (i, p) in parents.enumerated() {
        guard let parent = Int(exactly: p), parent >= -1, parent < i else {
            throw ToolError("data.model.parents[\(i)] is \(p), expected −1 or the index of an earlier bone")
        }
        depth.append(parent < 0 ? 1 : depth[parent] + 1)
    }
    return depth.max() ?? 0
}

/// A JSON array of `a` matrices of `b` rows of `c` numbers, flattened row-major.
func tensor3(_ v: Any?, _ name: String, _ a: Int, _ b: Int, _ c: Int) throws -> [Double] {
    guard let items = v as? [Any], items.count == a else { throw ToolError("\(name) is not an array of \(a) matrices") }
    var out: [Double] = []
    out.reserveCapacity(a * b * c)
    for (i, m) in items.enumerated() {
        out += try matrix(m, "\(name)[\(i)]", rows: b, columns: c).values
    }
    return out
}
