import Foundation

/// Checks every derivative request of a function (`grad`, `jacobian`, `hessian`, `jvp`, `hvp`)
/// against central finite differences of the differentiated quantity:
///
/// ```
/// ∂T/∂xⱼ ≈ (T(x + h·eⱼ) − T(x − h·eⱼ)) / 2h,   h = ∛ε · max(1, |xⱼ|)
/// ```
///
/// where T is `y` for `grad` and `jacobian`, and the expanded `grad(y, x)` for `hessian`; a
/// directional request (`jvp`, `hvp`) is compared with one difference along its tangents,
/// (T(x + h·v) − T(x − h·v)) / 2h.
/// Finite differences run in the function's own precision, so f32 needs looser tolerances.
public struct DerivativeCheck: Sendable {
    /// `dzdx = grad(%11, x)`: the output name if the request is returned, then the request.
    public var label: String
    /// The request's node in the checked function (`gradc check` labels it from the source).
    public var request: ValueID
    public var type: TensorType
    /// Number of elements of the derivative compared (a sample when x is large).
    public var compared: Int
    public var maxAbsError: Double
    public var maxRelError: Double
    public var passed: Bool
    /// Why a comparison could not be made (non-finite values), if so.
    public var note: String?
    /// What to try when the analytic derivative is NaN where finite differences are finite.
    public var hint: String?

    /// The usual cause of a NaN gradient with finite differences that are finite.
    public static let nanGradientHint = "the derivative is NaN where finite differences are finite. "
        + "If the function uses select to avoid an invalid value (1/x, sqrt, log at 0), a NaN or inf "
        + "in the branch that was not taken reaches the gradient through a matrix product (@); compute "
        + "that branch on a safe input: select(ok, f(select(ok, x, 1)), fallback). See docs/language.md, "
        + "\"Zero gradients are strong zeros\"."
}

public struct CheckOptions: Sendable {
    /// Relative and absolute tolerances; `nil` picks them from the dtype
    /// (f64: 1e-6 and 1e-7, f32: 1e-2 and 1e-3).
    public var relativeTolerance: Double?
    public var absoluteTolerance: Double?
    /// Largest number of elements of x perturbed per derivative (chosen at random).
    public var maxElements: Int = 64
    public var seed: UInt64 = 1
    /// Take finite differences of f32 functions in f64 (more accurate; on by default).
    public var promoteF32 = true
    public init() {}
}

public enum GradientChecker {
    /// Checks every derivative request of `function` (un-expanded, as parsed) at `inputs`.
    public static func check(_ function: Function, inputs: [String: Tensor], options: CheckOptions = CheckOptions()) throws(Diagnostic) -> [DerivativeCheck] {
        var results: [DerivativeCheck] = []
        var rng = SplitMix64(seed: options.seed)
        for (id, node) in function.nodes.enumerated() where node.op.family == .derivative {
            if node.op == .jvp || node.op == .hvp {
                results.append(try checkDirectional(function, id, inputs: inputs, options: options))
            } else {
                results.append(try checkOne(function, id, inputs: inputs, options: options, rng: &rng))
            }
        }
        return results
    }

    static func label(_ f: Function, _ id: ValueID) -> String {
        let node = f.nodes[id]
        func name(_ v: ValueID) -> String { f.parameterName(v) ?? "%\(v)" }
        let request = "\(node.op.name)(\(node.inputs.map(name).joined(separator: ", ")))"
        if let out = f.outputs.first(where: { $0.value == id }) { return "\(out.name) = \(request)" }
        return "%\(id) = \(request)"
    }

    static func checkOne(_ f: Function, _ id: ValueID, inputs: [String: Tensor], options: CheckOptions, rng: inout SplitMix64) throws(Diagnostic) -> DerivativeCheck {
        let node = f.nodes[id]
        let (y, x) = (node.inputs[0], node.inputs[1])
        let dtype = node.type.dtype

        // Analytic: the expanded request itself.
        var analyticProbe = f
        analyticProbe.outputs = [Output(name: "d", value: id)]
        let analytic = try ReferenceEvaluator.run(Differentiator.expand(analyticProbe), inputs: inputs)[0].doubles

        // Numeric: T as a function of x, with x made a free input if it is an intermediate value.
        var probe = f
        var probeInputs = inputs
        let xName: String
        if let p = f.parameterName(x) {
            xName = p
        } else {
            xName = "__wrt\(x)"
            let wrt = probe.nodes[x]
            probe.nodes[x] = Node(op: .input, type: wrt.type, location: wrt.location)
            probe.parameters.append(Parameter(name: xName, value: x))
            // x's value, which may itself depend on other derivative requests.
            var upstream = f
            upstream.outputs = [Output(name: "x", value: x)]
            let forward = try ReferenceEvaluator.run(Differentiator.expand(upstream), inputs: inputs)
            probeInputs[xName] = forward[0]
        }
        var target = y
        if node.op == .hessian {
            var b = GraphBuilder(probe)
            target = try b.add(.grad, [y, x])
            probe = b.function
        }
        probe.outputs = [Output(name: "t", value: target)]
        // Finite differences of an f32 function run on its f64 twin: a step of ∛ε(f32) ≈ 5e-3
        // would be too coarse (and would straddle kinks); the analytic side stays in f32.
        var probeFunction = try Differentiator.expand(probe)
        if options.promoteF32 {
            probeFunction = promotedToF64(probeFunction)
            probeInputs = probeInputs.mapValues { $0.dtype == .f32 ? Tensor($0.type.with(dtype: .f64), doubles: $0.doubles) : $0 }
        }
        guard let x0 = probeInputs[xName] else { throw Diagnostic(.missingInput(xName)) }
        let xValues = x0.doubles
        let tCount = probeFunction.type(of: probeFunction.outputs[0].value).count
        let n = xValues.count

        // Elements of x to perturb: all of them, or a random sample.
        var elements = Array(0..<n)
        if n > options.maxElements {
            elements.shuffle(using: &rng)
            elements = Array(elements.prefix(options.maxElements)).sorted()
        }
        // A sparse request lists the pattern's non-zeros: the compared columns' ones, by
        // position (elsewhere the derivative is 0, which the differences then check).
        var sparseValues: [Int: Double]?
        if node.attrs.sparse {
            let pattern = try f.requestPattern(node.op, node.inputs)
            guard pattern.nonZeroCount == analytic.count else {
                throw Diagnostic(.other("\(label(f, id)): the sparse request computed \(analytic.count) values for a pattern of \(pattern.nonZeroCount) non-zeros"), at: node.location)
            }
            let wanted = Set(elements)
            var values: [Int: Double] = [:]
            for i in 0..<pattern.rows {
                for k in pattern.rowStarts[i]..<pattern.rowStarts[i + 1] where wanted.contains(Int(pattern.columnIndices[k])) {
                    values[i * n + Int(pattern.columnIndices[k])] = analytic[k]
                }
            }
            sparseValues = values
        }
        let eps = dtype == .f32 && !options.promoteF32 ? Double(Float.ulpOfOne) : Double.ulpOfOne
        let rtol = options.relativeTolerance ?? (dtype == .f32 ? 1e-2 : 1e-6)
        let atol = options.absoluteTolerance ?? (dtype == .f32 ? 1e-3 : 1e-7)
        var maxAbs = 0.0
        var maxRel = 0.0
        var passed = true
        var note: String?
        var hint: String?
        for j in elements {
            let h = cbrt(eps) * Swift.max(1, Swift.abs(xValues[j]))
            var plus = xValues
            var minus = xValues
            plus[j] += h
            minus[j] -= h
            // The step actually taken after rounding to the dtype.
            let xp = Tensor(x0.type, doubles: plus)
            let xm = Tensor(x0.type, doubles: minus)
            let step = xp.doubles[j] - xm.doubles[j]
            probeInputs[xName] = xp
            let tp = try ReferenceEvaluator.run(probeFunction, inputs: probeInputs)[0].doubles
            probeInputs[xName] = xm
            let tm = try ReferenceEvaluator.run(probeFunction, inputs: probeInputs)[0].doubles
            for i in 0..<tCount {
                let numeric = (tp[i] - tm[i]) / step
                let exact = sparseValues.map { $0[i * n + j] ?? 0 } ?? analytic[i * n + j]
                if !numeric.isFinite || !exact.isFinite {
                    if numeric.isFinite != exact.isFinite || (exact.isNaN != numeric.isNaN) {
                        note = "non-finite value (analytic \(exact), numeric \(numeric)) at element \(j)"
                        passed = false
                        if exact.isNaN && numeric.isFinite { hint = DerivativeCheck.nanGradientHint }
                    }
                    continue
                }
                let err = Swift.abs(exact - numeric)
                let scale = Swift.max(Swift.abs(exact), Swift.abs(numeric))
                maxAbs = Swift.max(maxAbs, err)
                maxRel = Swift.max(maxRel, scale > 0 ? err / scale : 0)
                if err > atol + rtol * scale { passed = false }
            }
        }
        probeInputs[xName] = x0
        return DerivativeCheck(label: label(f, id), request: id, type: node.type, compared: elements.count * tCount,
                               maxAbsError: maxAbs, maxRelError: maxRel, passed: passed, note: note, hint: hint)
    }
}

extension GradientChecker {
    /// `jvp(y, x₁, v₁, …)` against (y(x + h·v) − y(x − h·v)) / 2h, every xᵢ moved along its vᵢ
    /// at once; `hvp(y, x, v)` likewise with T = grad(y, x).
    static func checkDirectional(_ f: Function, _ id: ValueID, inputs: [String: Tensor], options: CheckOptions) throws(Diagnostic) -> DerivativeCheck {
        let node = f.nodes[id]
        let dtype = node.type.dtype
        let pairs: [(x: ValueID, v: ValueID)] = stride(from: 1, to: node.inputs.count - 1, by: 2).map { (node.inputs[$0], node.inputs[$0 + 1]) }
        // The request's value, and the values of its xs and tangents (which may be computed).
        var probe = f
        probe.outputs = [Output(name: "d", value: id)] + pairs.flatMap { [Output(name: "x", value: $0.x), Output(name: "v", value: $0.v)] }
        let values = try ReferenceEvaluator.run(Differentiator.expand(probe), inputs: inputs)
        let analytic = values[0].doubles
        // T as a function of the xs, each x a free input.
        probe = f
        var probeInputs = inputs
        var names: [String] = []
        for (k, pair) in pairs.enumerated() {
            if let p = f.parameterName(pair.x) {
                names.append(p)
            } else {
                let name = "__wrt\(pair.x)"
                let wrt = probe.nodes[pair.x]
                if !names.contains(name) {
                    probe.nodes[pair.x] = Node(op: .input, type: wrt.type, location: wrt.location)
                    probe.parameters.append(Parameter(name: name, value: pair.x))
                }
                probeInputs[name] = values[1 + 2 * k]
                names.append(name)
            }
        }
        var target = node.inputs[0]
        if node.op == .hvp {
            var b = GraphBuilder(probe)
            target = try b.add(.grad, [target, node.inputs[1]])
            probe = b.function
        }
        probe.outputs = [Output(name: "t", value: target)]
        var probeFunction = try Differentiator.expand(probe)
        if options.promoteF32 {
            probeFunction = promotedToF64(probeFunction)
            probeInputs = probeInputs.mapValues { $0.dtype == .f32 ? Tensor($0.type.with(dtype: .f64), doubles: $0.doubles) : $0 }
        }
        // One step for all pairs, scaled so that the largest move is ∛ε · max(1, |x|).
        var xScale = 1.0
        var vScale = 0.0
        for (k, name) in names.enumerated() {
            for e in probeInputs[name]?.doubles ?? [] { xScale = Swift.max(xScale, Swift.abs(e)) }
            for e in values[2 + 2 * k].doubles { vScale = Swift.max(vScale, Swift.abs(e)) }
        }
        let eps = dtype == .f32 && !options.promoteF32 ? Double(Float.ulpOfOne) : Double.ulpOfOne
        let h = vScale > 0 ? cbrt(eps) * xScale / vScale : 1
        func moved(_ sign: Double) throws(Diagnostic) -> [Double] {
            var moved = probeInputs
            var sums: [String: [Double]] = [:]
            for (k, name) in names.enumerated() {
                guard let x = probeInputs[name] else { throw Diagnostic(.missingInput(name)) }
                var d = sums[name] ?? x.doubles
                for (i, e) in values[2 + 2 * k].doubles.enumerated() where i < d.count { d[i] += sign * h * e }
                sums[name] = d
                moved[name] = Tensor(x.type, doubles: d)
            }
            return try ReferenceEvaluator.run(probeFunction, inputs: moved)[0].doubles
        }
        let (tp, tm) = (try moved(1), try moved(-1))
        let rtol = options.relativeTolerance ?? (dtype == .f32 ? 1e-2 : 1e-6)
        let atol = options.absoluteTolerance ?? (dtype == .f32 ? 1e-3 : 1e-7)
        var (maxAbs, maxRel, passed) = (0.0, 0.0, true)
        var note: String?
        for i in 0..<Swift.min(analytic.count, tp.count) {
            let numeric = vScale > 0 ? (tp[i] - tm[i]) / (2 * h) : 0
            let exact = analytic[i]
            if !numeric.isFinite || !exact.isFinite {
                if numeric.isFinite != exact.isFinite || exact.isNaN != numeric.isNaN {
                    note = "non-finite value (analytic \(exact), numeric \(numeric)) at element \(i)"
                    passed = false
                }
                continue
            }
            let err = Swift.abs(exact - numeric)
            let scale = Swift.max(Swift.abs(exact), Swift.abs(numeric))
            maxAbs = Swift.max(maxAbs, err)
            maxRel = Swift.max(maxRel, scale > 0 ? err / scale : 0)
            if err > atol + rtol * scale { passed = false }
        }
        return DerivativeCheck(label: label(f, id), request: id, type: node.type, compared: analytic.count,
                               maxAbsError: maxAbs, maxRelError: maxRel, passed: passed, note: note)
    }
}

/// The same function computing in f64 wherever it computed in f32.
func promotedToF64(_ f: Function) -> Function {
    var g = f
    for i in g.nodes.indices {
        if g.nodes[i].type.dtype == .f32 { g.nodes[i].type.dtype = .f64 }
        if g.nodes[i].attrs.dtype == .f32 { g.nodes[i].attrs[.dtype] = .dtype(.f64) }
    }
    g.bodies = g.bodies.map(promotedToF64)  // a loop's body computes in the loop's types
    return g
}
