import Foundation
import Grad

// `GradBench linalg [N] [K]`: gradc's side of Scripts/bench/linalg.py, f64:
//   logdet:  value and gradient of logdet(A) for an SPD A [N,N] (A is an input: the SPD
//            matrix x·xᵀ/N + I is made outside the timed call)
//   solve:   value and gradient of sum(solve(A, B) ⊙ W) for A [N,N], B [N,K]
// on the VM and the C backend; prints one line per (workload, backend): the best time of
// 5 batches of 3 calls, in milliseconds.

func runLinalgBenchmark(_ args: [String]) {
    let sizes = args.compactMap { Int($0) }
    let n = sizes.first ?? 256
    let k = sizes.count > 1 ? sizes[1] : 64
    let workloads: [(String, String)] = [
        ("logdet", "func f(a: f64[\(n),\(n)]) {\n  y = logdet(a)\n  return y, grad(y, a)\n}\n"),
        ("solve", "func f(a: f64[\(n),\(n)], b: f64[\(n),\(k)], w: f64[\(n),\(k)]) {\n  y = sum(solve(a, b) * w)\n  return y, grad(y, a, b)\n}\n"),
    ]
    // A well-conditioned SPD (for logdet) / diagonally dominant (for solve) matrix.
    let x = Tensor.random(TensorType(.f64, [n, n]), seed: 1).doubles
    var a = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<n { s += x[i * n + p] * x[j * n + p] }
            a[i * n + j] = s / Double(n) + (i == j ? 1 : 0)
        }
    }
    guard let spd = Tensor(a, shape: [n, n]) else { return }
    for (name, source) in workloads {
        guard let f = try? Pipeline.function(Pipeline.parse(source), named: nil) else {
            print("\(name): does not parse")
            continue
        }
        var inputs = [spd]
        if name == "solve" {
            inputs += [Tensor.random(TensorType(.f64, [n, k]), seed: 2), Tensor.random(TensorType(.f64, [n, k]), seed: 3)]
        }
        for backend in [Backend.bytecode, .c] {
            do {
                let run = try compile(f, backend: backend)
                let first = try run(inputs)
                var best = Double.infinity
                for _ in 0..<5 {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<3 { _ = try run(inputs) }
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6 / 3)
                }
                print(String(format: "%@ %@ %.3f ms value %.10g", name, backend.rawValue, best, first[0].scalar ?? .nan))
            } catch {
                print("\(name) \(backend.rawValue): \(error)")
            }
        }
    }
}
