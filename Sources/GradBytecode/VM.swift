import GradRuntime
import Foundation

// The virtual machine: validates a `BytecodeProgram`, links it to kernels, and runs it over
// one preallocated arena.

/// Bounds applied when a program is linked (a file cannot make the VM allocate more).
public struct VMLimits: Sendable {
    /// Largest arena (constants, inputs, outputs, workspace) in bytes. Default 4 GiB.
    public var maxArenaBytes: Int
    public init(maxArenaBytes: Int = 1 << 32) {
        self.maxArenaBytes = maxArenaBytes
    }
}

/// Operations of the scalar machine: one per rank-0 `f64` elementwise op, plus `kernel`
/// (run tensor kernel `d`). Registers are the arena's 8-byte words (register r = bytes
/// 8r ..< 8r+8); a bool result is one byte 0/1 at the start of its register.
enum ScalarOpcode: UInt8 {
    case kernel
    case neg, abs, sign, exp, log, log1p, expm1, sqrt, rsqrt, square, reciprocal
    case sin, cos, tan, tanh, sigmoid, relu, softplus, erf, floor, ceil
    case add, sub, mul, div, pow, maximum, minimum, atan2
    case eq, ne, lt, le, gt, ge, select
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

    /// Validates and links `program`. Every operand's byte range, alignment, shape and op is
    /// checked so that running the program can never touch memory outside the arena.
    public init(_ program: BytecodeProgram, limits: VMLimits = VMLimits()) throws(Diagnostic) {
        try validateLayout(program, limits: limits)
        var linker = Linker(program: program, failure: failureBox)
        for (index, instruction) in program.instructions.enumerated() {
            do {
                try linker.link(instruction)
            } catch {
                throw Diagnostic(.other("invalid bytecode: instruction \(index): \(error.message)"))
            }
        }
        self.program = program
        self.code = linker.code
        self.kernels = linker.kernels
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

    /// Runs the program on the inputs currently in the arena. Allocates nothing.
    public func execute() {
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
        failureBox.diagnostic = nil
        execute()
        if let d = failureBox.diagnostic { throw d }
        return program.outputs.map { readTensor(arena + $0.operand.offset, $0.operand.type) }
    }
}

/// Where a fallback kernel reports an error (kernels cannot throw).
final class FailureBox: @unchecked Sendable {
    var diagnostic: Diagnostic?
}

// MARK: - The scalar machine

/// The interpreter loop: a `switch` over compact instructions, registers read and written
/// straight in the arena. Tensor ops are one `kernel` instruction each.
@inline(never)
func runScalarMachine(_ code: UnsafeBufferPointer<ScalarInstruction>, _ kernels: UnsafeBufferPointer<any VMKernel>,
                      _ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
    guard var ip = code.baseAddress else { return }
    let end = ip + code.count
    @inline(__always) func r(_ i: Int32) -> Double { base.load(fromByteOffset: Int(i) &<< 3, as: Double.self) }
    @inline(__always) func w(_ i: Int32, _ v: Double) { base.storeBytes(of: v, toByteOffset: Int(i) &<< 3, as: Double.self) }
    @inline(__always) func wb(_ i: Int32, _ v: Bool) { base.storeBytes(of: v ? 1 : 0, toByteOffset: Int(i) &<< 3, as: UInt8.self) }
    while ip < end {
        let ins = ip.pointee
        switch ins.op {
        case .kernel: kernels[Int(ins.d)].run(base, scratch)
        case .neg: w(ins.d, ScalarMath.neg(r(ins.a)))
        case .abs: w(ins.d, ScalarMath.abs(r(ins.a)))
        case .sign: w(ins.d, ScalarMath.sign(r(ins.a)))
        case .exp: w(ins.d, ScalarMath.exp(r(ins.a)))
        case .log: w(ins.d, ScalarMath.log(r(ins.a)))
        case .log1p: w(ins.d, ScalarMath.log1p(r(ins.a)))
        case .expm1: w(ins.d, ScalarMath.expm1(r(ins.a)))
        case .sqrt: w(ins.d, ScalarMath.sqrt(r(ins.a)))
        case .rsqrt: w(ins.d, ScalarMath.rsqrt(r(ins.a)))
        case .square: w(ins.d, ScalarMath.square(r(ins.a)))
        case .reciprocal: w(ins.d, ScalarMath.reciprocal(r(ins.a)))
        case .sin: w(ins.d, ScalarMath.sin(r(ins.a)))
        case .cos: w(ins.d, ScalarMath.cos(r(ins.a)))
        case .tan: w(ins.d, ScalarMath.tan(r(ins.a)))
        case .tanh: w(ins.d, ScalarMath.tanh(r(ins.a)))
        case .sigmoid: w(ins.d, ScalarMath.sigmoid(r(ins.a)))
        case .relu: w(ins.d, ScalarMath.relu(r(ins.a)))
        case .softplus: w(ins.d, ScalarMath.softplus(r(ins.a)))
        case .erf: w(ins.d, ScalarMath.erf(r(ins.a)))
        case .floor: w(ins.d, ScalarMath.floor(r(ins.a)))
        case .ceil: w(ins.d, ScalarMath.ceil(r(ins.a)))
        case .add: w(ins.d, r(ins.a) + r(ins.b))
        case .sub: w(ins.d, r(ins.a) - r(ins.b))
        case .mul: w(ins.d, r(ins.a) * r(ins.b))
        case .div: w(ins.d, r(ins.a) / r(ins.b))
        case .pow: w(ins.d, ScalarMath.pow(r(ins.a), r(ins.b)))
        case .maximum: w(ins.d, ScalarMath.maximum(r(ins.a), r(ins.b)))
        case .minimum: w(ins.d, ScalarMath.minimum(r(ins.a), r(ins.b)))
        case .atan2: w(ins.d, ScalarMath.atan2(r(ins.a), r(ins.b)))
        case .eq: wb(ins.d, r(ins.a) == r(ins.b))
        case .ne: wb(ins.d, r(ins.a) != r(ins.b))
        case .lt: wb(ins.d, r(ins.a) < r(ins.b))
        case .le: wb(ins.d, r(ins.a) <= r(ins.b))
        case .gt: wb(ins.d, r(ins.a) > r(ins.b))
        case .ge: wb(ins.d, r(ins.a) >= r(ins.b))
        case .select:
            let c = base.load(fromByteOffset: Int(ins.a) &<< 3, as: UInt8.self)
            w(ins.d, c != 0 ? r(ins.b) : r(ins.c))
        }
        ip += 1
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
