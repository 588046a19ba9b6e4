import Foundation
/// The backends a function can be compiled for.
public enum Backend: String, CaseIterable, Sendable {
    /// The reference evaluator: slow, obviously correct.
    case reference
    /// The bytecode VM.
    case bytecode
    /// Generated C, compiled by the system `cc` and loaded with `dlopen`.
    case c
}

/// Options of `compile`.
public struct CompileOptions: Sendable {
    public var optimizer = OptimizerOptions()
    /// Functions whose values together need more bytes are refused before allocating.
    public var memoryLimit = defaultMemoryLimit
    /// Bit-identical results: no fused multiply-add in matrix products, so `.bytecode` and `.c`
    /// give bitwise the reference evaluator's outputs on every CPU, NaN sign and payload aside
    /// (`VMLimits.portable`; `CBackendOptions.portable`, which also drops `-march=native`).
    /// Off by default: where the CPU has FMA, matrix products then keep the bound of
    /// docs/numerics.md, and may differ in kind (finite, ±inf, NaN) where they overflow.
    public var portable = false
    public init(optimizer: OptimizerOptions = OptimizerOptions(), memoryLimit: Int = defaultMemoryLimit, portable: Bool = false) {
        self.optimizer = optimizer
        self.memoryLimit = memoryLimit
        self.portable = portable
    }
}

/// A function ready to call: derivative requests expanded, optimized, lowered to a backend.
///
/// Safe to call from several threads: the reference backend keeps no state, the VM and the C
/// kernel serialize calls on their one arena or workspace.
public final class Executable: Sendable {
    /// The function that runs (expanded and optimized).
    public let function: Function
    public let backend: Backend
    private let run: @Sendable ([Tensor]) throws(Diagnostic) -> [Tensor]

    init(function: Function, backend: Backend, run: @escaping @Sendable ([Tensor]) throws(Diagnostic) -> [Tensor]) {
        self.function = function
        self.backend = backend
        self.run = run
    }

    /// The parameters' names and types, in call order.
    public var inputTypes: [(name: String, type: TensorType)] {
        function.parameters.map { ($0.name, function.type(of: $0.value)) }
    }

    /// The sparsity pattern of a sparse `jacobian`/`hessian` output (its values are the
    /// pattern's non-zeros in CSR order), `nil` for a dense output or an unknown name.
    public func pattern(ofOutput name: String) -> SparsityPattern? {
        function.outputs.first { $0.name == name }?.pattern
    }

    /// Calls with inputs in parameter order; their types are checked first.
    public func callAsFunction(_ inputs: [Tensor]) throws(Diagnostic) -> [Tensor] {
        guard inputs.count == function.parameters.count else {
            throw Diagnostic(.other("\(function.name) takes \(function.parameters.count) inputs, got \(inputs.count)"))
        }
        for (p, t) in zip(inputTypes, inputs) where p.type != t.type {
            throw Diagnostic(.inputTypeMismatch(name: p.name, expected: p.type, got: t.type))
        }
        return try run(inputs)
    }

    /// Calls with inputs by name. A name the function does not have is reported first, with
    /// the names it has (a misspelt input would otherwise show up as another one missing).
    public func callAsFunction(_ inputs: [String: Tensor]) throws(Diagnostic) -> [Tensor] {
        let names = function.parameters.map(\.name)
        let known = Set(names)
        if let unknown = inputs.keys.sorted().first(where: { !known.contains($0) }) {
            throw Diagnostic(.unknownInput(unknown, expected: names), hint: Suggestions.didYouMean(unknown, among: names))
        }
        var ordered: [Tensor] = []
        for p in function.parameters {
            guard let t = inputs[p.name] else { throw Diagnostic(.missingInput(p.name)) }
            ordered.append(t)
        }
        return try callAsFunction(ordered)
    }
}

/// Expands derivative requests, optimizes and lowers `function` for `backend`.
public func compile(_ function: Function, backend: Backend = .bytecode, options: CompileOptions = CompileOptions()) throws(Diagnostic) -> Executable {
    let lowered = try optimize(Differentiator.expand(function), options: options.optimizer)
    try Pipeline.checkMemory(lowered, limit: options.memoryLimit)
    switch backend {
    case .reference:
        let names = lowered.parameters.map(\.name)
        return Executable(function: lowered, backend: backend) { (inputs: [Tensor]) throws(Diagnostic) -> [Tensor] in
            var named: [String: Tensor] = [:]
            for (name, t) in zip(names, inputs) { named[name] = t }
            return try ReferenceEvaluator.run(lowered, inputs: named)
        }
    case .bytecode:
        var limits = VMLimits(maxArenaBytes: Int.max)
        limits.portable = options.portable
        let vm = try VirtualMachine(BytecodeProgram(function: lowered), limits: limits, function: lowered)
        return Executable(function: lowered, backend: backend) { (inputs: [Tensor]) throws(Diagnostic) -> [Tensor] in
            try vm.run(inputs)
        }
    case .c:
        // Emitted, compiled with the system cc through the per-user cache, loaded with dlopen.
        let module = try CModule([lowered], options: CBackendOptions(portable: options.portable))
        guard let kernel = module.kernels.first else { throw Diagnostic(.other("the C backend produced no function")) }
        return Executable(function: lowered, backend: backend) { (inputs: [Tensor]) throws(Diagnostic) -> [Tensor] in
            try kernel.run(inputs)
        }
    }
}
