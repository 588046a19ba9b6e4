import Foundation
import Grad
import TestSupport
import XCTest

/// The VM's matmul micro-kernels (baseline SSE2, AVX2, AVX2 with FMA) against the reference
/// and each other, on shapes that hit every edge of the packing and tiling; the CPU check;
/// and the portable (bit-identical) mode.
final class VMMatmulKernelTests: XCTestCase {
    /// Whether `/proc/cpuinfo` (read here independently of the VM) lists every feature the
    /// AVX2 module is compiled for; nil when it cannot be read.
    static let cpuinfoHasAVX2FMA: Bool? = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        return ["avx", "avx2", "fma"].allSatisfy(flags.contains)
    }()

    /// Whether this machine runs the AVX2 kernels (then `.avx2FMA` is the default).
    static var avx2: Bool { cpuinfoHasAVX2FMA == true && isX86Linux }

    static var isX86Linux: Bool {
        #if arch(x86_64) && os(Linux)
        return true
        #else
        return false
        #endif
    }

    func testKernelChoiceFollowsTheCPU() {
        var limits = VMLimits()
        XCTAssertEqual(limits.resolvedMatmulKernel, Self.avx2 ? .avx2FMA : .baseline)
        limits.portable = true
        XCTAssertEqual(limits.resolvedMatmulKernel, Self.avx2 ? .avx2 : .baseline)
        limits.matmulKernel = .avx2FMA
        XCTAssertEqual(limits.resolvedMatmulKernel, Self.avx2 ? .avx2 : .baseline, "portable never fuses")
        limits.portable = false
        XCTAssertEqual(limits.resolvedMatmulKernel, Self.avx2 ? .avx2FMA : .baseline)
        limits.matmulKernel = .baseline
        XCTAssertEqual(limits.resolvedMatmulKernel, .baseline)
    }

    /// m × k × n products, plain, with a transposed operand read in place, and batched.
    /// Sizes: single elements, odd sizes, exact tiles (6 × 8 f64, 6 × 16 f32), k beyond one
    /// k-block (256), m beyond one row block (120), k = 0.
    static let shapes: [(m: Int, k: Int, n: Int)] = [
        (1, 1, 1), (1, 7, 1), (5, 3, 7), (6, 5, 8), (6, 5, 16), (7, 9, 17), (12, 4, 32),
        (13, 300, 19), (121, 10, 33), (3, 0, 4), (2, 513, 3),
    ]

    static func sources(_ d: String, _ m: Int, _ k: Int, _ n: Int) -> [String] {
        [
            "func f(a: \(d)[\(m),\(k)], b: \(d)[\(k),\(n)]) {\n  return a @ b\n}\n",
            "func f(a: \(d)[\(k),\(m)], b: \(d)[\(k),\(n)]) {\n  return transpose(a) @ b\n}\n",
            "func f(a: \(d)[\(m),\(k)], b: \(d)[\(n),\(k)]) {\n  return a @ transpose(b)\n}\n",
            "func f(a: \(d)[\(k),\(m)], b: \(d)[\(n),\(k)]) {\n  return transpose(a) @ transpose(b)\n}\n",
            "func f(a: \(d)[2,\(m),\(k)], b: \(d)[\(k),\(n)]) {\n  return a @ b\n}\n",
        ]
    }

    func testKernelsAgreeOnAwkwardShapes() throws {
        var fusedChangedBits = false
        var cases = 0
        for dtype in ["f64", "f32"] {
            for (m, k, n) in Self.shapes {
                for source in Self.sources(dtype, m, k, n) {
                    let module = try Pipeline.lower(Pipeline.parse(source), to: .optimized)
                    let f = try Pipeline.function(module, named: nil)
                    var named: [String: Tensor] = [:]
                    for (j, p) in f.parameters.enumerated() {
                        named[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(31 * m + 7 * k + n + j))
                    }
                    let ordered = f.parameters.compactMap { named[$0.name] }
                    let expected = try ReferenceEvaluator.run(f, inputs: named)
                    var results: [VMMatmulKernel: Tensor] = [:]
                    // One thread, then two (threshold 1: every product large enough to split).
                    for threshold in [Int.max, 1] {
                        for kernel in VMMatmulKernel.allCases {
                            var limits = VMLimits()
                            limits.matmulKernel = kernel
                            limits.parallelMatmulThreshold = threshold
                            let vm = try VirtualMachine(BytecodeProgram(function: f), limits: limits)
                            XCTAssertEqual(vm.matmulKernel, Self.avx2 || kernel == .baseline ? kernel : .baseline)
                            let label = "\(dtype) \(m)×\(k)×\(n) \(kernel) threshold \(threshold):\n\(source)"
                            let got = try vm.run(ordered)
                            assertVMOutputs(got, expected, vm, f, label)
                            if let previous = results[vm.matmulKernel], let g = got.first {
                                XCTAssertTrue(sameBits(previous, g), "the thread split changes no bit: \(label)")
                            }
                            results[vm.matmulKernel] = got.first
                        }
                    }
                    if let fused = results[.avx2FMA], let exact = results[.baseline] {
                        XCTAssertTrue(closeToMax(fused, exact, tolerance: fusedMatmulTolerance(fused.dtype)), "\(dtype) \(m)×\(k)×\(n)")
                        fusedChangedBits = fusedChangedBits || !sameBits(fused, exact)
                    }
                    cases += 1
                }
            }
        }
        XCTAssertEqual(cases, 2 * Self.shapes.count * 5)
        // On an FMA machine the fused kernel really ran: some result rounded differently.
        if Self.avx2 { XCTAssertTrue(fusedChangedBits, "the FMA kernel gave bitwise the reference everywhere: did it fuse?") }
    }

    /// The MLP with its gradient through `compile`: portable gives the reference's bits for
    /// every output; the default differs (on an FMA machine) only within tolerance.
    func testPortableCompileIsBitIdentical() throws {
        for dtype in ["f64", "f32"] {
            let source = """
                func mlp(x: \(dtype)[16,40], y: \(dtype)[16,5], w1: \(dtype)[40,24], b1: \(dtype)[24], w2: \(dtype)[24,5], b2: \(dtype)[5]) {
                  h = relu(x @ w1 + b1)
                  loss = mean(softmax_cross_entropy(h @ w2 + b2, y))
                  return loss, grad(loss, w1, b1, w2, b2)
                }
                """
            let f = try Pipeline.function(Pipeline.parse(source), named: nil)
            var inputs: [String: Tensor] = [:]
            for (j, p) in f.parameters.enumerated() {
                inputs[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(j + 3))
            }
            let reference = try compile(f, backend: .reference)(inputs)
            let portable = try compile(f, backend: .bytecode, options: CompileOptions(portable: true))(inputs)
            let fast = try compile(f, backend: .bytecode)(inputs)
            XCTAssertEqual(portable.count, 5)
            var fastChangedBits = false
            for (k, (p, r)) in zip(portable, reference).enumerated() {
                XCTAssertTrue(sameBits(p, r), "\(dtype) output \(k): portable VM \(p) vs reference \(r)")
                XCTAssertTrue(closeToMax(fast[k], r, tolerance: fusedMatmulTolerance(r.dtype)), "\(dtype) output \(k)")
                fastChangedBits = fastChangedBits || !sameBits(fast[k], r)
            }
            if Self.avx2 { XCTAssertTrue(fastChangedBits, "\(dtype): the default VM matched the reference bit for bit: no FMA?") }
        }
    }

    /// Only GradKernelsAVX2's functions (`grad_avx2_…`, called after the CPU check) may
    /// contain instructions a baseline x86-64 CPU lacks: AVX (`v…`, ymm/zmm), BMI1/2, LZCNT,
    /// MOVBE, POPCNT. Catches, in the build under test, AVX2 code reaching baseline callers
    /// (e.g. a `target("avx2,fma")` helper that the compiler did not inline). `tzcnt` is allowed: it is
    /// `rep bsf`, which older CPUs run as `bsf`.
    func testNoHaswellInstructionsOutsideTheAVX2Module() throws {
        try XCTSkipUnless(Self.isX86Linux, "x86-64 Linux only")
        let objdump = "/usr/bin/objdump"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: objdump), "no objdump")
        let p = Process()
        // grep keeps the function headers and the candidate lines (the whole listing is ~1M lines).
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "\(objdump) -d --no-show-raw-insn /proc/\(getpid())/exe | grep -E '>:$|\tv|%[yz]mm|\t(andn|bextr|bls|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|movbe|popcnt)'"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let haswellOnly: Set<Substring> = ["andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext", "rorx",
                                           "sarx", "shlx", "shrx", "lzcnt", "movbe", "popcnt"]
        var function: Substring = ""
        var offenders: [Substring: Substring] = [:]
        var kernelInstructions = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.hasSuffix(">:"), let open = line.firstIndex(of: "<") {
                function = line[line.index(after: open)..<line.index(line.endIndex, offsetBy: -2)]
                continue
            }
            let fields = line.split(separator: "\t")
            guard fields.count >= 2, let mnemonic = fields[1].split(separator: " ").first else { continue }
            let avx = (mnemonic.hasPrefix("v") && mnemonic != "verr" && mnemonic != "verw") || line.contains("%ymm") || line.contains("%zmm")
            guard avx || haswellOnly.contains(mnemonic) else { continue }
            if function.hasPrefix("grad_avx2_") {
                kernelInstructions += 1
            } else {
                offenders[function] = line
            }
        }
        XCTAssertGreaterThan(kernelInstructions, 0, "the AVX2 kernels are in this binary")
        XCTAssertEqual(offenders.count, 0, "Haswell-only instructions outside GradKernelsAVX2:\n" +
                       offenders.prefix(10).map { "\($0.key): \($0.value)" }.joined(separator: "\n"))
    }

    /// The tolerance check used above rejects a real difference.
    func testToleranceCheckCanFail() throws {
        let r = try XCTUnwrap(Tensor([1, -2, 3, 1e-20] as [Double], shape: [4]))
        let near = try XCTUnwrap(Tensor([1, -2, 3 + 2e-12, 1e-20] as [Double], shape: [4]))
        let far = try XCTUnwrap(Tensor([1, -2, 3 + 4e-12, 1e-20] as [Double], shape: [4]))
        XCTAssertTrue(closeToMax(near, r, tolerance: 1e-12))
        XCTAssertFalse(closeToMax(far, r, tolerance: 1e-12))
        XCTAssertFalse(closeToMax(try XCTUnwrap(Tensor([1, -2, 3, .nan] as [Double], shape: [4])), r, tolerance: 1e-12))
    }
}
