import GradRuntime
// Kernel selection: turns the instructions of a validated program into scalar-machine code
// and tensor kernels. Every check lives in Program+Validation.swift; this file only chooses.

/// Chooses the VM's code and kernels for a validated program (`VirtualMachine.init`).
struct KernelSelector {
    let program: BytecodeProgram
    let failure: FailureBox
    var code: [ScalarInstruction] = []
    var kernels: [any VMKernel] = []
    /// Number of `FallbackKernel`s chosen.
    var fallbackCount = 0
    /// Transposes read in place by matmuls (see `TransposeElision`).
    var elision: TransposeElision
    /// Index of the instruction being selected for.
    var index = 0
    /// Threading settings for the matmul kernels.
    let limits: VMLimits
    /// The source location of each IR node (empty for a program read from a file), for the
    /// errors kernels report at run time.
    let locations: [SourceLocation]
    /// The IR node of the instruction being selected for.
    var node = 0

    /// Selects code for every instruction of `validated`.
    /// The same for each loop body.
    let sourceMap: SourceMap

    init(_ validated: ValidatedProgram, limits: VMLimits, failure: FailureBox, sourceMap: SourceMap = SourceMap()) {
        program = validated.program
        self.failure = failure
        self.limits = limits
        self.locations = sourceMap.nodes
        self.sourceMap = sourceMap
        elision = TransposeElision(program)
        code.reserveCapacity(program.instructions.count)
        for (index, instruction) in program.instructions.enumerated() {
            select(instruction, at: index)
        }
    }

    /// Adds a generic kernel through a closure created where its concrete type is known, so
    /// that its `run` is the specialized code (calling a generic class's method through a
    /// protocol existential would run the unspecialized generic code, ~100× slower).
    mutating func add(scratch: Int, _ body: @escaping (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void) {
        add(ClosureKernel(scratchBytes: scratch, body: body))
    }

    mutating func add(_ kernel: any VMKernel) {
        code.append(ScalarInstruction(op: .kernel, d: Int32(kernels.count), a: 0, b: 0, c: 0))
        kernels.append(kernel)
    }

    mutating func select(_ instruction: BytecodeInstruction, at index: Int) {
        self.index = index
        switch instruction {
        case .copy(let from, let to):
            add(CopyKernel(from: from.offset, to: to.offset, bytes: to.byteCount))
        case .fused(let dtype, let ops, let leaves, let output, _):
            if ops.count == 1, addScalar(dtype, ops[0].op, ops[0].args.map { leaves[$0] }, output) { return }
            addFused(dtype, ops, leaves, output)
        case .loop(let loop):
            // Validation checked the body with the program (`ValidatedProgram(trusted:)`).
            let body = KernelSelector(ValidatedProgram(trusted: loop.body), limits: limits, failure: failure,
                                      sourceMap: sourceMap.loops[loop.node] ?? SourceMap())
            fallbackCount += body.fallbackCount
            let location = loop.node >= 0 && loop.node < locations.count ? locations[loop.node] : SourceLocation.unknown
            add(LoopKernel(loop, code: body.code, kernels: body.kernels, failures: failure, location: location))
        case .op(let op, let attrs, let inputs, let output, let node):
            if elision.skipped.contains(index) { return }
            self.node = node
            selectOp(op, attrs, inputs, output)
        }
    }

    mutating func selectOp(_ op: Op, _ attrs: Attributes, _ inputs: [BytecodeOperand], _ output: BytecodeOperand) {
        let computeType = op.elementwise.map { $0.computeDType(result: output.type.dtype, firstOperand: inputs.first?.type.dtype ?? output.type.dtype) }
        let floatType = inputs.first.map { $0.type.dtype.isFloat } ?? false
        if let t = computeType, t.isFloat {
            // Elementwise on floats: the scalar machine for f64 scalars, a one-op fused loop otherwise.
            if addScalar(t, op, inputs, output) { return }
            var seen: [BytecodeOperand] = []
            for i in inputs where !seen.contains(i) { seen.append(i) }
            let args = inputs.compactMap { i in seen.firstIndex(of: i) }
            let ops = [MicroOp(op: op, args: args)]
            addFused(t, ops, seen, output)
            return
        }
        let x = inputs.first
        switch op {
        case .sum, .mean, .max, .min, .prod, .logsumexp:
            guard floatType, let x else { break }
            let axes = normalizedAxes(attrs.axes, rank: x.type.rank)
            if x.type.dtype == .f32 {
                let k = ReduceKernel<Float>(op, x, output, axes: axes)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            } else {
                let k = ReduceKernel<Double>(op, x, output, axes: axes)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            }
            return
        case .softmax, .log_softmax, .softmax_cross_entropy:
            guard floatType, let x else { break }
            let axis = normalizeAxis(attrs.axis ?? -1, rank: x.type.rank) ?? 0
            if x.type.dtype == .f32 {
                let k = SoftmaxKernel<Float>(op, inputs, output, axis: axis)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            } else {
                let k = SoftmaxKernel<Double>(op, inputs, output, axis: axis)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            }
            return
        case .matmul:
            guard floatType else { break }
            // An operand whose transpose was elided is read from the transpose's source.
            let sources = elision.transposedOperands[index] ?? [:]
            let a = sources[0] ?? inputs[0]
            let b = sources[1] ?? inputs[1]
            let (at, bt) = (sources[0] != nil, sources[1] != nil)
            let (threads, threshold) = (limits.matmulThreads, limits.parallelMatmulThreshold)
            // The AVX2 micro-kernels work on 2 × 4 f64 / 2 × 8 f32 lanes: the vector type V
            // sets the width of the packed B panels to match.
            switch (inputs[0].type.dtype == .f32, limits.resolvedMatmulKernel) {
            case (true, .baseline):
                let k = MatmulKernel<Float, SIMD4<Float>>(a, b, output, aTransposed: at, bTransposed: bt, threads: threads, threshold: threshold)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            case (true, let kernel):
                let k = MatmulKernel<Float, SIMD8<Float>>(a, b, output, aTransposed: at, bTransposed: bt, threads: threads, threshold: threshold,
                                                            micro: MatmulMicro(f32: kernel))
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            case (false, .baseline):
                let k = MatmulKernel<Double, SIMD2<Double>>(a, b, output, aTransposed: at, bTransposed: bt, threads: threads, threshold: threshold)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            case (false, let kernel):
                let k = MatmulKernel<Double, SIMD4<Double>>(a, b, output, aTransposed: at, bTransposed: bt, threads: threads, threshold: threshold,
                                                            micro: MatmulMicro(f64: kernel))
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            }
            return
        case .conv2d, .conv2d_input_grad, .conv2d_kernel_grad:
            guard floatType, let geometry = ConvGeometry.of(op, operands: inputs.map(\.type.shape), attrs: attrs) else { break }
            let (threads, threshold) = (limits.matmulThreads, limits.parallelMatmulThreshold)
            switch (inputs[0].type.dtype == .f32, limits.resolvedMatmulKernel) {
            case (true, .baseline):
                let k = ConvKernel<Float, SIMD4<Float>>(op, geometry, inputs, output, threads: threads, threshold: threshold, micro: nil)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            case (true, let kernel):
                let k = ConvKernel<Float, SIMD8<Float>>(op, geometry, inputs, output, threads: threads, threshold: threshold,
                                                        micro: MatmulMicro(f32: kernel))
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            case (false, .baseline):
                let k = ConvKernel<Double, SIMD2<Double>>(op, geometry, inputs, output, threads: threads, threshold: threshold, micro: nil)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            case (false, let kernel):
                let k = ConvKernel<Double, SIMD4<Double>>(op, geometry, inputs, output, threads: threads, threshold: threshold,
                                                          micro: MatmulMicro(f64: kernel))
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            }
            return
        case .max_pool2d, .max_pool2d_grad, .max_pool2d_tangent, .avg_pool2d, .avg_pool2d_grad:
            guard floatType, let geometry = PoolGeometry.of(op, operands: inputs.map(\.type.shape), attrs: attrs) else { break }
            if inputs[0].type.dtype == .f32 {
                let k = PoolKernel<Float>(op, geometry, inputs, output)
                add(scratch: 0) { k.run($0, $1) }
            } else {
                let k = PoolKernel<Double>(op, geometry, inputs, output)
                add(scratch: 0) { k.run($0, $1) }
            }
            return
        case .dot:
            guard floatType else { break }
            if inputs[0].type.dtype == .f32 {
                let k = DotKernel<Float>(inputs[0], inputs[1], output)
                add(scratch: 0) { k.run($0, $1) }
            } else {
                let k = DotKernel<Double>(inputs[0], inputs[1], output)
                add(scratch: 0) { k.run($0, $1) }
            }
            return
        case .cholesky, .triangular_solve, .logdet, .solve, .det, .logabsdet, .det_sign:
            guard floatType else { break }
            if inputs[0].type.dtype == .f32 {
                let k = LinalgKernel<Float>(op, attrs, inputs, output)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            } else {
                let k = LinalgKernel<Double>(op, attrs, inputs, output)
                add(scratch: k.scratchBytes) { k.run($0, $1) }
            }
            return
        default:
            break
        }
        switch op {
        case _ where op.isView:
            add(CopyKernel(from: inputs[0].offset, to: output.offset, bytes: output.byteCount))
        case .transpose:
            let x = inputs[0].type
            let perm = attrs.perm ?? Array((0..<x.rank).reversed())
            let strides = rowMajorStrides(x.shape)
            add(GatherKernel(from: inputs[0], to: output, map: stridedIndexMap(shape: output.type.shape, strides: perm.map { strides[$0] })))
        case .broadcast_to:
            add(GatherKernel(from: inputs[0], to: output, map: broadcastIndexMap(from: inputs[0].type.shape, to: output.type.shape)))
        case .slice:
            let x = inputs[0].type
            let start = attrs.start ?? []
            let step = attrs.step ?? []
            let strides = rowMajorStrides(x.shape)
            var offset = 0
            for d in 0..<x.rank { offset += start[d] * strides[d] }
            let map = output.type.count == 0 ? [] : stridedIndexMap(shape: output.type.shape, strides: steppedStrides(strides, step, extents: output.type.shape), offset: offset)
            add(GatherKernel(from: inputs[0], to: output, map: map))
        case .pad:
            add(PadKernel(from: inputs[0], to: output, low: attrs.low ?? [], step: attrs.step ?? []))
        case .concat:
            let axis = attrs.axis.flatMap { normalizeAxis($0, rank: output.type.rank) } ?? 0
            add(ConcatKernel(inputs: inputs, output: output, axis: axis))
        case .one_hot:
            add(OneHotKernel(labels: inputs[0], output: output, depth: attrs.depth ?? 1))
        case .cast:
            add(CastKernel(from: inputs[0], to: output))
        case .take, .take_along_axis:
            let axis = attrs.axis.flatMap { normalizeAxis($0, rank: inputs[0].type.rank) } ?? 0
            add(TakeKernel(inputs, output, axis: axis, alongAxis: op == .take_along_axis, site: site(op, axis)))
        case .scatter_add, .scatter_add_along_axis:
            let axis = attrs.axis.flatMap { normalizeAxis($0, rank: inputs[0].type.rank) } ?? 0
            let (along, failureSite) = (op == .scatter_add_along_axis, site(op, axis))
            // A base that is a constant of zero bits (the zeros a gradient starts from) is
            // cleared with memset instead of copied.
            let zero = program.constants.contains { c in
                c.operand.offset == inputs[0].offset && c.operand.type == inputs[0].type && c.bytes.allSatisfy { $0 == 0 }
            }
            switch output.type.dtype {
            case .f32: add(ScatterAddKernel<Float>(inputs, output, axis: axis, alongAxis: along, zeroBase: zero, site: failureSite))
            case .f64: add(ScatterAddKernel<Double>(inputs, output, axis: axis, alongAxis: along, zeroBase: zero, site: failureSite))
            case .i64: add(ScatterAddKernel<Int64>(inputs, output, axis: axis, alongAxis: along, zeroBase: zero, site: failureSite))
            case .bool:
                // The type rule refuses it; the generic path would report it.
                fallbackCount += 1
                add(FallbackKernel(op: op, attrs: attrs, inputs: inputs, output: output, failure: failure))
            }
        case .iota:
            add(IotaKernel(output, axis: normalizeAxis(attrs.axis ?? 0, rank: output.type.rank) ?? 0))
        case .argmax, .argmin:
            let axes = normalizedAxes(attrs.axes, rank: inputs[0].type.rank)
            switch inputs[0].type.dtype {
            case .f32: add(ArgReduceKernel<Float>(op, inputs[0], output, axes: axes))
            case .f64: add(ArgReduceKernel<Double>(op, inputs[0], output, axes: axes))
            case .i64: add(ArgReduceKernel<Int64>(op, inputs[0], output, axes: axes))
            case .bool:
                fallbackCount += 1
                add(FallbackKernel(op: op, attrs: attrs, inputs: inputs, output: output, failure: failure))
            }
        case .cumsum:
            let axis = attrs.axis.flatMap { normalizeAxis($0, rank: output.type.rank) } ?? 0
            switch output.type.dtype {
            case .f32:
                let k = CumsumKernel<Float>(inputs[0], output, axis: axis, reverse: attrs.reverse)
                add(scratch: 0) { k.run($0, $1) }
            case .f64:
                let k = CumsumKernel<Double>(inputs[0], output, axis: axis, reverse: attrs.reverse)
                add(scratch: 0) { k.run($0, $1) }
            case .i64:
                let k = CumsumKernel<Int64>(inputs[0], output, axis: axis, reverse: attrs.reverse)
                add(scratch: 0) { k.run($0, $1) }
            case .bool:
                // The type rule refuses it; the generic path would report it.
                fallbackCount += 1
                add(FallbackKernel(op: op, attrs: attrs, inputs: inputs, output: output, failure: failure))
            }
        default:
            if let e = op.elementwise, e.hasIntegerForm {
                add(IntegerElementwiseKernel(op: e, inputs: inputs, output: output))
                return
            }
            // Generic slow path: the reference kernel on tensors copied out of the arena.
            fallbackCount += 1
            add(FallbackKernel(op: op, attrs: attrs, inputs: inputs, output: output, failure: failure))
        }
    }
}

extension KernelSelector {
    /// Where the current instruction's indexing kernel reports an index out of range.
    func site(_ op: Op, _ axis: Int) -> IndexFailureSite {
        IndexFailureSite(op: op, axis: axis, location: node >= 0 && node < locations.count ? locations[node] : .unknown, failure: failure)
    }

    /// Emits one scalar-machine instruction for a rank-0 f32/f64 elementwise op whose
    /// operands and result are 8-byte aligned registers; returns false (nothing emitted)
    /// otherwise.
    mutating func addScalar(_ dtype: DType, _ op: Op, _ inputs: [BytecodeOperand], _ output: BytecodeOperand) -> Bool {
        guard output.type.rank == 0, output.offset % 8 == 0, (output.offset >> 3) < Int(Int32.max),
              inputs.allSatisfy({ $0.type.rank == 0 && $0.offset % 8 == 0 && ($0.offset >> 3) < Int(Int32.max) }),
              op.info.arity.accepts(inputs.count), let e = op.elementwise, let opcode = ScalarOpcode(e, dtype) else { return false }
        // Register types exactly as the opcode reads and writes them (a fused group from a
        // file may name a bool leaf anywhere; such a group stays a fused loop).
        for (k, i) in inputs.enumerated() {
            guard i.type.dtype == ((op == .select && k == 0) ? .bool : dtype) else { return false }
        }
        guard output.type.dtype == (op.family == .comparison ? .bool : dtype) else { return false }
        let regs = inputs.map { Int32($0.offset >> 3) }
        code.append(ScalarInstruction(op: opcode, d: Int32(output.offset >> 3), a: regs[0],
                                      b: regs.count > 1 ? regs[1] : 0, c: regs.count > 2 ? regs[2] : 0))
        return true
    }

    mutating func addFused(_ dtype: DType, _ ops: [MicroOp], _ leaves: [BytecodeOperand], _ output: BytecodeOperand) {
        if dtype == .f32 {
            let k = FusedKernel<Float>(ops: ops, leaves: leaves, output: output)
            add(scratch: k.scratchBytes) { k.run($0, $1) }
        } else {
            let k = FusedKernel<Double>(ops: ops, leaves: leaves, output: output)
            add(scratch: k.scratchBytes) { k.run($0, $1) }
        }
    }
}

/// A kernel given as a closure over a concretely typed (specialized) kernel.
final class ClosureKernel: VMKernel {
    let scratchBytes: Int
    let body: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void
    init(scratchBytes: Int, body: @escaping (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void) {
        self.scratchBytes = scratchBytes
        self.body = body
    }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) { body(base, scratch) }
}
