import Foundation
import Grad

/// gradc as a GradBench tool: answers the suite's protocol messages (CONTRIBUTING.md,
/// "Protocol", in gradbench/gradbench), one JSON object per line.
///
/// - `start`: the tool's name; `define`: whether the module is supported (with the reason when
///   it is not); `evaluate`: runs the function (at least `min_runs` times and until
///   `min_seconds` have passed), one `evaluate` timing per run covering the compiled function
///   alone; `analysis` and any other kind: acknowledged. `end` gets no response.
/// - Each eval's functions are the `.ir` model `MODELS/EVAL.ir`, specialized to the workload's
///   shapes (`ModelTemplate`) and compiled with the C backend through the compile cache; the
///   kernels are kept per shape for the rest of the session.
public final class GradBenchTool {
    public let modelsDirectory: String
    private var kernels: [String: CKernel] = [:]
    private var templates: [String: ModelTemplate] = [:]
    /// Seconds of the last `evaluate`'s compilation (0 when its kernel was already loaded).
    public private(set) var lastCompileSeconds = 0.0

    public init(modelsDirectory: String) {
        self.modelsDirectory = modelsDirectory
    }

    /// The directory of the models in this source tree (Examples/gradbench).
    public static var defaultModelsDirectory: String {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/gradbench").path
    }

    /// Runs the protocol on stdin and stdout until end of input.
    public func serve() {
        while let line = readLine(strippingNewline: true) {
            guard let response = respond(toLine: line) else { continue }
            FileHandle.standardOutput.write(Data((response + "\n").utf8))
        }
    }

    /// The response line to one message line; nil for messages that get none (`end`, blank).
    public func respond(toLine line: String) -> String? {
        if line.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
        guard let data = line.data(using: .utf8),
              let message = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return Self.encode(["id": NSNull(), "success": false, "error": "the message is not a JSON object"])
        }
        guard let response = respond(to: message) else { return nil }
        return Self.encode(response)
    }

    /// The response object to one message; nil for `end`.
    public func respond(to message: [String: Any]) -> [String: Any]? {
        let id: Any = message["id"] ?? NSNull()
        let kind = message["kind"] as? String ?? ""
        switch kind {
        case "end":
            return nil
        case "start":
            return ["id": id, "tool": "gradc", "config": ["version": gradcVersion, "backend": "c"]]
        case "define":
            let module = message["module"] as? String ?? ""
            if let eval = GradBenchEval.named(module) {
                if eval.generate != nil { return ["id": id, "success": true] }
                do {
                    templates[module] = try ModelTemplate.load(directory: modelsDirectory, eval: eval.model)
                    return ["id": id, "success": true]
                } catch {
                    return ["id": id, "success": false, "error": "\(error)"]
                }
            }
            return ["id": id, "success": false, "error": GradBenchEval.unsupportedReason(module)]
        case "evaluate":
            do {
                let (output, timings) = try evaluate(message)
                return ["id": id, "success": true, "output": output, "timings": timings]
            } catch {
                return ["id": id, "success": false, "error": "\(error)"]
            }
        default:
            return ["id": id]
        }
    }

    /// Evaluates one `evaluate` message: the output (JSON-ready) and the timings.
    func evaluate(_ message: [String: Any]) throws -> (Any, [[String: Any]]) {
        let module = message["module"] as? String ?? ""
        let function = message["function"] as? String ?? ""
        guard let eval = GradBenchEval.named(module) else {
            throw ToolError("module '\(module)' is not defined: \(GradBenchEval.unsupportedReason(module))")
        }
        guard eval.functions.contains(function) else {
            throw ToolError("module '\(module)' has no function '\(function)' (it has \(eval.functions.joined(separator: ", ")))")
        }
        let input = message["input"] ?? NSNull()
        let call = try eval.prepare(function, input)
        let kernel = try self.kernel(eval: eval, function: function, parameters: call.parameters, modelFunction: call.modelFunction)
        let runs = Runs(input)
        let (outputs, times) = try Self.time(kernel, call.inputs, runs)
        var timings: [[String: Any]] = []
        if lastCompileSeconds > 0 { timings.append(["name": "compile", "nanoseconds": Int(lastCompileSeconds * 1e9)]) }
        for t in times { timings.append(["name": "evaluate", "nanoseconds": t]) }
        return (try call.decode(outputs), timings)
    }

    /// The compiled kernel of `function` at these parameters: from this session, else through
    /// the C backend and its compile cache.
    func kernel(eval: GradBenchEval, function: String, parameters: [String: ModelTemplate.Value],
                modelFunction: String? = nil) throws -> CKernel {
        let name = modelFunction ?? eval.modelFunction(function)
        let key = "\(eval.name).\(name)" + parameters.sorted { $0.key < $1.key }.map { "|\($0.key)=\($0.value)" }.joined()
        lastCompileSeconds = 0
        if let k = kernels[key] { return k }
        let start = DispatchTime.now().uptimeNanoseconds
        let (text, file) = try modelText(eval, parameters)
        let module = try Pipeline.parse(text, file: file)
        let f = try Pipeline.function(module, named: name)
        let lowered = try optimize(Differentiator.expand(f))
        let built = try CModule([lowered])
        guard let k = built.kernels.first else { throw ToolError("the C backend produced no function") }
        kernels[key] = k
        lastCompileSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return k
    }

    /// The model's text at these parameters and the file name its errors give: generated by the
    /// eval, else its template instantiated.
    func modelText(_ eval: GradBenchEval, _ parameters: [String: ModelTemplate.Value]) throws -> (String, String) {
        if let generate = eval.generate {
            return (try generate(parameters), "<generated \(eval.model).ir>")
        }
        let template: ModelTemplate
        if let t = templates[eval.name] {
            template = t
        } else {
            template = try ModelTemplate.load(directory: modelsDirectory, eval: eval.model)
            templates[eval.name] = template
        }
        return (try template.instantiate(parameters), template.name)
    }

    /// Calls the kernel `runs.minRuns` times and then until `runs.minSeconds` have passed; each
    /// timing covers the call alone (the buffers are prepared before and read after). Inputs come
    /// as doubles; an input the model declares `i64` (an index tensor) gets them as integers.
    static func time(_ kernel: CKernel, _ inputs: [[Double]], _ runs: Runs) throws -> ([[Double]], [Int]) {
        let abi = kernel.abi
        guard inputs.count == abi.inputs.count else {
            throw ToolError("the function takes \(abi.inputs.count) inputs, got \(inputs.count)")
        }
        // Input buffers of our own: f64 as given, i64 (indices) converted, each value checked.
        var inputBuffers: [UnsafeMutableRawPointer] = []
        defer { for b in inputBuffers { b.deallocate() } }
        for (i, (values, type)) in zip(inputs, abi.inputs).enumerated() {
            guard values.count == type.count else {
                throw ToolError("input \(i): expected \(type), got \(values.count) numbers")
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(8, 8 * values.count), alignment: 64)
            inputBuffers.append(buffer)
            switch type.dtype {
            case .f64:
                buffer.initializeMemory(as: Double.self, from: values, count: values.count)
            case .i64:
                let ints = buffer.bindMemory(to: Int64.self, capacity: values.count)
                for (k, v) in values.enumerated() {
                    guard v == v.rounded(), abs(v) < 0x1p53 else {
                        throw ToolError("input \(i): element \(k) is \(v), expected an integer (the model's input is \(type))")
                    }
                    ints[k] = Int64(v)
                }
            default:
                throw ToolError("input \(i): expected \(type), but the tool passes only f64 and i64 inputs")
            }
        }
        for type in abi.outputs where type.dtype != .f64 {
            throw ToolError("an output is \(type), expected f64")
        }
        // Output buffers of our own (8-byte doubles, at least one word each so none is NULL).
        let buffers = abi.outputs.map { UnsafeMutablePointer<Double>.allocate(capacity: max(1, $0.count)) }
        defer { for b in buffers { b.deallocate() } }
        var outPointers: [UnsafeMutableRawPointer?] = buffers.map { UnsafeMutableRawPointer($0) }
        if outPointers.isEmpty { outPointers.append(nil) }
        var times: [Int] = []
        var total = 0.0
        var status: Int32 = 0
        var inPointers: [UnsafeRawPointer?] = inputBuffers.map { UnsafeRawPointer($0) }
        if inPointers.isEmpty { inPointers.append(nil) }
        inPointers.withUnsafeBufferPointer { ip in
            outPointers.withUnsafeBufferPointer { op in
                guard let i = ip.baseAddress, let o = op.baseAddress else { return }
                while times.count < runs.minRuns || total < runs.minSeconds {
                    let start = DispatchTime.now().uptimeNanoseconds
                    status = kernel.callUnchecked(i, o)
                    let ns = Int(DispatchTime.now().uptimeNanoseconds - start)
                    times.append(ns)
                    total += Double(ns) / 1e9
                    if status != 0 { break }
                }
            }
        }
        guard !times.isEmpty else { throw ToolError("the function was not called") }
        guard status == 0 else { throw ToolError("the compiled C function failed (status \(status))") }
        let outputs = zip(buffers, abi.outputs).map { Array(UnsafeBufferPointer(start: $0.0, count: $0.1.count)) }
        return (outputs, times)
    }

    static func encode(_ object: [String: Any]) -> String {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object),
              let text = String(data: data, encoding: .utf8) else {
            let id = object["id"].flatMap { $0 as? Int }.map(String.init) ?? "null"
            return "{\"id\":\(id),\"success\":false,\"error\":\"the output is not representable in JSON (a NaN or an infinity?)\"}"
        }
        return text
    }
}

/// `min_runs` and `min_seconds` of an input (1 and 0 when absent, as the suite's C++ tools do).
struct Runs {
    var minRuns = 1
    var minSeconds = 0.0

    init(_ input: Any) {
        guard let o = input as? [String: Any] else { return }
        if let r = o["min_runs"] as? Int { minRuns = max(1, r) }
        if let s = o["min_seconds"] as? Double, s.isFinite { minSeconds = max(0, s) }
    }
}
