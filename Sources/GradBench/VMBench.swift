import Foundation
import Grad

// The `vm` workload set: time per evaluation (forward + gradient) on the reference evaluator
// and on the bytecode VM, and for scalar graphs the VM's cost per instruction.

/// Seconds per call of `body`: the best batch of `timeCalls` (CBench.swift).
func timePerCall(budget: Double, _ body: () -> Void) -> Double {
    timeCalls(budget: budget, body).min
}

func formatSeconds(_ s: Double) -> String {
    if s < 1e-6 { return String(format: "%.0f ns", s * 1e9) }
    if s < 1e-3 { return String(format: "%.2f µs", s * 1e6) }
    if s < 1 { return String(format: "%.2f ms", s * 1e3) }
    return String(format: "%.2f s", s)
}

struct VMWorkload {
    var name: String
    var source: String
    /// Whether to run the optimizer and differentiation (false: the function is used as is).
    var lower = true
    var referenceBudget = 1.0
}

func mlpSource(_ dtype: String, batch: Int, input: Int, hidden: Int, classes: Int) -> String {
    """
    func mlp(x: \(dtype)[\(batch),\(input)], y: \(dtype)[\(batch),\(classes)], w1: \(dtype)[\(input),\(hidden)], b1: \(dtype)[\(hidden)], w2: \(dtype)[\(hidden),\(classes)], b2: \(dtype)[\(classes)]) {
      h = relu(x @ w1 + b1)
      loss = mean(softmax_cross_entropy(h @ w2 + b2, y))
      return loss, grad(loss, w1, b1, w2, b2)
    }
    """
}

func armSource(links: Int) -> String {
    var lines: [String] = []
    let params = (0..<links).map { "t\($0): f64" }.joined(separator: ", ")
    lines.append("func arm(\(params)) {")
    lines.append("  p0 = t0")
    lines.append("  x0 = cos(p0)")
    lines.append("  y0 = sin(p0)")
    for i in 1..<links {
        lines.append("  p\(i) = p\(i - 1) + t\(i)")
        lines.append("  x\(i) = x\(i - 1) + cos(p\(i))")
        lines.append("  y\(i) = y\(i - 1) + sin(p\(i))")
    }
    lines.append("  loss = (x\(links - 1) - 3.0)^2 + (y\(links - 1) - 4.0)^2")
    lines.append("  return loss, grad(loss, \((0..<links).map { "t\($0)" }.joined(separator: ", ")))")
    lines.append("}")
    return lines.joined(separator: "\n")
}

/// A long chain of scalar arithmetic (no derivative): measures the scalar machine's dispatch.
func scalarChain(nodes: Int) -> Function {
    var b = GraphBuilder(name: "chain")
    guard let x = try? b.parameter("x", TensorType(.f64)), let y = try? b.parameter("y", TensorType(.f64)) else { return b.function }
    var values = [x, y]
    var rng = SplitMix64(seed: 5)
    let ops: [Op] = [.add, .mul, .sub, .add, .mul, .maximum]
    for i in 0..<nodes {
        let a = values[values.count - 1]
        let c = values[Int(rng.next() % UInt64(min(values.count, 64))) + max(0, values.count - 64)]
        guard let v = try? b.binary(ops[i % ops.count], a, c) else { break }
        values.append(v)
        if values.count > 4096 { values.removeFirst(2048) }
    }
    b.function.outputs = [Output(name: "out", value: values[values.count - 1])]
    return b.function
}

func runVMBenchmarks(_ args: [String]) {
    let quick = args.contains("--quick")
    let profile = args.contains("--profile")
    let scale = quick ? 0.2 : 1.0
    var limits = VMLimits(maxArenaBytes: Int.max)
    if let i = args.firstIndex(of: "--matmul-threads"), i + 1 < args.count, let t = Int(args[i + 1]) {
        limits.matmulThreads = t
    }
    limits.portable = args.contains("--portable")
    if let i = args.firstIndex(of: "--matmul-kernel"), i + 1 < args.count {
        guard let k = VMMatmulKernel(rawValue: args[i + 1]) else {
            print("--matmul-kernel expects one of \(VMMatmulKernel.allCases.map(\.rawValue).joined(separator: ", "))")
            return
        }
        limits.matmulKernel = k
    }
    print("matmul micro-kernel: \(limits.resolvedMatmulKernel.rawValue)\(limits.portable ? " (portable)" : "")")
    var workloads: [(String, Function)] = []
    func add(_ name: String, _ source: String) {
        do {
            let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
            workloads.append((name, try Pipeline.function(module, named: nil)))
        } catch {
            print("\(name): \(error)")
        }
    }
    add("seed (scalar) + grad", """
        func seed(x: f64, y: f64) {
          z = (x + sigmoid(x)) / (sigmoid(x) + (x + y)^2)
          dzdx, dzdy = grad(z, x, y)
          return z, dzdx, dzdy
        }
        """)
    for dtype in ["f32", "f64"] {
        add("MLP B=32 64→32→10 \(dtype) + grad", mlpSource(dtype, batch: 32, input: 64, hidden: 32, classes: 10))
        add("MLP B=256 784→512→10 \(dtype) + grad", mlpSource(dtype, batch: 256, input: 784, hidden: 512, classes: 10))
    }
    add("Rosenbrock N=1000 (vector) + grad", """
        func rosenbrock(x: f64[1000]) {
          f = sum(100.0 * (x[1:] - x[:-1]^2)^2 + (1.0 - x[:-1])^2)
          return f, grad(f, x)
        }
        """)
    add("planar arm, 200 links (vector, cumsum) + grad", """
        func arm(t: f64[200]) {
          p = cumsum(t, axis=0)
          loss = (sum(cos(p)) - 3.0)^2 + (sum(sin(p)) - 4.0)^2
          return loss, grad(loss, t)
        }
        """)
    add("planar arm, 200 links (scalar) + grad", armSource(links: 200))
    workloads.append(("scalar chain, 200k nodes (no grad)", scalarChain(nodes: 200_000)))

    var rows: [[String]] = [["workload", "reference", "VM", "speed-up", "VM instr.", "ns/instr."]]
    for (name, f) in workloads {
        do {
            let program = try BytecodeProgram(function: f)
            let vm = try VirtualMachine(program, limits: limits).makeSession()
            var named: [String: Tensor] = [:]
            var ordered: [Tensor] = []
            for (k, p) in f.parameters.enumerated() {
                let t = Tensor.random(f.type(of: p.value), seed: UInt64(k + 1))
                named[p.name] = t
                ordered.append(t)
            }
            // Same answer first (see VMAgreementTests: bitwise, except outputs of a fused
            // matmul: within 1e-12 (f64) / 1e-5 (f32) of the output's largest magnitude).
            let expected = try ReferenceEvaluator.run(f, inputs: named)
            let got = try vm.run(ordered)
            let fused = vm.matmulKernel == .avx2FMA && f.nodes.contains { $0.op == .matmul }
            let agree = zip(expected, got).allSatisfy { e, g in
                let x = e.doubles
                let y = g.doubles
                let tolerance = fused ? (e.dtype == .f32 ? 1e-5 : 1e-12) * (x.filter(\.isFinite).map(abs).max() ?? 0) : 0
                return x.elementsEqual(y) { $0 == $1 || ($0.isNaN && $1.isNaN) || abs($0 - $1) <= tolerance }
            }
            let ref = timePerCall(budget: 1.5 * scale) { _ = try? ReferenceEvaluator.run(f, inputs: named) }
            if profile {
                let times = vm.profile(repeats: 3)
                for (i, t) in times.enumerated() where t > 1e-5 {
                    print("  \(name) instruction \(i): \(formatSeconds(t))")
                }
                continue
            }
            let vmTime = timePerCall(budget: 1.5 * scale) { vm.execute() }
            let scalarGraph = f.nodes.allSatisfy { $0.type.rank == 0 }
            rows.append([name + (agree ? "" : " (MISMATCH)"), formatSeconds(ref), formatSeconds(vmTime),
                         String(format: "%.1f×", ref / vmTime), String(vm.instructionCount),
                         scalarGraph ? String(format: "%.1f", vmTime * 1e9 / Double(vm.instructionCount)) : "-"])
        } catch {
            rows.append([name, "error: \(error)", "", "", "", ""])
        }
    }
    var widths = rows[0].map(\.count)
    for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
    for (r, row) in rows.enumerated() {
        print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        if r == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
}
