// A text classifier with an embedding: which of five documents of this repository
// (docs/c-abi.md, cli.md, design-loops.md, language.md, library.md) does a line come from?
//
//   e = E[ids]                                   embedding lookup (`take`), [N, L, D]
//   m = Σ_t mask·e / Σ_t mask                     mean over the line's words
//   p(document | line) = softmax(m·W + b)         loss = mean cross-entropy
//
// The training step — loss, gradient (the embedding's is a `scatter_add` into the rows the
// batch read) and the gradient-descent update — is one gradc function, compiled once and
// called on the whole training set per step. Words are lower-cased runs of letters; the
// 1 500 most frequent are the vocabulary (id 0 pads, id 1 is every other word); a line keeps
// its first 24 words. Lines of fewer than 4 words are dropped; 20 % (seeded) are held out.
//
//   swift run DocClassifier            # 300 steps
//   swift run DocClassifier --quick    # 60 steps

import Foundation
import Grad

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("DocClassifier: \(message)\n".utf8))
    exit(2)
}

var steps = 300
for a in CommandLine.arguments.dropFirst() {
    switch a {
    case "--quick": steps = 60
    case "--help", "-h":
        print("usage: DocClassifier [--quick]")
        exit(0)
    default: fail("unknown option '\(a)'")
    }
}

// MARK: - Data

let documents = ["c-abi.md", "cli.md", "design-loops.md", "language.md", "library.md"]
let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("docs")
func words(_ line: Substring) -> [String] {
    line.lowercased().split { !$0.isLetter }.map(String.init)
}
var lines: [(words: [String], label: Int)] = []
for (k, name) in documents.enumerated() {
    guard let text = try? String(contentsOf: docs.appendingPathComponent(name), encoding: .utf8) else { fail("cannot read docs/\(name)") }
    for line in text.split(whereSeparator: \.isNewline) {
        let w = words(line)
        if w.count >= 4 { lines.append((w, k)) }
    }
}
var rng = SplitMix64(seed: 11)
lines.shuffle(using: &rng)
let trainCount = lines.count - lines.count / 5
let (train, test) = (lines[..<trainCount], lines[trainCount...])

var counts: [String: Int] = [:]
for l in train { for w in l.words { counts[w, default: 0] += 1 } }
let vocabulary = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(1500).map(\.key)
let ids = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0 + 2) })
let (V, D, K, L) = (vocabulary.count + 2, 32, documents.count, 24)

/// Token ids [N, L] (0 pads), the mask [N, L] and one-hot labels [N, K].
func tensors(_ part: ArraySlice<(words: [String], label: Int)>) -> (Tensor, Tensor, Tensor) {
    var tokens = [Int64](repeating: 0, count: part.count * L)
    var mask = [Double](repeating: 0, count: part.count * L)
    var y = [Double](repeating: 0, count: part.count * K)
    for (i, l) in part.enumerated() {
        for (t, w) in l.words.prefix(L).enumerated() {
            tokens[i * L + t] = Int64(ids[w] ?? 1)
            mask[i * L + t] = 1
        }
        y[i * K + l.label] = 1
    }
    guard let a = Tensor(.i64(tokens), shape: [part.count, L]), let m = Tensor(mask, shape: [part.count, L]),
          let b = Tensor(y, shape: [part.count, K]) else { fail("internal: shapes") }
    return (a, m, b)
}

// MARK: - The model

func model(_ n: Int) -> String {
    """
    func scores(e: f64[\(V),\(D)], w: f64[\(D),\(K)], b: f64[\(K)], ids: i64[\(n),\(L)], mask: f64[\(n),\(L)]) {
      emb = e[ids]
      m = sum(emb * expand_dims(mask, axis=-1), axes=[1]) / expand_dims(sum(mask, axes=[1]), axis=-1)
      return m @ w + b
    }
    func evaluate(e: f64[\(V),\(D)], w: f64[\(D),\(K)], b: f64[\(K)], ids: i64[\(n),\(L)], mask: f64[\(n),\(L)], y: f64[\(n),\(K)]) {
      z = scores(e, w, b, ids, mask)
      return mean(softmax_cross_entropy(z, y)) as loss, argmax(z, axis=1) as predicted
    }
    func train(e: f64[\(V),\(D)], w: f64[\(D),\(K)], b: f64[\(K)], ids: i64[\(n),\(L)], mask: f64[\(n),\(L)], y: f64[\(n),\(K)], lr: f64) {
      loss = mean(softmax_cross_entropy(scores(e, w, b, ids, mask), y))
      ge, gw, gb = grad(loss, e, w, b)
      return loss, e - lr * ge as e, w - lr * gw as w, b - lr * gb as b
    }
    """
}

func compiled(_ n: Int, _ name: String) throws -> Executable {
    let m = try parseModule(model(n), file: "classifier.ir")
    guard let f = m.functions.first(where: { $0.name == name }) else { fail("internal: no \(name)") }
    return try (try? compile(f, backend: .c)) ?? compile(f, backend: .bytecode)
}

do {
    let (xTrain, mTrain, yTrain) = tensors(train)
    let (xTest, mTest, yTest) = tensors(test)
    let step = try compiled(train.count, "train")
    let evalTrain = try compiled(train.count, "evaluate")
    let evalTest = try compiled(test.count, "evaluate")
    print("doc-classifier: \(train.count) training lines, \(test.count) held out, \(K) documents, vocabulary \(V), embedding \(D); backend \(step.backend.rawValue)")

    func uniform(_ shape: [Int], _ scale: Double) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor((0..<n).map { _ in (Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * scale }, shape: shape) ?? Tensor(0.0)
    }
    var params = [uniform([V, D], 0.1), uniform([D, K], 0.1), Tensor(TensorType(.f64, [K]), doubles: [0])]
    func accuracy(_ predicted: Tensor, _ part: ArraySlice<(words: [String], label: Int)>) -> Double {
        let correct = zip(predicted.doubles, part).filter { Int($0.0) == $0.1.label }.count
        return 100 * Double(correct) / Double(max(part.count, 1))
    }
    let lr = Tensor(2.0)
    for it in 1...steps {
        let out = try step(params + [xTrain, mTrain, yTrain, lr])
        params = Array(out[1...3])
        if it == 1 || it % (steps / 5) == 0 {
            let tr = try evalTrain(params + [xTrain, mTrain, yTrain])
            let te = try evalTest(params + [xTest, mTest, yTest])
            print(String(format: "step %4d  loss %.4f  train %5.1f %%  held-out loss %.4f  held-out %5.1f %%",
                         it, out[0].scalar ?? .nan, accuracy(tr[1], train), te[0].scalar ?? .nan, accuracy(te[1], test)))
        }
    }
    let te = try evalTest(params + [xTest, mTest, yTest])
    print(String(format: "held-out accuracy: %.1f %% (chance: %.1f %%)", accuracy(te[1], test),
                 100 * Double(test.map(\.label).reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }.values.max() ?? 0) / Double(test.count)))
} catch {
    fail("\(error)")
}
