// Times sparsity detection and colouring (issue 18; docs/sparsity.md):
//   SparsityTiming [n]          the Hessian of a 2-D Laplacian energy
//                               f(u) = Σ (u[1:,:] − u[:-1,:])² + Σ (u[:,1:] − u[:,:-1])² + Σ exp(u)
//                               on an n × n grid (default 1000: 10⁶ unknowns)
//   SparsityTiming ba [n m p]   the Jacobian of GradBench's bundle-adjustment residuals
//                               (Examples/gradbench/ba.ir) with respect to the cameras and the
//                               points, the observations given as index values (default the
//                               sizes of the suite's first data file: 49 cameras, 7 776 points,
//                               31 843 observations)
//   SparsityTiming kmeans [n k d] the Hessian of GradBench's k-means cost in the centroids
//                               (Examples/gradbench/kmeans.ir; default n = 10 000 points,
//                               k = 1 000 centroids, d = 16): diagonal
// Run with `swift run -c release SparsityTiming …`.
import Foundation
import GradIR

func seconds(_ start: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }
func format(_ t: Double) -> String { String(format: "%.3f s", t) }

func laplacian(_ n: Int) throws {
    let source = """
    func laplace(u: f64[\(n),\(n)]) {
      return sum((u[1:,:] - u[:-1,:])^2) + sum((u[:,1:] - u[:,:-1])^2) + sum(exp(u))
    }
    """
    let f = try parseModule(source).functions[0]
    let (root, x) = (f.outputs[0].value, f.parameters[0].value)
    var start = DispatchTime.now()
    let h = try Sparsity.hessian(of: root, wrt: x, in: f)
    let detect = seconds(start)
    start = DispatchTime.now()
    let star = Colouring.symmetricColouring(h)
    let colour = seconds(start)
    // The exact 5-point pattern has 5 n² − 4 n non-zeros.
    print("Laplacian n = \(n): \(h.rows) unknowns, \(h.nonZeroCount) non-zeros (5-point: \(5 * n * n - 4 * n)), sparsity \(format(detect)), star colouring \(star.colourCount) colours in \(format(colour))")
}

func bundleAdjustment(_ n: Int, _ m: Int, _ p: Int) throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("gradbench/ba.ir")
    let template = try String(contentsOf: path, encoding: .utf8)
    let source = template.replacingOccurrences(of: "$n", with: "\(n)").replacingOccurrences(of: "$m", with: "\(m)").replacingOccurrences(of: "$p", with: "\(p)")
    guard let f = try parseModule(source).function(named: "objective") else { return }
    var rng = SystemRandomNumberGenerator()
    var obs: [Int64] = []
    for i in 0..<p {
        obs.append(Int64(i % n))
        obs.append(Int64.random(in: 0..<Int64(m), using: &rng))
    }
    let byName = Dictionary(uniqueKeysWithValues: f.parameters.map { ($0.name, $0.value) })
    guard let cams = byName["cams"], let points = byName["x"], let o = byName["obs"] else { return }
    let y = f.outputs[0].value
    for (name, x) in [("cameras", cams), ("points", points)] {
        let start = DispatchTime.now()
        let j = try Sparsity.jacobian(of: y, wrt: x, in: f, indexValues: [o: obs])
        let detect = seconds(start)
        let colourStart = DispatchTime.now()
        let columns = Colouring.columnColouring(j)
        print("ba \(n)/\(m)/\(p), ∂residuals/∂\(name): \(j.rows)×\(j.columns), \(j.nonZeroCount) non-zeros (\(j.nonZeroCount / max(j.rows, 1)) a row), sparsity \(format(detect)), \(columns.colourCount) column colours in \(format(seconds(colourStart)))")
    }
}

func kmeans(_ n: Int, _ k: Int, _ d: Int) throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("gradbench/kmeans.ir")
    let template = try String(contentsOf: path, encoding: .utf8)
    let source = template.replacingOccurrences(of: "$n", with: "\(n)").replacingOccurrences(of: "$k", with: "\(k)").replacingOccurrences(of: "$d", with: "\(d)")
    guard let f = try parseModule(source).function(named: "cost"), let c = f.parameters.first(where: { $0.name == "centroids" })?.value else { return }
    let start = DispatchTime.now()
    let h = try Sparsity.hessian(of: f.outputs[0].value, wrt: c, in: f)
    let detect = seconds(start)
    let diagonal = (0..<h.rows).allSatisfy { h.columns(ofRow: $0).elementsEqual([Int32($0)]) }
    print("kmeans n = \(n), k = \(k), d = \(d): Hessian \(h.rows)×\(h.columns), \(h.nonZeroCount) non-zeros (\(diagonal ? "diagonal" : "not diagonal")), sparsity \(format(detect)), star colouring \(Colouring.symmetricColouring(h).colourCount) colour(s)")
}

do {
    let args = Array(CommandLine.arguments.dropFirst())
    if args.first == "kmeans" {
        let sizes = args.dropFirst().compactMap { Int($0) }
        try kmeans(sizes.count > 0 ? sizes[0] : 10000, sizes.count > 1 ? sizes[1] : 1000, sizes.count > 2 ? sizes[2] : 16)
    } else if args.first == "ba" {
        let sizes = args.dropFirst().compactMap { Int($0) }
        try bundleAdjustment(sizes.count > 0 ? sizes[0] : 49, sizes.count > 1 ? sizes[1] : 7776, sizes.count > 2 ? sizes[2] : 31843)
    } else {
        try laplacian(args.first.flatMap { Int($0) } ?? 1000)
    }
} catch {
    print("error: \(error)")
}
