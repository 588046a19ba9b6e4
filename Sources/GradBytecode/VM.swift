import GradLowering
import GradRuntime
import Foundation

// The virtual machine: validates a `BytecodeProgram`, links it to kernels, and runs it over
// one preallocated arena.

/// Bounds and kernel choices applied when a program is linked (a file cannot make the VM
/// allocate more).
public struct VMLimits: Sendable {
    /// Largest arena (constants, inputs, outputs, workspace) in bytes. Default 4 GiB.
    public var maxArenaBytes: Int
    /// Threads a large `matmul` may use (1 or 2; 1 keeps every kernel on the caller's thread).
    public var matmulThreads = 2
    /// Multiply-adds (m·n·k) from which a `matmul` uses `matmulThreads` threads. Below this,
    /// waking a second thread costs more than it saves (more so on a loaded machine).
    public var parallelMatmulThreshold = MatmulBlocking.parallelThreshold
    /// Bit-identical results: no fused multiply-add in `matmul`, so every output is bitwise
    /// the reference evaluator's, on every CPU. Off by default: on a CPU with AVX2 and FMA the
    /// f32/f64 matmul fuses each multiply-add (rounds once per step), and outputs computed from
    /// a matmul differ from the reference by a few ulp of the largest partial sum.
    public var portable = false
    /// Forces a matmul micro-kernel (tests, benchmarks); nil picks the fastest this CPU runs,
    /// the fastest bitwise one when `portable`. A kernel the CPU lacks gives `.baseline`, and
    /// `portable` turns `.avx2FMA` into `.avx2`.
    public var matmulKernel: VMMatmulKernel?
    public init(maxArenaBytes: Int = 1 << 32) {
        self.maxArenaBytes = maxArenaBytes
    }

    /// The micro-kernel these settings give on this CPU.
    public var resolvedMatmulKernel: VMMatmulKernel {
        let wanted = matmulKernel ?? .avx2FMA
        if wanted == .baseline || !CPUFeatures.haswell { return .baseline }
        return portable ? .avx2 : wanted
    }
}

/// The micro-kernel of the VM's f32/f64 `matmul` (packing, blocking and threads are shared).
public enum VMMatmulKernel: String, Sendable, CaseIterable {
    /// Compiled for the package's target (SSE2 on x86-64): multiply, then add. Bitwise the
    /// reference evaluator's.
    case baseline
    /// AVX2 (4 f64 / 8 f32 lanes), multiply, then add: bitwise the reference evaluator's.
    /// x86-64 Linux on a CPU with AVX2 and FMA only.
    case avx2
    /// AVX2 with fused multiply-add: fastest, within a few ulp of the reference (not bitwise).
    case avx2FMA
}

/// An operation of the scalar machine: `kernel` (run tensor kernel `d`), or an elementwise
/// op on rank-0 `f64` or `f32` registers — every `ElementwiseOp` in both types, derived from
/// the op, not listed. Registers are the arena's 8-byte words (register r = bytes
/// 8r ..< 8r+8; an f32 is the low 4 bytes); a bool result is one byte 0/1 at the start of
/// its register.
///
/// `raw` is 0 for `kernel`, else 1 + 2·`ElementwiseOp.index` + (1 for f32).
struct ScalarOpcode: Hashable {
    let raw: UInt16

    static let kernel = ScalarOpcode(raw: 0)

    private init(raw: UInt16) { self.raw = raw }

    /// The opcode of `op` computed in `dtype`, or `nil` for a dtype the machine has no
    /// registers of (i64, bool).
    init?(_ op: ElementwiseOp, _ dtype: DType) {
        guard dtype.isFloat else { return nil }
        raw = 1 + 2 * UInt16(op.index) + (dtype == .f32 ? 1 : 0)
    }

    var isF32: Bool { raw & 1 == 0 }
    /// The elementwise op (valid when `raw != 0`: every opcode is made from one).
    var elementwise: ElementwiseOp { unsafeBitCast(UInt8(truncatingIfNeeded: (raw - 1) >> 1), to: ElementwiseOp.self) }  // trap-ok: built by init only
}

/// One compact instruction: opcode and up to four register numbers (20 bytes).
struct ScalarInstruction {
    var op: ScalarOpcode
    var d: Int32
    var a: Int32
    var b: Int32
    var c: Int32
}

/// A tensor kernel with everything precomputed at link time.
protocol VMKernel: AnyObject {
    /// Runs over the arena at `base`, using `scratch` (at least `scratchBytes`, 64-aligned).
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer)
    var scratchBytes: Int { get }
}

/// A linked, runnable program.
///
/// Not reentrant: one evaluation at a time per instance (the arena is shared state). Two
/// levels of API:
/// - `run(_:)` takes and returns `Tensor`s (copies in and out).
/// - `inputBuffer(_:)`, `execute()`, `outputBuffer(_:)` work on the arena directly, with no
///   allocation per call (for benchmarks and training loops).
public final class VirtualMachine: @unchecked Sendable {
    public let program: BytecodeProgram
    let arena: UnsafeMutableRawPointer
    let scratch: UnsafeMutableRawPointer
    let code: [ScalarInstruction]
    let kernels: [any VMKernel]
    let failureBox = FailureBox()

    /// Number of instructions the scalar machine runs per evaluation.
    public var instructionCount: Int { code.count }
    /// Number of those that are tensor kernels.
    public var kernelCount: Int { kernels.count }
    /// Number of instructions linked to the generic slow path (reference kernel on tensors
    /// copied out of the arena, allocating per call): i64 `matmul`/`dot`/reductions only.
    public let fallbackKernelCount: Int
    /// The micro-kernel the f32/f64 matmuls were linked with (see `VMLimits.portable`).
    public let matmulKernel: VMMatmulKernel
    /// How many times the generic slow path ran since the VM was linked (0 means
    /// `execute()` allocated nothing).
    public var fallbackCalls: Int { failureBox.fallbackCalls }
    /// The error of the last `execute()`, if a kernel failed (`run` throws it).
    public var failure: Diagnostic? { failureBox.diagnostic }

    /// Validates and links `program`. Every operand's byte range, alignment, shape and op is
    /// checked so that running the program can never touch memory outside the arena.
    /// `locations`: the source location of each node of the function the program was lowered
    /// from (`function.nodes.map(\.location)`), named by run-time errors such as an index out
    /// of range; a program read from a file has none.
    public init(_ program: BytecodeProgram, limits: VMLimits = VMLimits(), locations: [SourceLocation]) throws(Diagnostic) {
        let validated: ValidatedProgram
        do {
            validated = try ValidatedProgram(program, limits: limits)
        } catch {
            throw error.diagnostic
        }
        let linker = KernelSelector(validated, limits: limits, failure: failureBox, locations: locations)
        self.program = program
        self.code = linker.code
        self.kernels = linker.kernels
        self.fallbackKernelCount = linker.fallbackCount
        self.matmulKernel = limits.resolvedMatmulKernel
        let scratchBytes = max(64, linker.kernels.map(\.scratchBytes).max() ?? 0)
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(64, program.arenaBytes), alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: max(64, program.arenaBytes))
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: scratchBytes)
        for c in program.constants {
            c.bytes.withUnsafeBytes { src in
                if let s = src.baseAddress { (arena + c.operand.offset).copyMemory(from: s, byteCount: c.bytes.count) }
            }
            if c.operand.type.dtype == .bool {
                let p = (arena + c.operand.offset).assumingMemoryBound(to: UInt8.self)
                for i in 0..<c.bytes.count { p[i] = p[i] != 0 ? 1 : 0 }
            }
        }
    }

    /// Validates and links `program`, with no source locations (see the other initializer).
    public convenience init(_ program: BytecodeProgram, limits: VMLimits = VMLimits()) throws(Diagnostic) {
        try self.init(program, limits: limits, locations: [])
    }

    deinit {
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

    /// Runs the program on the inputs currently in the arena. Allocates nothing. A kernel that
    /// fails (an index out of range) stops writing and leaves `failure` set.
    public func execute() {
        failureBox.diagnostic = nil
        let base = arena
        let scratch = self.scratch
        code.withUnsafeBufferPointer { code in
            kernels.withUnsafeBufferPointer { kernels in
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
        execute()
        if let d = failureBox.diagnostic { throw d }
        return program.outputs.map { readTensor(arena + $0.operand.offset, $0.operand.type) }
    }
}

/// Where a fallback kernel reports an error (kernels cannot throw).
final class FailureBox: @unchecked Sendable {
    var diagnostic: Diagnostic?
    /// Runs of `FallbackKernel` (the allocating generic path) since the VM was linked.
    var fallbackCalls = 0
}

// MARK: - The scalar machine

/// The interpreter loop: a `switch` over compact instructions, registers read and written
/// straight in the arena. Tensor ops are one `kernel` instruction each.
@inline(never)
func runScalarMachine(_ code: UnsafeBufferPointer<ScalarInstruction>, _ kernels: UnsafeBufferPointer<any VMKernel>,
                      _ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
    guard var ip = code.baseAddress else { return }
    let end = ip + code.count
    while ip < end {
        let ins = ip.pointee
        if ins.op == .kernel {
            kernels[Int(ins.d)].run(base, scratch)
        } else if ins.op.isF32 {
            scalarStep(ins, base, Float.self)
        } else {
            scalarStep(ins, base, Double.self)
        }
        ip += 1
    }
}

/// One elementwise instruction on registers of type `T`: one jump over the op, whose case
/// calls `ElementwiseOp.real` on a literal op (the reference kernels' formula, its switch
/// folded away). A comparison writes a bool byte, `select` reads one.
@_transparent
func scalarStep<T: RealScalar>(_ ins: ScalarInstruction, _ base: UnsafeMutableRawPointer, _: T.Type) {
    @inline(__always) func r(_ i: Int32) -> T { base.load(fromByteOffset: Int(i) &<< 3, as: T.self) }
    @inline(__always) func w(_ v: T) { base.storeBytes(of: v, toByteOffset: Int(ins.d) &<< 3, as: T.self) }
    @inline(__always) func wb(_ v: T) { base.storeBytes(of: v != 0 ? 1 : 0, toByteOffset: Int(ins.d) &<< 3, as: UInt8.self) }
    let (x, y) = (r(ins.a), r(ins.b))
    switch ins.op.elementwise {
    case .neg: w(ElementwiseOp.neg.real(x, y, 0))
    case .abs: w(ElementwiseOp.abs.real(x, y, 0))
    case .sign: w(ElementwiseOp.sign.real(x, y, 0))
    case .exp: w(ElementwiseOp.exp.real(x, y, 0))
    case .log: w(ElementwiseOp.log.real(x, y, 0))
    case .log1p: w(ElementwiseOp.log1p.real(x, y, 0))
    case .expm1: w(ElementwiseOp.expm1.real(x, y, 0))
    case .sqrt: w(ElementwiseOp.sqrt.real(x, y, 0))
    case .rsqrt: w(ElementwiseOp.rsqrt.real(x, y, 0))
    case .square: w(ElementwiseOp.square.real(x, y, 0))
    case .reciprocal: w(ElementwiseOp.reciprocal.real(x, y, 0))
    case .sin: w(ElementwiseOp.sin.real(x, y, 0))
    case .cos: w(ElementwiseOp.cos.real(x, y, 0))
    case .tan: w(ElementwiseOp.tan.real(x, y, 0))
    case .tanh: w(ElementwiseOp.tanh.real(x, y, 0))
    case .sigmoid: w(ElementwiseOp.sigmoid.real(x, y, 0))
    case .relu: w(ElementwiseOp.relu.real(x, y, 0))
    case .softplus: w(ElementwiseOp.softplus.real(x, y, 0))
    case .erf: w(ElementwiseOp.erf.real(x, y, 0))
    case .floor: w(ElementwiseOp.floor.real(x, y, 0))
    case .ceil: w(ElementwiseOp.ceil.real(x, y, 0))
    case .add: w(ElementwiseOp.add.real(x, y, 0))
    case .sub: w(ElementwiseOp.sub.real(x, y, 0))
    case .mul: w(ElementwiseOp.mul.real(x, y, 0))
    case .div: w(ElementwiseOp.div.real(x, y, 0))
    case .pow: w(ElementwiseOp.pow.real(x, y, 0))
    case .maximum: w(ElementwiseOp.maximum.real(x, y, 0))
    case .minimum: w(ElementwiseOp.minimum.real(x, y, 0))
    case .atan2: w(ElementwiseOp.atan2.real(x, y, 0))
    case .floordiv: w(ElementwiseOp.floordiv.real(x, y, 0))
    case .mod: w(ElementwiseOp.mod.real(x, y, 0))
    case .zmul: w(ElementwiseOp.zmul.real(x, y, 0))
    case .zdiv: w(ElementwiseOp.zdiv.real(x, y, 0))
    case .eq: wb(ElementwiseOp.eq.real(x, y, 0))
    case .ne: wb(ElementwiseOp.ne.real(x, y, 0))
    case .lt: wb(ElementwiseOp.lt.real(x, y, 0))
    case .le: wb(ElementwiseOp.le.real(x, y, 0))
    case .gt: wb(ElementwiseOp.gt.real(x, y, 0))
    case .ge: wb(ElementwiseOp.ge.real(x, y, 0))
    case .select:
        let c = base.load(fromByteOffset: Int(ins.a) &<< 3, as: UInt8.self)
        w(c != 0 ? y : r(ins.c))
    }
}

// MARK: - Tensors in and out of the arena

func writeTensor(_ t: Tensor, to p: UnsafeMutableRawPointer) {
    switch t.storage {
    case .f32(let v): v.withUnsafeBytes { if let s = $0.baseAddress { p.copyMemory(from: s, byteCount: $0.count) } }
    case .f64(let v): v.withUnsafeBytes { if let s = $0.baseAddress { p.copyMemory(from: s, byteCount: $0.count) } }
    case .i64(let v): v.withUnsafeBytes { if let s = $0.baseAddress { p.copyMemory(from: s, byteCount: $0.count) } }
    case .bool(let v):
        let q = p.assumingMemoryBound(to: UInt8.self)
        for (i, b) in v.enumerated() { q[i] = b ? 1 : 0 }
    }
}

func readTensor(_ p: UnsafeRawPointer, _ type: TensorType) -> Tensor {
    let n = type.count
    let storage: Tensor.Storage
    switch type.dtype {
    case .f32: storage = .f32(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: n)))
    case .f64: storage = .f64(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Double.self), count: n)))
    case .i64: storage = .i64(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Int64.self), count: n)))
    case .bool: storage = .bool(UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: n).map { $0 != 0 })
    }
    return Tensor(storage, shape: type.shape) ?? Tensor(type, doubles: [0])
}

extension VirtualMachine {
    /// Seconds spent in each scalar-machine instruction over `repeats` runs of the program
    /// (for profiling; the arena holds whatever inputs were last written).
    public func profile(repeats: Int = 10) -> [Double] {
        var times = [Double](repeating: 0, count: code.count)
        for _ in 0..<repeats {
            code.withUnsafeBufferPointer { code in
                kernels.withUnsafeBufferPointer { kernels in
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
