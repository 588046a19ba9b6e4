// Newton's method on the Rosenbrock function, with the Hessian computed by gradc.
//
//   f(x, y) = (1 − x)² + 100·(y − x²)²          minimum f(1, 1) = 0
//
// One gradc function returns f, its gradient and its Hessian — `grad` and `hessian` are
// nodes of the same graph, expanded by symbolic differentiation (the Hessian is the
// gradient of the gradient). It is compiled once; each Newton step then solves
//
//   H(p) · Δ = −∇f(p),     p ← p + Δ
//
// (a 2×2 system, solved in Swift) starting from the classic point (−1.2, 1), and prints the
// iteration, the point, f and |∇f| until |∇f| < 1e-10.
//
//   swift run Newton               # prints every step; exits 1 if 30 iterations are not enough
//   swift run Newton --quick       # the same (it is already fast), for CI symmetry

import Foundation
import Grad

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Newton: \(message)\n".utf8))
    exit(2)
}

/// rosenbrock(p: f64[2]) -> (f, gradient f64[2], hessian f64[2,2])
func buildRosenbrock() throws -> Function {
    let fb = FunctionBuilder("rosenbrock")
    let p = try fb.input("p", .f64, [2])
    let x = try p.sliced(0, 1).reshaped([])
    let y = try p.sliced(1, 2).reshaped([])
    let f = try (1 - x).pow(2) + 100 * (y - x.pow(2)).pow(2)
    try fb.output(f, "f")
    try fb.output(fb.grad(of: f, wrt: [p])[0], "gradient")
    try fb.output(fb.hessian(of: f, wrt: p), "hessian")
    return fb.function
}

let arguments = Set(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print("usage: Newton [--quick] [--show-ir]")
    exit(0)
}
if let unknown = arguments.subtracting(["--quick", "--show-ir"]).first { fail("unknown option '\(unknown)'") }

let rosenbrock: Function
let run: Executable
do {
    rosenbrock = try buildRosenbrock()
    run = try (try? compile(rosenbrock, backend: .bytecode)) ?? compile(rosenbrock, backend: .reference)
} catch {
    fail("building the graph failed: \(error)")
}
if arguments.contains("--show-ir") {
    print("as built:\n\(printFunction(rosenbrock))\nafter differentiation and optimization:\n\(printFunction(run.function))")
}

let maxIterations = 30
var point = [-1.2, 1.0]
print("Newton's method on Rosenbrock from (-1.2, 1), backend \(run.backend.rawValue)")
print(" iter            x                     y                    f(x,y)          |∇f|")
var converged = false
do {
    for iteration in 0...maxIterations {
        guard let p = Tensor(point, shape: [2]) else { fail("internal: bad point") }
        let out = try run([p])
        let f = out[0].scalar ?? .nan
        let g = out[1].doubles
        let h = out[2].doubles
        let norm = (g[0] * g[0] + g[1] * g[1]).squareRoot()
        print(String(format: "%5d  %20.15f  %20.15f  %14.6e  %12.4e", iteration, point[0], point[1], f, norm))
        if norm < 1e-10 {
            converged = true
            print("converged to (\(point[0]), \(point[1])) in \(iteration) Newton steps")
            break
        }
        if iteration == maxIterations { break }
        // Solve [h0 h1; h2 h3] Δ = −g by Cramer's rule.
        let det = h[0] * h[3] - h[1] * h[2]
        guard det != 0, det.isFinite else { fail("singular Hessian at iteration \(iteration)") }
        let dx = (-g[0] * h[3] + g[1] * h[1]) / det
        let dy = (-g[1] * h[0] + g[0] * h[2]) / det
        point = [point[0] + dx, point[1] + dy]
    }
} catch {
    fail("evaluation failed: \(error)")
}
if !converged {
    print("did not converge in \(maxIterations) iterations")
    exit(1)
}
