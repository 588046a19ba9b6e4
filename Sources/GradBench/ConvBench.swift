import Foundation
import Grad

// `GradBench conv [--quick]`: conv2d forward + backward (the input and kernel gradients) in f32,
// batch 64, 3 → 32 channels, 32×32 images, 3×3 kernels, padding 1 — the workload of
// Scripts/bench/conv.py, which runs PyTorch on the same shapes and prints the table. One line
// per backend: `conv <backend> <best ms> <median ms>` (calls through `Executable`, inputs
// and outputs as tensors).

func runConvBenchmark(_ args: [String]) {
    let quick = args.contains("--quick")
    let (n, c, o, h) = quick ? (8, 3, 32, 16) : (64, 3, 32, 32)
    let source = """
        func f(x: f32[\(n),\(c),\(h),\(h)], w: f32[\(o),\(c),3,3], g: f32[\(n),\(o),\(h),\(h)]) {
          y = conv2d(x, w, padding=[1,1])
          loss = sum(y * g)
          dx, dw = grad(loss, x, w)
          return loss, dx, dw
        }
        """
    do {
        let f = try Pipeline.function(Pipeline.parse(source), named: nil)
        let inputs = f.parameters.enumerated().map { Tensor.random(f.type(of: $0.element.value), seed: UInt64($0.offset + 1)) }
        print("conv2d f32 x[\(n),\(c),\(h),\(h)] w[\(o),\(c),3,3] padding 1: forward + both gradients")
        for backend in [Backend.bytecode, .c] {
            let run = try compile(f, backend: backend)
            _ = try run(inputs)
            var times: [Double] = []
            for _ in 0..<(quick ? 3 : 15) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try run(inputs)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
            }
            times.sort()
            print(String(format: "conv %@ %.3f %.3f", backend == .c ? "gradc-C" : "gradc-VM", times[0], times[times.count / 2]))
        }
    } catch {
        print("conv: \(error)")
    }
}
