import Foundation
import Grad

// The `c` workload set: the C backend's call time (through the Swift wrapper, and the raw
// ABI call), cold compile (parse → loaded .so, empty cache) and warm compile (cache hit).

/// Rosenbrock written element by element: N scalar inputs, a scalar graph (CasADi SX style).
func scalarRosenbrockSource(_ n: Int) -> String {
    var lines = ["func rosen(" + (0..<n).map { "x\($0): f64" }.joined(separator: ", ") + ") {"]
    lines.append("  f0 = 100.0 * (x1 - x0^2)^2 + (1.0 - x0)^2")
    for i in 1..<(n - 1) {
        lines.append("  f\(i) = f\(i - 1) + 100.0 * (x\(i + 1) - x\(i)^2)^2 + (1.0 - x\(i))^2")
    }
    lines.append("  return f\(n - 2), grad(f\(n - 2), " + (0..<n).map { "x\($0)" }.joined(separator: ", ") + ")")
    lines.append("}")
    return lines.joined(separator: "\n")
}

/// Seconds per call of `body`: the minimum and the median over 9 batches (the machine is
/// shared, so the minimum is the closest to the code's own cost).
func timeCalls(budget: Double, _ body: () -> Void) -> (min: Double, median: Double) {
    body()
    var perCall: [Double] = []
    for _ in 0..<9 {
        var calls = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            body()
            calls += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        } while elapsed < budget / 9
        perCall.append(elapsed / Double(calls))
    }
    perCall.sort()
    return (perCall[0], perCall[perCall.count / 2])
}

func runCBenchmarks(_ args: [String]) {
    let quick = args.contains("--quick")
    let portable = args.contains("--portable")
    var workloads: [(String, String)] = []
    for dtype in ["f64", "f32"] {
        workloads.append(("mlp-small \(dtype) B=32 64→32→10", mlpSource(dtype, batch: 32, input: 64, hidden: 32, classes: 10)))
        workloads.append(("mlp-large \(dtype) B=256 784→512→10", mlpSource(dtype, batch: 256, input: 784, hidden: 512, classes: 10)))
    }
    workloads.append(("rosenbrock N=1000 scalar", scalarRosenbrockSource(1000)))
    workloads.append(("rosenbrock N=1000 vector", """
        func rosenbrock(x: f64[1000]) {
          f = sum(100.0 * (x[1:] - x[:-1]^2)^2 + (1.0 - x[:-1])^2)
          return f, grad(f, x)
        }
        """))
    workloads.append(("arm 200 links scalar", armSource(links: 200)))

    let cacheRoot = NSTemporaryDirectory() + "gradc-bench-\(getpid())"
    var env = ProcessInfo.processInfo.environment
    env["GRADC_CACHE_DIR"] = cacheRoot
    let options = CBackendOptions(portable: portable)
    print("C backend (cc flags: \(options.flags(threads: true).joined(separator: " ")); -O1 for straight-line scalar modules)")
    print("call = CKernel.run (checks, allocates outputs); raw = callUnchecked on preallocated buffers; min / median of 9 batches")
    var rows: [[String]] = [["workload", "call min/med", "raw min/med", "GFLOP/s (raw min)", "compile cold", "of which cc", "compile warm", "C lines", "vs reference"]]
    for (name, source) in workloads {
        do {
            // Cold: parse → expand → optimize → emit → cc → dlopen, empty cache.
            let t0 = DispatchTime.now().uptimeNanoseconds
            let f = try Pipeline.function(Pipeline.lower(Pipeline.parse(source), to: .optimized), named: nil)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let module = try CModule([f], options: options, environment: env)
            let t2 = DispatchTime.now().uptimeNanoseconds
            let emitStart = DispatchTime.now().uptimeNanoseconds
            let emitted = try emitC([f], options: options.emit)
            let emitTime = Double(DispatchTime.now().uptimeNanoseconds - emitStart) * 1e-9
            let cold = Double(t2 - t0) * 1e-9
            // Warm: the same from parse, the cache hit.
            let w0 = DispatchTime.now().uptimeNanoseconds
            let g = try Pipeline.function(Pipeline.lower(Pipeline.parse(source), to: .optimized), named: nil)
            let warmModule = try CModule([g], options: options, environment: env)
            let warm = Double(DispatchTime.now().uptimeNanoseconds - w0) * 1e-9
            guard warmModule.report.cacheHit, let kernel = module.kernels.first else {
                print("\(name): warm compile missed the cache")
                continue
            }
            var named: [String: Tensor] = [:]
            var inputs: [Tensor] = []
            for (k, p) in f.parameters.enumerated() {
                let t = Tensor.random(f.type(of: p.value), seed: UInt64(k + 1))
                named[p.name] = t
                inputs.append(t)
            }
            // Check against the reference once.
            let expected = try ReferenceEvaluator.run(f, inputs: named)
            let got = try kernel.run(inputs)
            let agree = zip(got, expected).allSatisfy { zip($0.doubles, $1.doubles).allSatisfy { a, b in a == b || (a.isNaN && b.isNaN) } }
            var worst = 0.0
            for (g, e) in zip(got, expected) {
                let scale = e.doubles.map(abs).max() ?? 0
                for (a, b) in zip(g.doubles, e.doubles) where scale > 0 { worst = max(worst, abs(a - b) / scale) }
            }
            let budget = quick ? 0.3 : 2.0
            let call = timeCalls(budget: budget) { _ = try? kernel.run(inputs) }
            // Raw ABI call on preallocated buffers.
            let outBoxes = kernel.abi.outputs.map { UnsafeMutableRawPointer.allocate(byteCount: max($0.count * $0.dtype.byteSize, 1), alignment: 64) }
            let raw: (min: Double, median: Double) = withRawPointers(inputs.map(\.storage)) { inPointers in
                let outs: [UnsafeMutableRawPointer?] = outBoxes
                return inPointers.withUnsafeBufferPointer { ip in
                    outs.withUnsafeBufferPointer { op in
                        timeCalls(budget: budget) { _ = kernel.callUnchecked(ip.baseAddress!, op.baseAddress!) }  // trap-ok: non-empty arrays
                    }
                }
            }
            for b in outBoxes { b.deallocate() }
            let flops = matmulFlops(f)
            let lines = emitted.source.split(separator: "\n").count
            rows.append([name, formatSeconds(call.min) + " / " + formatSeconds(call.median),
                         formatSeconds(raw.min) + " / " + formatSeconds(raw.median),
                         flops > 0 ? String(format: "%.1f", flops / raw.min * 1e-9) : "-",
                         formatSeconds(cold), formatSeconds(cold - Double(t1 - t0) * 1e-9 - emitTime),
                         formatSeconds(warm), String(lines),
                         agree ? "same bits" : String(format: "max rel %.1e", worst)])
        } catch {
            print("\(name): \(error)")
        }
    }
    printTable(rows)
    _ = try? CCache(directory: cacheRoot).clear()
}

/// 2·M·N·K summed over the matmuls of `f`.
func matmulFlops(_ f: Function) -> Double {
    var total = 0.0
    for node in f.nodes where node.op == .matmul {
        let a = f.type(of: node.inputs[0])
        let k = Double(a.shape.last ?? 1)
        total += 2 * Double(node.type.count) * k
    }
    return total
}

func printTable(_ rows: [[String]]) {
    guard let header = rows.first else { return }
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
    }
    for (r, row) in rows.enumerated() {
        print(row.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        if r == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
}
