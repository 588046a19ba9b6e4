import GradIR
import GradRuntime

/// `max_pool2d`, `avg_pool2d` and their transposes: the loops of `PoolKernels` (GradRuntime),
/// shared with the reference evaluator, on the arena's buffers.
final class PoolKernel<T: RealScalar> {
    let op: Op
    let geometry: PoolGeometry
    let a: Int
    let b: Int
    let out: Int
    let empty: Bool

    init(_ op: Op, _ geometry: PoolGeometry, _ inputs: [BytecodeOperand], _ output: BytecodeOperand) {
        self.op = op
        self.geometry = geometry
        a = inputs[0].offset
        b = inputs.count > 1 ? inputs[1].offset : inputs[0].offset
        out = output.offset
        empty = output.type.count == 0
    }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        if empty { return }
        // (An empty operand is never read: its windows hold padding only.)
        PoolKernels.run(op, geometry, UnsafePointer((base + a).assumingMemoryBound(to: T.self)),
                        UnsafePointer((base + b).assumingMemoryBound(to: T.self)), (base + out).assumingMemoryBound(to: T.self))
    }
}
