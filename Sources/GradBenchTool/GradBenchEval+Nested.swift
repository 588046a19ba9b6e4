import Foundation

extension GradBenchEval {
    /// The bound (`max_iterations`) of every descent loop of particle.ir and saddle.ir, and of
    /// particle's Euler loop: well above the steps the suite's input takes (particle: 91
    /// descent steps, each cost at most 354 Euler steps; saddle: 169 per descent). A run that
    /// reaches one is an error, not an answer. Not larger: a `while` costs time in proportion
    /// to its bound even when it stops early (its tape is allocated for every step), about
    /// 2 ms per 1000 of bound here.
    static let nestedLoopBound = 1_000
    static let eulerStepBound = 2_000

    /// particle (evals/particle): w₀ in, the argmin w out. The four functions are the model's
    /// four functions of the same names (outer mode, inner mode).
    static let particle = GradBenchEval(name: "particle", model: "particle", functions: ["ff", "fr", "rf", "rr"]) { _, input in
        let o = try object(input)
        let w = try number(o["w"] ?? NSNull(), "w")
        guard w.isFinite else { throw ToolError("w is not finite") }
        let (k, e) = (nestedLoopBound, eulerStepBound)
        return EvalCall(parameters: ["euler_steps": .int(e), "gd_steps": .int(k)], inputs: [[w]]) { out in
            guard out.count == 3, out[0].count == 1, out[1].count == 1, out[2].count == 1 else {
                throw ToolError("the model's particle functions must return w, the descent steps and the Euler steps (3 numbers)")
            }
            let (descent, euler) = (out[1][0], out[2][0])
            guard descent < Double(k) else { throw ToolError("the gradient descent did not stop within \(k) steps") }
            guard euler < Double(e) else { throw ToolError("a trajectory did not cross the x axis within \(e) Euler steps") }
            return out[0][0]
        }
    }

    /// saddle (evals/saddle): the start point in, r₁ and r₂ (4 numbers) out.
    static let saddle = GradBenchEval(name: "saddle", model: "saddle", functions: ["ff", "fr", "rf", "rr"]) { _, input in
        let o = try object(input)
        let start = try vector(o["start"], "start", count: 2)
        guard start.allSatisfy(\.isFinite) else { throw ToolError("start is not finite") }
        let k = nestedLoopBound
        return EvalCall(parameters: ["gd_steps": .int(k)], inputs: [start]) { out in
            guard out.count == 2, out[0].count == 4 else {
                throw ToolError("the model's saddle functions must return r₁ and r₂ (4 numbers) and the steps")
            }
            guard out[1].allSatisfy({ $0 < Double(k) }) else {
                throw ToolError("a gradient descent did not stop within \(k) steps")
            }
            return out[0]
        }
    }
}
