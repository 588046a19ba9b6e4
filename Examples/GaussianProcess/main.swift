// Gaussian-process regression on Fisher's iris data: petal width from the other three
// measurements, with an RBF kernel whose hyperparameters are learned by gradient descent
// (Adam) on the negative log marginal likelihood
//
//   K = s²·exp(−½ Σ_d (x_d − x'_d)²/ℓ_d²) + σ²·I,   L = cholesky(K),   z = L⁻¹y
//   nll(θ) = ½ zᵀz + ½ logdet(K) + (n/2) ln 2π,      θ = (ln ℓ₁, ln ℓ₂, ln ℓ₃, ln s², ln σ²)
//
// One gradc function gives nll and ∂nll/∂θ (through cholesky, triangular_solve and logdet);
// another the posterior mean K*·K⁻¹y at held-out flowers (two triangular solves). Inputs and
// target are standardized with the training set's statistics; the data are shuffled with a
// fixed seed and the last 20 % (30 flowers) is held out.
//
//   swift run GaussianProcess            # 150 Adam steps
//   swift run GaussianProcess --quick    # 50 (what CI runs)
//
// Data: Fisher's iris data (Examples/data/iris.csv, see Examples/data/README.md).

import Foundation
import Grad

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("GaussianProcess: \(message)\n".utf8))
    exit(2)
}

// MARK: - Data

let arguments = Array(CommandLine.arguments.dropFirst())
var iterations = 150
var dataPath: String?
var index = 0
while index < arguments.count {
    switch arguments[index] {
    case "--quick": iterations = 50
    case "--data":
        index += 1
        guard index < arguments.count else { fail("--data needs a path") }
        dataPath = arguments[index]
    case "--help", "-h":
        print("usage: GaussianProcess [--quick] [--data iris.csv]")
        exit(0)
    default: fail("unknown option '\(arguments[index])'")
    }
    index += 1
}

let defaultPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("data/iris.csv").path
let path = dataPath ?? (FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : "Examples/data/iris.csv")
guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path) (pass --data)") }

var rows: [[Double]] = []
for (n, line) in text.split(whereSeparator: \.isNewline).enumerated().dropFirst() {   // skip the header
    let fields = line.split(separator: ",").compactMap { Double($0) }
    guard fields.count == 5 else { fail("\(path):\(n + 1): expected four measurements and a class") }
    rows.append(Array(fields[0..<4]))
}
var rng = SplitMix64(seed: 11)
rows.shuffle(using: &rng)
let trainCount = rows.count - rows.count / 5
let train = Array(rows[..<trainCount])
let test = Array(rows[trainCount...])
let d = 3  // inputs: sepal length, sepal width, petal length; target: petal width

func meanAndDeviation(_ column: [Double]) -> (Double, Double) {
    let m = column.reduce(0, +) / Double(column.count)
    let v = column.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(column.count)
    return (m, v.squareRoot())
}
let stats = (0..<4).map { j in meanAndDeviation(train.map { $0[j] }) }

func inputs(_ part: [[Double]]) -> Tensor {
    var x: [Double] = []
    for r in part { for j in 0..<d { x.append((r[j] - stats[j].0) / stats[j].1) } }
    guard let t = Tensor(x, shape: [part.count, d]) else { fail("internal: bad shape") }
    return t
}
func targets(_ part: [[Double]]) -> Tensor {
    guard let t = Tensor(part.map { ($0[3] - stats[3].0) / stats[3].1 }, shape: [part.count, 1]) else { fail("internal: bad shape") }
    return t
}

// MARK: - Graphs

/// The kernel matrix k(a, b) [n, m] for θ (ln ℓ, ln s²).
func kernel(_ fb: FunctionBuilder, _ theta: Value, _ a: Value, _ b: Value) throws -> Value {
    let inverseLength = try exp(-theta.sliced(axis: 0, 0, d))           // [d]
    let (sa, sb) = (try a * inverseLength, try b * inverseLength)
    let na = try reshape(sum(square(sa), axes: [1]), [a.shape[0], 1])
    let nb = try reshape(sum(square(sb), axes: [1]), [1, b.shape[0]])
    let distances = try na + nb - 2 * sa.matmul(sb.transposed())
    let signal = try exp(theta.sliced(axis: 0, d, d + 1))               // [1]
    return try signal * exp(-0.5 * distances)
}

/// nll(θ, x, y) -> (nll, ∂nll/∂θ)
func buildObjective(count n: Int) throws -> Function {
    let fb = FunctionBuilder("nll")
    let theta = try fb.input("theta", .f64, [d + 2])
    let x = try fb.input("x", .f64, [n, d])
    let y = try fb.input("y", .f64, [n, 1])
    let noise = try exp(theta.sliced(axis: 0, d + 1, d + 2)) + 1e-6
    let k = try kernel(fb, theta, x, x) + noise * fb.eye(n)
    let z = try triangularSolve(cholesky(k), y)
    let nll = try 0.5 * sum(square(z)) + 0.5 * logdet(k) + 0.5 * Double(n) * Foundation.log(2 * Double.pi)
    try fb.output(nll, "nll")
    try fb.output(fb.grad(of: nll, wrt: [theta])[0], "gradient")
    return fb.function
}

/// predict(θ, x, y, xs) -> posterior mean at xs
func buildPredict(count n: Int, queries m: Int) throws -> Function {
    let fb = FunctionBuilder("predict")
    let theta = try fb.input("theta", .f64, [d + 2])
    let x = try fb.input("x", .f64, [n, d])
    let y = try fb.input("y", .f64, [n, 1])
    let xs = try fb.input("xs", .f64, [m, d])
    let noise = try exp(theta.sliced(axis: 0, d + 1, d + 2)) + 1e-6
    let l = try cholesky(kernel(fb, theta, x, x) + noise * fb.eye(n))
    let alpha = try triangularSolve(l, triangularSolve(l, y), transpose: true)   // K⁻¹y
    try fb.output(kernel(fb, theta, xs, x).matmul(alpha), "mean")
    return fb.function
}

func rmse(_ predicted: Tensor, _ part: [[Double]]) -> Double {
    let p = predicted.doubles.map { $0 * stats[3].1 + stats[3].0 }
    let squared = zip(p, part).map { ($0 - $1[3]) * ($0 - $1[3]) }
    return (squared.reduce(0, +) / Double(part.count)).squareRoot()
}

// MARK: - Training

do {
    let objective = try compile(buildObjective(count: train.count), backend: .bytecode)
    let predict = try compile(buildPredict(count: train.count, queries: test.count), backend: .bytecode)
    let (xTrain, yTrain, xTest) = (inputs(train), targets(train), inputs(test))
    print("gaussian process: \(train.count) training flowers, \(test.count) held out; predicting petal width (cm)")

    let baseline = rmse(Tensor(TensorType(.f64, [test.count, 1]), doubles: [0]), test)
    var theta = [Double](repeating: 0, count: d + 2)
    theta[d + 1] = -1   // start: unit lengthscales and signal, noise variance e⁻¹
    let before = rmse(try predict([Tensor(theta, shape: [d + 2]) ?? Tensor(0), xTrain, yTrain, xTest])[0], test)
    // Adam on θ.
    var (m, v) = ([Double](repeating: 0, count: d + 2), [Double](repeating: 0, count: d + 2))
    let (rate, beta1, beta2) = (0.05, 0.9, 0.999)
    var nll = Double.nan
    for it in 1...iterations {
        guard let t = Tensor(theta, shape: [d + 2]) else { fail("internal: bad shape") }
        let out = try objective([t, xTrain, yTrain])
        nll = out[0].scalar ?? .nan
        let g = out[1].doubles
        for i in 0..<theta.count {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            let mh = m[i] / (1 - Foundation.pow(beta1, Double(it)))
            let vh = v[i] / (1 - Foundation.pow(beta2, Double(it)))
            theta[i] -= rate * mh / (vh.squareRoot() + 1e-8)
        }
        if it == 1 || it % (iterations / 5) == 0 || it == iterations {
            print(String(format: "step %4d  nll %.4f  |∂nll/∂θ| %.4f", it, nll, g.map { $0 * $0 }.reduce(0, +).squareRoot()))
        }
    }
    let after = rmse(try predict([Tensor(theta, shape: [d + 2]) ?? Tensor(0), xTrain, yTrain, xTest])[0], test)
    print("learned: lengthscales " + (0..<d).map { String(format: "%.3f", Foundation.exp(theta[$0])) }.joined(separator: " ")
          + String(format: ", signal variance %.3f, noise variance %.4f (standardized units)", Foundation.exp(theta[d]), Foundation.exp(theta[d + 1])))
    print(String(format: "held-out RMSE: mean of the training targets %.4f cm, initial hyperparameters %.4f cm", baseline, before))
    print(String(format: "held-out RMSE after learning: %.4f cm", after))
} catch {
    fail("\(error)")
}
