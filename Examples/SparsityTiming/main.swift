// Times sparsity detection and colouring of the Hessian of a 2-D Laplacian energy
// f(u) = Σ (u[1:,:] − u[:-1,:])² + Σ (u[:,1:] − u[:,:-1])² + Σ exp(u) on an n × n grid
// (issue 18; docs/sparsity.md). Run: swift run -c release SparsityTiming [n]
import Foundation
import GradIR
import GradSparsity

let n = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1000 : 1000
let source = """
func laplace(u: f64[\(n),\(n)]) {
  return sum((u[1:,:] - u[:-1,:])^2) + sum((u[:,1:] - u[:,:-1])^2) + sum(exp(u))
}
"""
func seconds(_ start: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }
do {
    let f = try parseModule(source).functions[0]
    let (root, x) = (f.outputs[0].value, f.parameters[0].value)
    var start = DispatchTime.now()
    let h = try Sparsity.hessian(of: root, wrt: x, in: f)
    let detect = seconds(start)
    // The exact 5-point pattern has 5 n² − 4 n non-zeros.
    let expected = 5 * n * n - 4 * n
    start = DispatchTime.now()
    let star = Colouring.symmetricColouring(h)
    let colour = seconds(start)
    print("n = \(n): \(h.rows) unknowns, \(h.nonZeroCount) non-zeros (5-point: \(expected)), sparsity \(String(format: "%.3f", detect)) s, star colouring \(star.colourCount) colours in \(String(format: "%.3f", colour)) s")
} catch {
    print("error: \(error)")
}
