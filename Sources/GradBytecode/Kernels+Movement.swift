import GradRuntime
// Data movement kernels and the generic fallback.

/// `memmove` of a buffer (views materialized, output copies).
final class CopyKernel: VMKernel {
    let from: Int
    let to: Int
    let bytes: Int
    init(from: Int, to: Int, bytes: Int) {
        self.from = from
        self.to = to
        self.bytes = bytes
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        if from != to && bytes > 0 { (base + to).copyMemory(from: base + from, byteCount: bytes) }
    }
}

/// `out[i] = x[map[i]]` — transpose, broadcast_to and slice, with the index map computed at
/// link time (every entry is inside `x`: the maps come from the validated shapes).
final class GatherKernel: VMKernel {
    let from: Int
    let to: Int
    let elementSize: Int
    let map: [Int]
    init(from: BytecodeOperand, to: BytecodeOperand, map: [Int]) {
        self.from = from.offset
        self.to = to.offset
        elementSize = to.type.dtype.byteSize
        self.map = map
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        map.withUnsafeBufferPointer { m in
            switch elementSize {
            case 8: move(base, m, UInt64.self)
            case 4: move(base, m, UInt32.self)
            default: move(base, m, UInt8.self)
            }
        }
    }
    @inline(__always)
    func move<E>(_ base: UnsafeMutableRawPointer, _ m: UnsafeBufferPointer<Int>, _: E.Type) {
        let src = (base + from).assumingMemoryBound(to: E.self)
        let dst = (base + to).assumingMemoryBound(to: E.self)
        for i in 0..<m.count { dst[i] = src[m[i]] }
    }
}

/// The generic slow path for rare ops (integer and bool arithmetic, `cumsum`, `one_hot`,
/// `cast`, `pad`, `concat`, …): copies the operands out of the arena into `Tensor`s, calls
/// the reference kernel `evaluateOp`, copies the result back. Allocates per call.
final class FallbackKernel: VMKernel {
    let op: Op
    let attrs: Attributes
    let inputs: [BytecodeOperand]
    let output: BytecodeOperand
    let failure: FailureBox
    init(op: Op, attrs: Attributes, inputs: [BytecodeOperand], output: BytecodeOperand, failure: FailureBox) {
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.output = output
        self.failure = failure
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let operands = inputs.map { readTensor(base + $0.offset, $0.type) }
        do {
            let result = try evaluateOp(op, attrs, operands, resultType: output.type)
            let bytes = tensorBytes(result)
            bytes.withUnsafeBytes { src in
                if let s = src.baseAddress { (base + output.offset).copyMemory(from: s, byteCount: min(src.count, output.byteCount)) }
            }
        } catch {
            if failure.diagnostic == nil { failure.diagnostic = error }
        }
    }
}
