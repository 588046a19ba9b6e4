import Foundation
import GradRuntime

/// One arena of a `VirtualMachine`: the state of one evaluation at a time.
///
/// Not `Sendable`: a session is used by one thread at a time (make one per thread; they share
/// the VM's linked code). Two levels of API:
/// - `run(_:)` takes and returns `Tensor`s (copies in and out).
/// - `inputBuffer(_:)`, `execute()`, `outputBuffer(_:)` work on the arena directly, with no
///   allocation per call (for benchmarks and training loops).
public final class VMSession {
    let linked: LinkedProgram
    let arena: UnsafeMutableRawPointer
    let scratch: UnsafeMutableRawPointer

    public var program: BytecodeProgram { linked.program }
    /// Number of instructions the scalar machine runs per evaluation.
    public var instructionCount: Int { linked.code.count }
    /// The micro-kernel the f32/f64 matmuls were linked with (see `VMLimits.portable`).
    public var matmulKernel: VMMatmulKernel { linked.matmulKernel }

    init(_ linked: LinkedProgram) {
        self.linked = linked
        let program = linked.program
        let arenaBytes = max(64, program.arenaBytes)
        arena = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: arenaBytes)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: linked.scratchBytes, alignment: 64)
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: linked.scratchBytes)
        placeConstants(program, arena)
    }

    /// Writes the constants of `program` into its arena at `base`, and those of its loop bodies
    /// into their regions.
    private func placeConstants(_ program: BytecodeProgram, _ base: UnsafeMutableRawPointer) {
        for c in program.constants {
            let total = c.operand.byteCount
            c.bytes.withUnsafeBytes { src in
                // Validation: `bytes` is the whole buffer, or one element repeated to fill it.
                guard let s = src.baseAddress, src.count > 0 else { return }
                for start in stride(from: 0, to: total, by: src.count) {
                    (base + c.operand.offset + start).copyMemory(from: s, byteCount: min(src.count, total - start))
                }
            }
            if c.operand.type.dtype == .bool {
                let p = (base + c.operand.offset).assumingMemoryBound(to: UInt8.self)
                for i in 0..<total { p[i] = p[i] != 0 ? 1 : 0 }
            }
        }
        for case .loop(let loop) in program.instructions { placeConstants(loop.body, base + loop.region) }
    }

    deinit {
        _ = linked.failures.take(arena: arena)  // an error of a bare `execute()` nobody read
        arena.deallocate()
        scratch.deallocate()
    }

    /// The arena bytes of input `index` (write the input's elements here before `execute()`).
    public func inputBuffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        let o = program.inputs[index].operand
        return UnsafeMutableRawBufferPointer(start: arena + o.offset, count: o.byteCount)
    }

    /// The arena bytes of output `index` (valid after `execute()`, until the next one).
    public func outputBuffer(_ index: Int) -> UnsafeRawBufferPointer {
        let o = program.outputs[index].operand
        return UnsafeRawBufferPointer(start: arena + o.offset, count: o.byteCount)
    }

    /// Runs the program on the inputs currently in the arena. Allocates nothing.
    public func execute() {
        let base = arena
        let scratch = self.scratch
        linked.code.withUnsafeBufferPointer { code in
            linked.kernels.withUnsafeBufferPointer { kernels in
                runScalarMachine(code, kernels, base, scratch)
            }
        }
    }

    /// Copies `inputs` (in parameter order, types checked) in, runs, copies the outputs out.
    public func run(_ inputs: [Tensor]) throws(Diagnostic) -> [Tensor] {
        guard inputs.count == program.inputs.count else {
            throw Diagnostic(.other("\(program.name) takes \(program.inputs.count) inputs, got \(inputs.count)"))
        }
        for (binding, t) in zip(program.inputs, inputs) {
            guard binding.operand.type == t.type else {
                throw Diagnostic(.inputTypeMismatch(name: binding.name, expected: binding.operand.type, got: t.type))
            }
            writeTensor(t, to: arena + binding.operand.offset)
        }
        _ = linked.failures.take(arena: arena)
        execute()
        if let d = linked.failures.take(arena: arena) { throw d }
        return program.outputs.map { readTensor(arena + $0.operand.offset, $0.operand.type) }
    }

    /// Seconds spent in each scalar-machine instruction over `repeats` runs of the program
    /// (for profiling; the arena holds whatever inputs were last written).
    public func profile(repeats: Int = 10) -> [Double] {
        var times = [Double](repeating: 0, count: linked.code.count)
        for _ in 0..<repeats {
            linked.code.withUnsafeBufferPointer { code in
                linked.kernels.withUnsafeBufferPointer { kernels in
                    for i in 0..<code.count {
                        let start = DispatchTime.now().uptimeNanoseconds
                        runScalarMachine(UnsafeBufferPointer(rebasing: code[i..<(i + 1)]), kernels, arena, scratch)
                        times[i] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(repeats)
                    }
                }
            }
        }
        return times
    }
}
