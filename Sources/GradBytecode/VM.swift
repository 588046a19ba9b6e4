import GradLowering
import GradRuntime
import Foundation

// The virtual machine: validates a `BytecodeProgram`, links it to kernels, and runs it over
// preallocated arenas, one per session (VM+Session.swift).

/// Bounds and kernel choices applied when a program is linked (a file cannot make the VM
/// allocate more).
public struct VMLimits: Sendable {
    /// Largest arena (constants, inputs, outputs, workspace) in bytes. Default 4 GiB.
    public var maxArenaBytes: Int
    /// Most loop-body runs one evaluation may make: every loop's trip count times those of the
    /// loops around it, summed over all loops (so a file cannot make the VM run bodies more
    /// often; each body's own work is bounded by the file's size). Default 2³².
    public var maxLoopSteps = 1 << 32
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
        if wanted == .baseline || !CPUFeatures.avx2FMA { return .baseline }
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
/// `raw` is the `ElementwiseOp.index` for an f64 op, that plus `f32Bit` for an f32 op, and
/// `kernelBit` for `kernel`: the f64 opcodes — the common case — are the op's own index, so
/// the machine's dispatch is one compare and one jump table (no decoding arithmetic).
struct ScalarOpcode: Hashable {
    let raw: UInt8

    static let f32Bit: UInt8 = 0x40
    static let kernelBit: UInt8 = 0x80
    static let kernel = ScalarOpcode(raw: kernelBit)

    private init(raw: UInt8) { self.raw = raw }

    /// The opcode of `op` computed in `dtype`, or `nil` for a dtype the machine has no
    /// registers of (i64, bool). (Elementwise ops number fewer than 64; a test checks it.)
    init?(_ op: ElementwiseOp, _ dtype: DType) {
        guard dtype.isFloat, op.index < Int(ScalarOpcode.f32Bit) else { return nil }
        raw = UInt8(op.index) | (dtype == .f32 ? ScalarOpcode.f32Bit : 0)
    }

    /// The elementwise op (valid unless `kernel`: every other opcode is made from one).
    var elementwise: ElementwiseOp { unsafeBitCast(raw & (ScalarOpcode.f32Bit - 1), to: ElementwiseOp.self) }  // trap-ok: built by init only
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

/// A linked, runnable program, safe to share between threads.
///
/// Linking produces code and kernels that are immutable and keep no state between runs (they
/// read and write only the arena and scratch memory they are handed); all mutable state is
/// an arena, owned by a `VMSession`. `run(_:)` uses the VM's own session under a lock, so
/// concurrent calls serialize (like `CKernel.run`). For parallel evaluations, or the
/// allocation-free arena API (`inputBuffer(_:)`, `execute()`, `outputBuffer(_:)`: benchmarks
/// and training loops), make a session per thread with `makeSession()`: sessions share the
/// linked code, each has its own arena.
public final class VirtualMachine: @unchecked Sendable {  // safe: `linked` is immutable, `shared` is used under `lock` only
    let linked: LinkedProgram
    private let lock = NSLock()
    private let shared: VMSession

    public var program: BytecodeProgram { linked.program }
    /// Number of instructions the scalar machine runs per evaluation.
    public var instructionCount: Int { linked.code.count }
    /// Number of those that are tensor kernels.
    public var kernelCount: Int { linked.kernels.count }
    /// Number of instructions linked to the generic slow path (reference kernel on tensors
    /// copied out of the arena, allocating per call): i64 `matmul`/`dot`/reductions only.
    public var fallbackKernelCount: Int { linked.fallbackKernelCount }
    /// The micro-kernel the f32/f64 matmuls were linked with (see `VMLimits.portable`).
    public var matmulKernel: VMMatmulKernel { linked.matmulKernel }
    /// How many times the generic slow path ran since the VM was linked, in every session
    /// (0 means `execute()` allocated nothing).
    public var fallbackCalls: Int { linked.failures.fallbackCalls }

    /// Validates and links `program`. Every operand's byte range, alignment, shape and op is
    /// checked so that running the program can never touch memory outside the arena.
    /// `locations`: the source location of each node of the function the program was lowered
    /// from (`function.nodes.map(\.location)`), named by run-time errors such as an index out
    /// of range; a program read from a file has none.
    public convenience init(_ program: BytecodeProgram, limits: VMLimits = VMLimits(), locations: [SourceLocation]) throws(Diagnostic) {
        try self.init(program, limits: limits, sourceMap: SourceMap(nodes: locations))
    }

    /// Validates and links `program`, lowered from `function`: run-time errors name the
    /// source location of the node that failed, inside loop bodies too.
    /// `onPhase`: called with each phase's name as it ends (`VirtualMachine.phases`; `--timings`).
    public convenience init(_ program: BytecodeProgram, limits: VMLimits = VMLimits(), function: Function,
                            onPhase: ((String) -> Void)? = nil) throws(Diagnostic) {
        try self.init(program, limits: limits, sourceMap: SourceMap(function), onPhase: onPhase)
    }

    /// The phases of linking a program: validation (`BytecodeProgram.validate`), kernel
    /// selection (the scalar machine's code and the tensor kernels, transpose elision
    /// included), the session (the arena allocated, the constants placed in it).
    public static let phases = ["validate", "select kernels", "arena"]

    init(_ program: BytecodeProgram, limits: VMLimits, sourceMap: SourceMap, onPhase: ((String) -> Void)? = nil) throws(Diagnostic) {
        let validated: ValidatedProgram
        do {
            validated = try ValidatedProgram(program, limits: limits)
        } catch {
            throw error.diagnostic
        }
        onPhase?("validate")
        linked = LinkedProgram(validated, limits: limits, sourceMap: sourceMap)
        onPhase?("select kernels")
        shared = VMSession(linked)
        onPhase?("arena")
    }

    /// Validates and links `program`, with no source locations (see the other initializer).
    /// `onPhase` as for `init(_:limits:function:onPhase:)`.
    public convenience init(_ program: BytecodeProgram, limits: VMLimits = VMLimits(), onPhase: ((String) -> Void)? = nil) throws(Diagnostic) {
        try self.init(program, limits: limits, sourceMap: SourceMap(nodes: []), onPhase: onPhase)
    }

    /// A new session: its own arena (constants in place), the VM's linked code.
    public func makeSession() -> VMSession {
        VMSession(linked)
    }

    /// Copies `inputs` (in parameter order, types checked) in, runs, copies the outputs out.
    /// Calls from several threads serialize.
    public func run(_ inputs: [Tensor]) throws(Diagnostic) -> [Tensor] {
        lock.lock()
        defer { lock.unlock() }
        return try shared.run(inputs)
    }
}

/// What linking a program produces: shared, never written after `init`, by every session.
final class LinkedProgram: @unchecked Sendable {  // safe: immutable; kernels keep no state, `failures` locks
    let program: BytecodeProgram
    let code: [ScalarInstruction]
    let kernels: [any VMKernel]
    let fallbackKernelCount: Int
    let matmulKernel: VMMatmulKernel
    let scratchBytes: Int
    let failures = FailureBox()

    init(_ validated: ValidatedProgram, limits: VMLimits, sourceMap: SourceMap) {
        let selector = KernelSelector(validated, limits: limits, failure: failures, sourceMap: sourceMap)
        program = validated.program
        code = selector.code
        kernels = selector.kernels
        fallbackKernelCount = selector.fallbackCount
        matmulKernel = limits.resolvedMatmulKernel
        scratchBytes = max(64, selector.kernels.map(\.scratchBytes).max() ?? 0)
    }
}

/// The source location of each IR node of the function a program was lowered from, and the
/// same for the body of each loop node (by the loop's node number).
struct SourceMap {
    var nodes: [SourceLocation] = []
    var loops: [Int: SourceMap] = [:]

    init(nodes: [SourceLocation] = []) {
        self.nodes = nodes
    }

    init(_ f: Function) {
        nodes = f.nodes.map(\.location)
        for (id, node) in f.nodes.enumerated() where node.op == .scan {
            if let k = node.attrs.int(.body), f.bodies.indices.contains(k) { loops[id] = SourceMap(f.bodies[k]) }
        }
    }
}

/// Where fallback kernels report errors (kernels cannot throw), per arena: sessions running at
/// the same time share the kernels, so an error is filed under the arena it happened in.
final class FailureBox: @unchecked Sendable {  // safe: every access holds `lock`
    private let lock = NSLock()
    private var failures: [UnsafeMutableRawPointer: Diagnostic] = [:]
    private var calls = 0

    /// Runs of `FallbackKernel` (the allocating generic path) since the VM was linked.
    var fallbackCalls: Int {
        lock.lock()
        defer { lock.unlock() }
        return calls
    }

    /// Counts one fallback run on `arena`, and keeps its first error.
    func record(_ error: Diagnostic?, arena: UnsafeMutableRawPointer) {
        lock.lock()
        defer { lock.unlock() }
        calls += 1
        if let error, failures[arena] == nil { failures[arena] = error }
    }

    /// Keeps `error` as the first error on `arena` (a kernel that failed, e.g. on an index out
    /// of range; not a fallback run).
    func report(_ error: Diagnostic, arena: UnsafeMutableRawPointer) {
        lock.lock()
        defer { lock.unlock() }
        if failures[arena] == nil { failures[arena] = error }
    }

    /// The first error on `arena` since the last `take`, cleared.
    func take(arena: UnsafeMutableRawPointer) -> Diagnostic? {
        lock.lock()
        defer { lock.unlock() }
        return failures.removeValue(forKey: arena)
    }
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
        if ins.op.raw < ScalarOpcode.f32Bit {
            scalarStep(ins, base, Double.self)
        } else if ins.op.raw < ScalarOpcode.kernelBit {
            scalarStep(ins, base, Float.self)
        } else {
            kernels[Int(ins.d)].run(base, scratch)
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
    case .lgamma: w(ElementwiseOp.lgamma.real(x, y, 0))
    case .digamma: w(ElementwiseOp.digamma.real(x, y, 0))
    case .erfc: w(ElementwiseOp.erfc.real(x, y, 0))
    case .log_sigmoid: w(ElementwiseOp.log_sigmoid.real(x, y, 0))
    case .polygamma: w(ElementwiseOp.polygamma.real(x, y, 0))
    case .logaddexp: w(ElementwiseOp.logaddexp.real(x, y, 0))
    case .xlogy: w(ElementwiseOp.xlogy.real(x, y, 0))
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
