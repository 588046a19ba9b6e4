// A character-level recurrent network trained on real text: this repository's own
// documentation (docs/*.md, ~130 KB of English and code), or any text file (--data).
//
//   h_t = tanh(x_t·Wx + h_{t−1}·Wh + b)      p(next char) = softmax(h_t·Wy + by)
//
// The recurrence is one `scan` node (docs/language.md, "Loops"): the model, its gradient (a
// reverse `scan` appended to the same graph) and the compiled code do not grow with the
// sequence length. One training step — loss, gradient through time, and the gradient-descent
// update, the gradient clipped to norm 1 (recurrent gradients can explode) — is one gradc
// function, compiled once (C backend, else the VM) and called per batch: B streams read consecutive windows of T characters of the text, and the hidden state
// is carried from one window to the next (truncated backpropagation through time). The last
// 10 % of the text is held out; the loss is reported in bits per character.
//
//   swift run CharRNN            # 400 steps, then a sample
//   swift run CharRNN --quick    # 40 steps
//   swift run CharRNN --data FILE

import Foundation
import Grad

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("CharRNN: \(message)\n".utf8))
    exit(2)
}

// MARK: - Options and text

let arguments = Array(CommandLine.arguments.dropFirst())
var steps = 400
var dataPath: String?
var index = 0
while index < arguments.count {
    switch arguments[index] {
    case "--quick": steps = 40
    case "--steps":
        index += 1
        guard index < arguments.count, let n = Int(arguments[index]), n > 0 else { fail("--steps needs a positive number") }
        steps = n
    case "--data":
        index += 1
        guard index < arguments.count else { fail("--data needs a path") }
        dataPath = arguments[index]
    case "--help", "-h":
        print("usage: CharRNN [--quick] [--steps N] [--data FILE]")
        exit(0)
    default: fail("unknown option '\(arguments[index])'")
    }
    index += 1
}

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
var text = ""
if let dataPath {
    guard let t = try? String(contentsOfFile: dataPath, encoding: .utf8) else { fail("cannot read \(dataPath)") }
    text = t
} else {
    let docs = root.appendingPathComponent("docs")
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: docs.path)) ?? []).filter { $0.hasSuffix(".md") }.sorted()
    for name in names { text += (try? String(contentsOf: docs.appendingPathComponent(name), encoding: .utf8)) ?? "" }
    guard !text.isEmpty else { fail("no text in \(docs.path) (pass --data FILE)") }
}

// The vocabulary: the 63 most frequent characters, and one symbol for all others.
let characters = Array(text)
var counts: [Character: Int] = [:]
for c in characters { counts[c, default: 0] += 1 }
let kept = counts.sorted { ($0.value, String($1.key)) > ($1.value, String($0.key)) }.prefix(63).map(\.key)
let symbols = kept + ["\u{FFFD}"]
let code = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
let V = symbols.count
let encoded = characters.map { code[$0] ?? V - 1 }
let split = encoded.count * 9 / 10
let (training, heldOut) = (Array(encoded[..<split]), Array(encoded[split...]))

// MARK: - The model

let (B, T, H) = (32, 32, 96)
let model = """
func cell(h: f64[\(B),\(H)], x: f64[\(B),\(V)], y: f64[\(B),\(V)], wx: f64[\(V),\(H)], wh: f64[\(H),\(H)], b: f64[\(H)], wy: f64[\(H),\(V)], by: f64[\(V)]) {
  h2 = tanh(x @ wx + h @ wh + b)
  return h2, sum(softmax_cross_entropy(h2 @ wy + by, y))
}
func evaluate(h0: f64[\(B),\(H)], xs: f64[\(T),\(B),\(V)], ys: f64[\(T),\(B),\(V)], wx: f64[\(V),\(H)], wh: f64[\(H),\(H)], b: f64[\(H)], wy: f64[\(H),\(V)], by: f64[\(V)]) {
  hT, losses = scan(cell, carry=h0, over=(xs, ys), with=(wx, wh, b, wy, by))
  return sum(losses) / \(T * B) as loss, hT
}
func train(h0: f64[\(B),\(H)], xs: f64[\(T),\(B),\(V)], ys: f64[\(T),\(B),\(V)], wx: f64[\(V),\(H)], wh: f64[\(H),\(H)], b: f64[\(H)], wy: f64[\(H),\(V)], by: f64[\(V)], lr: f64) {
  loss, hT = evaluate(h0, xs, ys, wx, wh, b, wy, by)
  gx, gh, gb, gy, gby = grad(loss, wx, wh, b, wy, by)
  norm = sqrt(sum(gx * gx) + sum(gh * gh) + sum(gb * gb) + sum(gy * gy) + sum(gby * gby))
  step = lr * minimum(1.0, 1.0 / maximum(norm, 1e-12))
  return loss, hT, wx - step * gx as wx, wh - step * gh as wh, b - step * gb as b, wy - step * gy as wy, by - step * gby as by
}
func generate(h: f64[1,\(H)], x: f64[1,\(V)], wx: f64[\(V),\(H)], wh: f64[\(H),\(H)], b: f64[\(H)], wy: f64[\(H),\(V)], by: f64[\(V)]) {
  h2 = tanh(x @ wx + h @ wh + b)
  return h2, softmax(h2 @ wy + by)
}
"""

func compileBest(_ f: Function) throws -> Executable {
    try (try? compile(f, backend: .c)) ?? compile(f, backend: .bytecode)
}

/// Windows `start ..< start + T` (and the next characters) of B streams through `data`, as
/// one-hot [T, B, V] inputs and targets.
func batch(_ data: [Int], at window: Int) -> (Tensor, Tensor) {
    let stream = (data.count - 1) / B
    var x = [Double](repeating: 0, count: T * B * V)
    var y = [Double](repeating: 0, count: T * B * V)
    for t in 0..<T {
        for s in 0..<B {
            let i = s * stream + (window * T + t) % max(stream - 1, 1)
            x[(t * B + s) * V + data[i]] = 1
            y[(t * B + s) * V + data[i + 1]] = 1
        }
    }
    guard let xs = Tensor(x, shape: [T, B, V]), let ys = Tensor(y, shape: [T, B, V]) else { fail("internal: batch shape") }
    return (xs, ys)
}

do {
    let module = try parseModule(model, file: "charrnn.ir")
    func function(_ name: String) throws -> Function {
        guard let f = module.functions.first(where: { $0.name == name }) else { fail("internal: no \(name)") }
        return f
    }
    let start = Date()
    let trainStep = try compileBest(function("train"))
    let evaluate = try compileBest(function("evaluate"))
    let generate = try compileBest(function("generate"))
    print(String(format: "char-rnn: %d characters (%d held out), %d symbols, hidden %d, %d streams × %d steps per batch; backend %@, compiled in %.2f s",
                 encoded.count, heldOut.count, V, H, B, T, trainStep.backend.rawValue, Date().timeIntervalSince(start)))

    var rng = SplitMix64(seed: 7)
    func uniform(_ shape: [Int], _ scale: Double) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor((0..<n).map { _ in (Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * scale }, shape: shape) ?? Tensor(0.0)
    }
    var params = [uniform([V, H], 0.3), uniform([H, H], 1 / Double(H).squareRoot()), Tensor(TensorType(.f64, [H]), doubles: [0]),
                  uniform([H, V], 1 / Double(H).squareRoot()), Tensor(TensorType(.f64, [V]), doubles: [0])]
    let zeroState = Tensor(TensorType(.f64, [B, H]), doubles: [0])
    let bits = 1 / log(2.0)

    func heldOutBits() throws -> Double {
        var h = zeroState
        var total = 0.0
        let windows = 8
        for w in 0..<windows {
            let (xs, ys) = batch(heldOut, at: w)
            let out = try evaluate([h, xs, ys] + params)
            h = out[1]
            total += (out[0].scalar ?? .nan) / Double(windows)
        }
        return total * bits
    }

    print(String(format: "before training: held-out %.3f bits/char (uniform over the symbols: %.3f)", try heldOutBits(), log2(Double(V))))
    var h = zeroState
    let lr = Tensor(1.0)
    let trainStart = Date()
    var recent = 0.0
    for it in 1...steps {
        let (xs, ys) = batch(training, at: it - 1)
        let out = try trainStep([h, xs, ys] + params + [lr])
        h = out[1]
        params = Array(out[2...6])
        recent += (out[0].scalar ?? .nan) * bits
        if it % max(steps / 8, 1) == 0 || it == steps {
            let every = it % max(steps / 8, 1) == 0 ? max(steps / 8, 1) : it % max(steps / 8, 1)
            print(String(format: "step %4d  training %.3f bits/char  held-out %.3f bits/char", it, recent / Double(every), try heldOutBits()))
            recent = 0
        }
    }
    print(String(format: "%.1f ms per training step (%d characters, forward and backward through time)",
                 Date().timeIntervalSince(trainStart) * 1000 / Double(steps), B * T))

    // A sample: from a newline, each next character drawn from the model's distribution.
    var state = Tensor(TensorType(.f64, [1, H]), doubles: [0])
    var current = code["\n"] ?? 0
    var sample = ""
    for _ in 0..<240 {
        var x = [Double](repeating: 0, count: V)
        x[current] = 1
        guard let xt = Tensor(x, shape: [1, V]) else { fail("internal: sample shape") }
        let out = try generate([state, xt] + params)
        state = out[0]
        let p = out[1].doubles
        var u = Double(rng.next() >> 11) / Double(1 << 53)
        current = p.indices.last ?? 0
        for (k, q) in p.enumerated() {
            u -= q
            if u < 0 { current = k; break }
        }
        sample.append(symbols[current])
    }
    print("sample:\n" + sample)
} catch {
    fail("\(error)")
}
