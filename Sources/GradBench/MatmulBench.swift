import Foundation
import Grad

// `GradBench matmul [M K N] [f32]`: one product C = A·B alone, on the VM with each matmul
// micro-kernel on one and two threads, and on the C backend. Wall time and process CPU time
// (CPU ≈ 2 × wall means both threads ran at once; CPU ≈ wall on two threads means the second
// core was busy with something else).

func runMatmulBenchmark(_ args: [String]) {
    let sizes = args.compactMap { Int($0) }
    let (m, k, n) = sizes.count == 3 ? (sizes[0], sizes[1], sizes[2]) : (256, 784, 512)
    let dtype = args.contains("f32") ? "f32" : "f64"
    let source = "func f(a: \(dtype)[\(m),\(k)], b: \(dtype)[\(k),\(n)]) {\n  return a @ b\n}\n"
    let f: Function
    do {
        f = try Pipeline.function(Pipeline.lower(Pipeline.parse(source), to: .optimized), named: nil)
    } catch {
        print("matmul \(m)×\(k)×\(n): \(error)")
        return
    }
    let macs = Double(m) * Double(k) * Double(n)
    let inputs = f.parameters.enumerated().map { Tensor.random(f.type(of: $0.element.value), seed: UInt64($0.offset + 1)) }
    print("\(dtype) \(m)×\(k)×\(n), best of 7 batches of 5 calls")
    for kernel in VMMatmulKernel.allCases {
        for threads in [1, 2] {
            var limits = VMLimits(maxArenaBytes: Int.max)
            limits.matmulKernel = kernel
            limits.matmulThreads = threads
            guard let vm = (try? VirtualMachine(BytecodeProgram(function: f), limits: limits))?.makeSession(), (try? vm.run(inputs)) != nil else {
                print("VM \(kernel.rawValue): failed")
                continue
            }
            var wall = Double.infinity
            var cpu = Double.infinity
            for _ in 0..<7 {
                let c0 = processCPUSeconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<5 { vm.execute() }
                wall = min(wall, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 / 5)
                cpu = min(cpu, (processCPUSeconds() - c0) / 5)
            }
            print(String(format: "VM %@ (linked: %@), %d thread(s): wall %@ (%.1f GMAC/s), CPU %@", kernel.rawValue,
                         vm.matmulKernel.rawValue, threads, formatSeconds(wall), macs / wall * 1e-9, formatSeconds(cpu)))
        }
    }
    do {
        let module = try CModule([f])
        guard let kernel = module.kernels.first else { return }
        let outBoxes = kernel.abi.outputs.map { UnsafeMutableRawPointer.allocate(byteCount: max($0.count * $0.dtype.byteSize, 1), alignment: 64) }
        defer { for b in outBoxes { b.deallocate() } }
        let raw: (min: Double, median: Double) = withRawPointers(inputs.map(\.storage)) { inPointers in
            let outs: [UnsafeMutableRawPointer?] = outBoxes
            return inPointers.withUnsafeBufferPointer { ip in
                outs.withUnsafeBufferPointer { op in
                    guard let i = ip.baseAddress, let o = op.baseAddress else { return (0, 0) }
                    return timeCalls(budget: 1.0) { _ = kernel.callUnchecked(i, o) }
                }
            }
        }
        print(String(format: "C (-march=native, FMA, 2 threads): min %@ (%.1f GMAC/s)", formatSeconds(raw.min), macs / raw.min * 1e-9))
    } catch {
        print("C backend: \(error)")
    }
}

/// CPU time of all threads of this process, in seconds.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
