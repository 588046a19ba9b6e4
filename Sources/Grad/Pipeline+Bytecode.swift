import Foundation

// Running a `.gbc` file: what `gradc run MODEL.gbc` does, in the library so that the fuzz
// target GradFuzzGBCRun drives the same path. Order matters: nothing whose size the file
// declares is allocated before the file is validated and the sizes are checked.

extension Pipeline {
    /// The bytes of the file at `path` (a directory or an unreadable path is a clear error).
    public static func readFile(path: String) throws(Diagnostic) -> [UInt8] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw Diagnostic(.io("cannot read '\(path)': it is a directory, not a model file"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Diagnostic(.io("cannot read '\(path)'"))
        }
        return [UInt8](data)
    }

    /// Decodes and links a `.gbc` file's bytes: its structure, every operand and instruction,
    /// and its arena against `limits.maxArenaBytes` are checked before the VM allocates the
    /// arena. `file` names the file in errors.
    public static func linkBytecode(_ bytes: [UInt8], file: String? = nil, limits: VMLimits,
                                    verifyChecksum: Bool = true) throws(Diagnostic) -> VirtualMachine {
        do {
            return try VirtualMachine(BytecodeProgram(serialized: bytes, verifyChecksum: verifyChecksum), limits: limits)
        } catch {
            var d = error
            if d.file == nil { d.file = file }
            throw d
        }
    }

    /// The parameters of a linked program, as a signature to make inputs for.
    public static func signature(of program: BytecodeProgram) -> Function {
        var signature = Function(name: program.name)
        for b in program.inputs { _ = signature.addParameter(b.name, b.operand.type) }
        return signature
    }

    /// Runs a linked `.gbc` program on inputs made from its declared bindings:
    /// `makeInputs(signature)` gives a tensor per parameter name (see `signature(of:)`). It is
    /// called only after the run's memory — the VM's arena, plus the input and output tensors
    /// copied in and out of it — is checked against `memoryLimit` bytes: the bindings' types
    /// come from the file, and each lies in the arena, but many may overlap there.
    public static func runBytecode(_ vm: VirtualMachine, memoryLimit: Int,
                                   makeInputs: (Function) throws -> [String: Tensor]) throws -> [Tensor] {
        let program = vm.program
        var total = max(64, program.arenaBytes)
        for binding in program.inputs + program.outputs {
            let (sum, overflow) = total.addingReportingOverflow(binding.operand.byteCount)
            guard !overflow, sum <= memoryLimit else {
                throw Diagnostic(.other("running '\(program.name)' needs more than \(formatBytes(memoryLimit)) (its arena of \(formatBytes(program.arenaBytes)), \(program.inputs.count) input and \(program.outputs.count) output tensors); raise the limit with --max-memory BYTES if this is intended"))
            }
            total = sum
        }
        let named = try makeInputs(signature(of: program))
        var inputs: [Tensor] = []
        for b in program.inputs {
            guard let t = named[b.name] else { throw Diagnostic(.missingInput(b.name)) }
            inputs.append(t)
        }
        return try vm.run(inputs)
    }
}
