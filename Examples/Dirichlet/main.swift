// A Dirichlet distribution fitted by Newton's method to Fisher's iris flowers, with lgamma,
// its gradient (digamma) and its Hessian (trigamma) all computed by gradc.
//
// Each flower's four measurements (sepal length and width, petal length and width), divided
// by their sum, are a point p on the simplex. The Dirichlet(α) log-likelihood per flower is
//
//   ℓ(α) = lgamma(Σₖ αₖ) − Σₖ lgamma(αₖ) + Σₖ (αₖ − 1)·mean_n(ln pₙₖ)
//
// concave in α. One gradc function returns ℓ, ∇ℓ and ∇²ℓ (`grad` and `hessian` nodes: the
// Hessian goes through the derivative rule of digamma, polygamma(1, ·)); each step solves
// ∇²ℓ·Δ = −∇ℓ (4×4, in Swift), halving Δ while some αₖ would not be positive. The start is
// Minka's moment estimate. It prints the iterations and the fitted α.
//
//   swift run Dirichlet                 # the fit (SciPy's L-BFGS + Newton gives the same α)
//   swift run Dirichlet --data FILE     # another iris.csv
//
// Data: Examples/data/iris.csv (see Examples/data/README.md).

import Foundation
import Grad

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Dirichlet: \(message)\n".utf8))
    exit(2)
}

var dataPath: String?
var rest = Array(CommandLine.arguments.dropFirst())
while let a = rest.first {
    rest.removeFirst()
    switch a {
    case "--data":
        guard let p = rest.first else { fail("--data needs a file") }
        dataPath = p
        rest.removeFirst()
    case "--help", "-h":
        print("usage: Dirichlet [--data iris.csv]")
        exit(0)
    default:
        fail("unknown option '\(a)'")
    }
}
let defaultPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("data/iris.csv").path
let path = dataPath ?? (FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : "Examples/data/iris.csv")
guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }

// Rows after the header: four measurements and a class label.
var logProportions: [Double] = []
var rowCount = 0
for line in text.split(separator: "\n").dropFirst() {
    let fields = line.split(separator: ",").prefix(4).compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard fields.count == 4, fields.allSatisfy({ $0 > 0 }) else { continue }
    let total = fields.reduce(0, +)
    logProportions += fields.map { Foundation.log($0 / total) }
    rowCount += 1
}
let rows = rowCount
guard rows > 0 else { fail("no rows of four positive numbers in \(path)") }
let k = 4

/// dirichlet(alpha: f64[4], logp: f64[rows,4]) -> (ℓ, ∇ℓ f64[4], ∇²ℓ f64[4,4])
func buildLikelihood(rows: Int, k: Int) throws -> Function {
    let fb = FunctionBuilder("dirichlet")
    let alpha = try fb.input("alpha", .f64, [k])
    let logp = try fb.input("logp", .f64, [rows, k])
    let meanLog = try mean(logp, axes: [0])
    let l = try lgamma(sum(alpha)) - sum(lgamma(alpha)) + sum((alpha - 1) * meanLog)
    try fb.output(l, "loglik")
    try fb.output(fb.grad(of: l, wrt: [alpha])[0], "gradient")
    try fb.output(fb.hessian(of: l, wrt: alpha), "hessian")
    return fb.function
}

/// Solves a·x = b (n×n, row-major) by Gaussian elimination with partial pivoting.
func solve(_ a: [Double], _ b: [Double], _ n: Int) -> [Double]? {
    var m = a, x = b
    for c in 0..<n {
        guard let p = (c..<n).max(by: { abs(m[$0 * n + c]) < abs(m[$1 * n + c]) }), m[p * n + c] != 0 else { return nil }
        if p != c {
            for j in 0..<n { m.swapAt(c * n + j, p * n + j) }
            x.swapAt(c, p)
        }
        for r in (c + 1)..<n {
            let f = m[r * n + c] / m[c * n + c]
            for j in c..<n { m[r * n + j] -= f * m[c * n + j] }
            x[r] -= f * x[c]
        }
    }
    for c in stride(from: n - 1, through: 0, by: -1) {
        var s = x[c]
        for j in (c + 1)..<n { s -= m[c * n + j] * x[j] }
        x[c] = s / m[c * n + c]
    }
    return x
}

let run: Executable
do {
    let likelihood = try buildLikelihood(rows: rows, k: k)
    run = try (try? compile(likelihood, backend: .bytecode)) ?? compile(likelihood, backend: .reference)
} catch {
    fail("building the graph failed: \(error)")
}
guard let logpTensor = Tensor(logProportions, shape: [rows, k]) else { fail("internal: bad data shape") }

// Minka's moment start: α = m·s with s from the first component's mean and second moment.
var firstMoment = [Double](repeating: 0, count: k)
var secondMoment0 = 0.0
for n in 0..<rows {
    for j in 0..<k { firstMoment[j] += Foundation.exp(logProportions[n * k + j]) / Double(rows) }
    secondMoment0 += Foundation.exp(2 * logProportions[n * k]) / Double(rows)
}
let precision = (firstMoment[0] - secondMoment0) / (secondMoment0 - firstMoment[0] * firstMoment[0])
var alpha = firstMoment.map { $0 * precision }

print("Dirichlet fit to \(rows) iris flowers (proportions of 4 measurements), backend \(run.backend.rawValue)")
print(" iter   log-likelihood/flower       |∇ℓ|       α")
var converged = false
do {
    for iteration in 0...50 {
        guard let a = Tensor(alpha, shape: [k]) else { fail("internal: bad α") }
        let out = try run([a, logpTensor])
        let (l, g, h) = (out[0].scalar ?? .nan, out[1].doubles, out[2].doubles)
        let norm = g.map { $0 * $0 }.reduce(0, +).squareRoot()
        print(String(format: "%5d  %22.15f  %12.4e  ", iteration, l, norm) + alpha.map { String(format: "%.10f", $0) }.joined(separator: " "))
        if norm < 1e-10 {
            converged = true
            print("converged in \(iteration) Newton steps: alpha = \(alpha.map { String(format: "%.12f", $0) }.joined(separator: ", "))")
            break
        }
        guard var step = solve(h, g.map { -$0 }, k) else { fail("singular Hessian at iteration \(iteration)") }
        while zip(alpha, step).contains(where: { $0 + $1 <= 0 }) { step = step.map { $0 / 2 } }
        alpha = zip(alpha, step).map { $0 + $1 }
    }
} catch {
    fail("evaluation failed: \(error)")
}
if !converged { fail("no convergence in 50 Newton steps") }
