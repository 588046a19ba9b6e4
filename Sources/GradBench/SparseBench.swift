import Foundation
import Grad

// `GradBench sparse-hessian [N] [--c] [--repeat R]`: gradc's side of Scripts/bench/sparse_hessian.py, f64.
// The Hessian of the 2-D Laplacian energy on an N × N grid (N² unknowns),
//   f(u) = Σ (u[i+1,j] − u[i,j])² + Σ (u[i,j+1] − u[i,j])² + Σ exp(u),
// as `hessian(f, u, sparse=true)`. Prints one line per phase: building the graph (which
// computes the pattern: the request's type), the pattern and colouring alone, compiling
// (expansion, optimization, lowering) for the VM (and C with --c), and the best evaluation
// time of 5 calls; then the pattern's size, the colour count and a checksum of the values
// (the sum of the non-zeros at u[k] = sin(k/1000), the CasADi script's input too).

func runSparseHessianBenchmark(_ args: [String]) {
    let withC = args.contains("--c")
    // --repeat R: evaluate R times (default 5), e.g. to profile the evaluation alone.
    let repeats = args.firstIndex(of: "--repeat").flatMap { $0 + 1 < args.count ? Int(args[$0 + 1]) : nil } ?? 5
    let n = args.enumerated().first { Int($0.element) != nil && ($0.offset == 0 || args[$0.offset - 1] != "--repeat") }.flatMap { Int($0.element) } ?? 1000
    func seconds(_ t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
    do {
        var t0 = DispatchTime.now().uptimeNanoseconds
        let fb = FunctionBuilder("laplacian")
        let u = try fb.input("u", .f64, [n, n])
        let dx = try u.sliced(axis: 0, 1, nil) - u.sliced(axis: 0, 0, n - 1)
        let dy = try u.sliced(axis: 1, 1, nil) - u.sliced(axis: 1, 0, n - 1)
        let f = try sum(dx * dx) + sum(dy * dy) + sum(exp(u))
        let h = try fb.hessian(of: f, wrt: u, sparse: true)
        try fb.output(h, "h")
        print(String(format: "build+pattern %.3f s", seconds(t0)))
        t0 = DispatchTime.now().uptimeNanoseconds
        let pattern = try Sparsity.hessian(of: f.id, wrt: u.id, in: fb.function)
        print(String(format: "pattern %.3f s", seconds(t0)))
        t0 = DispatchTime.now().uptimeNanoseconds
        let layout = Colouring.symmetricColouring(pattern)
        print(String(format: "colouring %.3f s", seconds(t0)))
        print("unknowns \(n * n) nonzeros \(pattern.nonZeroCount) colours \(layout.colourCount)")
        // u[k] = sin(k / 1000) (k the flat index): the same input as the CasADi script's.
        let input = Tensor(TensorType(.f64, [n, n]), doubles: (0..<(n * n)).map { Foundation.sin(Double($0) / 1000) })
        for backend in withC ? [Backend.bytecode, .c] : [.bytecode] {
            t0 = DispatchTime.now().uptimeNanoseconds
            let run = try compile(fb.function, backend: backend)
            print(String(format: "compile %@ %.3f s", backend.rawValue, seconds(t0)))
            let first = try run([input])
            var best = Double.infinity
            for _ in 0..<repeats {
                t0 = DispatchTime.now().uptimeNanoseconds
                _ = try run([input])
                best = min(best, seconds(t0))
            }
            let checksum = first[0].doubles.reduce(0, +)
            print(String(format: "evaluate %@ %.4f s checksum %.12g", backend.rawValue, best, checksum))
        }
    } catch {
        print("sparse-hessian: \(error)")
    }
}
