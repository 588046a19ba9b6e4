import Foundation

/// One call of an eval's function: the model's parameters for this workload, the inputs in
/// parameter order (f64, row-major) and how the outputs become the eval's JSON output.
struct EvalCall {
    var parameters: [String: ModelTemplate.Value]
    var inputs: [[Double]]
    /// The model's function when it depends on the input (ht's simple and complicated
    /// variants); nil: the eval's `modelFunction` of the suite's name.
    var modelFunction: String? = nil
    var decode: ([[Double]]) throws -> Any
}

/// An eval of the suite that gradc implements: its module name, its model file and functions,
/// and the conversion of its JSON input into tensors (nothing else: the model computes).
struct GradBenchEval: Sendable {
    var name: String
    var model: String
    var functions: [String]
    var prepare: @Sendable (String, Any) throws -> EvalCall
    /// The model's name of a function where the suite's name is taken (an op's name).
    var modelNames: [String: String] = [:]
    /// The model's text for the workload's parameters when the tool generates it (det: a graph
    /// whose shape is not a template's); nil: the template `MODELS/MODEL.ir`.
    var generate: (@Sendable ([String: ModelTemplate.Value]) throws -> String)?

    init(name: String, model: String, functions: [String], modelNames: [String: String] = [:],
         generate: (@Sendable ([String: ModelTemplate.Value]) throws -> String)? = nil,
         prepare: @escaping @Sendable (String, Any) throws -> EvalCall) {
        self.name = name
        self.model = model
        self.functions = functions
        self.modelNames = modelNames
        self.generate = generate
        self.prepare = prepare
    }

    func modelFunction(_ function: String) -> String { modelNames[function] ?? function }

    static let all: [GradBenchEval] = [hello, lse, llsq, kmeans, gmm, ode, lstm, det, ba, ht, particle, saddle]

    static func named(_ name: String) -> GradBenchEval? { all.first { $0.name == name } }

    /// Why a module is not supported (the `define` response's error).
    static func unsupportedReason(_ module: String) -> String {
        "gradc: unknown module '\(module)' (gradc implements \(all.map(\.name).joined(separator: ", ")))"
    }

    // MARK: - The evals

    static let hello = GradBenchEval(name: "hello", model: "hello", functions: ["square", "double"],
                                          modelNames: ["square": "hello_square", "double": "hello_double"]) { _, input in
        let x = try number(input, "input")
        return EvalCall(parameters: [:], inputs: [[x]]) { out in out[0][0] }
    }

    static let lse = GradBenchEval(name: "lse", model: "lse", functions: ["primal", "gradient"]) { function, input in
        let o = try object(input)
        let x = try vector(o["x"], "x")
        guard !x.isEmpty else { throw ToolError("x is empty (LSE needs at least one element)") }
        return EvalCall(parameters: ["n": .int(x.count)], inputs: [x]) { out in
            function == "primal" ? out[0][0] as Any : out[0] as Any
        }
    }

    static let llsq = GradBenchEval(name: "llsq", model: "llsq", functions: ["primal", "gradient"]) { function, input in
        let o = try object(input)
        let x = try vector(o["x"], "x")
        let n = try integer(o["n"], "n")
        guard n >= 2 else { throw ToolError("n is \(n), expected at least 2 (tᵢ divides by n − 1)") }
        guard !x.isEmpty else { throw ToolError("x is empty") }
        var levels = 0
        while 1 << levels < x.count { levels += 1 }
        return EvalCall(parameters: ["n": .int(n), "m": .int(x.count), "levels": .int(levels)], inputs: [x]) { out in
            function == "primal" ? out[0][0] as Any : out[0] as Any
        }
    }

    static let kmeans = GradBenchEval(name: "kmeans", model: "kmeans", functions: ["cost", "dir"]) { function, input in
        let o = try object(input)
        let points = try matrix(o["points"], "points")
        let centroids = try matrix(o["centroids"], "centroids", columns: points.columns)
        guard points.rows > 0, centroids.rows > 0 else { throw ToolError("points and centroids must not be empty") }
        let parameters: [String: ModelTemplate.Value] = ["n": .int(points.rows), "k": .int(centroids.rows), "d": .int(points.columns)]
        return EvalCall(parameters: parameters, inputs: [points.values, centroids.values]) { out in
            function == "cost" ? out[0][0] as Any : rows(out[0], points.columns) as Any
        }
    }

    static let gmm = GradBenchEval(name: "gmm", model: "gmm", functions: ["objective", "jacobian"],
                                        modelNames: ["jacobian": "gmm_jacobian"]) { function, input in
        let o = try object(input)
        let d = try integer(o["d"], "d"), k = try integer(o["k"], "k"), n = try integer(o["n"], "n")
        let m = try integer(o["m"], "m")
        let gamma = try number(o["gamma"] ?? NSNull(), "gamma")
        let t = d * (d - 1) / 2
        let alpha = try vector(o["alpha"], "alpha", count: k)
        let mu = try matrix(o["mu"], "mu", rows: k, columns: d)
        let q = try matrix(o["q"], "q", rows: k, columns: d)
        let l = try matrix(o["l"], "l", rows: k, columns: t)
        let x = try matrix(o["x"], "x", rows: n, columns: d)
        guard d >= 1, k >= 1, n >= 1, m >= 0, gamma > 0 else {
            throw ToolError("expected d, k, n ≥ 1, m ≥ 0 and gamma > 0")
        }
        let parameters: [String: ModelTemplate.Value] = [
            "n": .int(n), "k": .int(k), "d": .int(d), "t": .int(t), "m": .int(m), "gamma": .real(gamma),
            "lmgamma": .real(logMultivariateGamma(Double(d + m + 1) / 2, dimension: d)),
        ]
        return EvalCall(parameters: parameters, inputs: [alpha, mu.values, q.values, l.values, x.values]) { out in
            if function == "objective" { return out[0][0] }
            return ["alpha": out[0], "mu": rows(out[1], d), "q": rows(out[2], d), "l": rows(out[3], t)] as [String: Any]
        }
    }

    static let ode = GradBenchEval(name: "ode", model: "ode", functions: ["primal", "gradient"]) { _, input in
        let o = try object(input)
        let x = try vector(o["x"], "x")
        let s = try integer(o["s"], "s")
        guard x.count >= 2, s >= 1 else { throw ToolError("expected at least 2 elements of x and s ≥ 1") }
        return EvalCall(parameters: ["n": .int(x.count), "s": .int(s)], inputs: [x]) { out in out[0] }
    }

    /// main_params: 2l rows of 4b (layer i's weights, then its biases), extra_params: 3 rows
    /// of b, state: 2l rows of b, sequence: c rows of b. The jacobian is the gradient of
    /// main_params then extra_params, each flattened row-major, concatenated.
    static let lstm = GradBenchEval(name: "lstm", model: "lstm", functions: ["objective", "jacobian"],
                                         modelNames: ["jacobian": "lstm_jacobian"]) { function, input in
        let o = try object(input)
        let sequence = try matrix(o["sequence"], "sequence")
        let b = sequence.columns, c = sequence.rows
        guard b >= 1, c >= 2 else { throw ToolError("sequence has \(c) rows of \(b), expected at least 2 rows of at least 1") }
        let main = try matrix(o["main_params"], "main_params", columns: 4 * b)
        guard main.rows >= 2, main.rows % 2 == 0 else {
            throw ToolError("main_params has \(main.rows) rows, expected 2 per layer and at least one layer")
        }
        let l = main.rows / 2
        let extra = try matrix(o["extra_params"], "extra_params", rows: 3, columns: b)
        let state = try matrix(o["state"], "state", rows: 2 * l, columns: b)
        let parameters: [String: ModelTemplate.Value] = ["l": .int(l), "b": .int(b), "c": .int(c), "l2": .int(2 * l), "b4": .int(4 * b)]
        return EvalCall(parameters: parameters, inputs: [main.values, extra.values, state.values, sequence.values]) { out in
            function == "objective" ? out[0][0] as Any : (out[0] + out[1]) as Any
        }
    }
}

extension GradBenchEval {
    /// The suite sends one camera, point, weight and feature and the counts n, m, p; like its
    /// C++ reader, the tool repeats them (camera i of n, point i of m, observation i seeing
    /// point i mod m from camera i mod n) and the model computes every observation. The
    /// jacobian's answer is the suite's abbreviation of the sparse matrix (the first 30 entries
    /// of rows, cols and vals — observation 0's two rows — and the last of each), taken from
    /// the full result.
    static let ba = GradBenchEval(name: "ba", model: "ba", functions: ["objective", "jacobian"],
                                  modelNames: ["jacobian": "ba_jacobian"]) { function, input in
        let o = try object(input)
        let n = try integer(o["n"], "n"), m = try integer(o["m"], "m"), p = try integer(o["p"], "p")
        let limit = 1 << 24
        guard (1...limit).contains(n), (1...limit).contains(m), (1...limit).contains(p) else {
            throw ToolError("n = \(n), m = \(m), p = \(p): expected each in 1...\(limit)")
        }
        let cam = try vector(o["cam"], "cam", count: 11)
        let x = try vector(o["x"], "x", count: 3)
        let w = try number(o["w"] ?? NSNull(), "w")
        let feat = try vector(o["feat"], "feat", count: 2)
        var obs = [Double](repeating: 0, count: 2 * p)
        for i in 0..<p {
            obs[2 * i] = Double(i % n)
            obs[2 * i + 1] = Double(i % m)
        }
        let inputs = [
            Array([[Double]](repeating: cam, count: n).joined()),
            Array([[Double]](repeating: x, count: m).joined()),
            [Double](repeating: w, count: p),
            obs,
            Array([[Double]](repeating: feat, count: p).joined()),
        ]
        return EvalCall(parameters: ["n": .int(n), "m": .int(m), "p": .int(p)], inputs: inputs) { out in
            if function == "objective" {
                return ["reproj_error": ["elements": Array(out[0].prefix(2)), "repeated": p],
                        "w_err": ["element": out[1][0], "repeated": p]] as [String: Any]
            }
            let entries = BASparseJacobian(n: n, m: m, p: p, obs: obs, blocks: out)
            let shown = Array(0..<min(30, entries.count - 1)) + [entries.count - 1]
            let shownRows = Array(0..<min(30, 3 * p)) + [3 * p]
            return ["rows": shownRows.map(entries.rowStart), "cols": shown.map(entries.column),
                    "vals": shown.map(entries.value)] as [String: Any]
        }
    }
}

/// The suite's compressed-row layout of the bundle-adjustment jacobian, read from the model's
/// dense per-observation blocks [∂e₀/∂cam (11×p: parameter by observation), ∂e₀/∂x (3×p),
/// ∂e₀/∂w (p), the same for e₁, ∂w_err/∂w (p)]: rows 2i and 2i+1 hold observation i's 15 entries (camera, point, weight
/// columns), then row 2p + i holds ∂w_errᵢ/∂wᵢ.
struct BASparseJacobian {
    let n: Int, m: Int, p: Int
    let obs: [Double]
    let blocks: [[Double]]

    var count: Int { 31 * p }

    func rowStart(_ k: Int) -> Int { k <= 2 * p ? 15 * k : 30 * p + (k - 2 * p) }

    private func locate(_ e: Int) -> (obs: Int, row: Int, j: Int)? {
        e < 30 * p ? (e / 30, e % 30 / 15, e % 15) : nil
    }

    func column(_ e: Int) -> Int {
        guard let (i, _, j) = locate(e) else { return 11 * n + 3 * m + (e - 30 * p) }
        if j < 11 { return 11 * Int(obs[2 * i]) + j }
        if j < 14 { return 11 * n + 3 * Int(obs[2 * i + 1]) + (j - 11) }
        return 11 * n + 3 * m + i
    }

    func value(_ e: Int) -> Double {
        guard let (i, row, j) = locate(e) else { return blocks[6][e - 30 * p] }
        let base = 3 * row
        if j < 11 { return blocks[base][j * p + i] }
        if j < 14 { return blocks[base + 1][(j - 11) * p + i] }
        return blocks[base + 2][i]
    }
}


/// log Γ_D(a) = D(D−1)/4 · log π + Σⱼ₌₁..D log Γ(a + (1 − j)/2), the multivariate log-gamma
/// function (a constant of the gmm prior).
func logMultivariateGamma(_ a: Double, dimension d: Int) -> Double {
    var r = Double(d * (d - 1)) / 4 * log(Double.pi)
    for j in 1...max(1, d) { r += lgamma(a + Double(1 - j) / 2) }
    return r
}

// MARK: - JSON to arrays

func object(_ input: Any) throws -> [String: Any] {
    guard let o = input as? [String: Any] else { throw ToolError("the input is not a JSON object") }
    return o
}

func number(_ v: Any, _ name: String) throws -> Double {
    guard let n = v as? NSNumber else { throw ToolError("\(name) is not a number") }
    return n.doubleValue
}

func integer(_ v: Any?, _ name: String) throws -> Int {
    guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0 else {
        throw ToolError("\(name) is not an integer ≥ 0")
    }
    return i
}

func vector(_ v: Any?, _ name: String, count: Int? = nil) throws -> [Double] {
    guard let a = v as? [Any] else { throw ToolError("\(name) is not an array of numbers") }
    var out: [Double] = []
    out.reserveCapacity(a.count)
    for (i, e) in a.enumerated() {
        guard let n = e as? NSNumber else { throw ToolError("\(name)[\(i)] is not a number") }
        out.append(n.doubleValue)
    }
    if let count, out.count != count { throw ToolError("\(name) has \(out.count) elements, expected \(count)") }
    return out
}

/// A JSON array of equally long arrays of numbers, flattened row-major.
func matrix(_ v: Any?, _ name: String, rows expectedRows: Int? = nil, columns expected: Int? = nil) throws -> (values: [Double], rows: Int, columns: Int) {
    guard let a = v as? [Any] else { throw ToolError("\(name) is not an array of arrays") }
    if let expectedRows, a.count != expectedRows { throw ToolError("\(name) has \(a.count) rows, expected \(expectedRows)") }
    var values: [Double] = []
    var columns = expected
    for (i, row) in a.enumerated() {
        let r = try vector(row, "\(name)[\(i)]", count: columns)
        columns = r.count
        values += r
    }
    return (values, a.count, columns ?? 0)
}

/// Row-major values as rows of `columns` numbers.
func rows(_ values: [Double], _ columns: Int) -> [[Double]] {
    guard columns > 0 else { return [[Double]](repeating: [], count: 0) }
    return stride(from: 0, to: values.count, by: columns).map { Array(values[$0..<min($0 + columns, values.count)]) }
}
