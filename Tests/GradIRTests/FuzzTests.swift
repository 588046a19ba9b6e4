import Foundation
import GradIR
import XCTest

/// No input may crash the parser: every prefix and thousands of mutations parse or throw a
/// complete diagnostic; whatever parses also round-trips through the printer.
final class FuzzTests: XCTestCase {
    func check(_ bytes: [UInt8], _ label: String) {
        do {
            let m = try parseModule(bytes: bytes, file: "fuzz.ir")
            assertRoundTrips(m, label)
        } catch {
            assertComplete(error, label)
            XCTAssertFalse(error.description.isEmpty)
        }
    }

    func testEveryPrefixOfEveryFile() throws {
        for url in try Corpus.files() {
            let bytes = Array(try Corpus.text(url).utf8)
            for n in 0...bytes.count {
                check(Array(bytes[0..<n]), "\(url.lastPathComponent) cut at \(n)")
            }
        }
    }

    func testRandomMutations() throws {
        var rng = SeededGenerator(seed: 0x6772_6164_63)
        let corpus = try Corpus.files().map { Array(try Corpus.text($0).utf8) }
        let alphabet = Array("()[]{},:;=+-*/^@<>!%#.e0123456789xyz_ \n\t-1".utf8) + [0, 0x80, 0xC3, 0xFF]
        for iteration in 0..<4000 {
            var bytes = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            let edits = Int.random(in: 1...4, using: &rng)
            for _ in 0..<edits where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                let b = Bool.random(using: &rng) ? alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[at] = b
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(b, at: at)
                default:
                    // Duplicate a chunk (exercises nesting, repeated statements).
                    let end = min(bytes.count, at + Int.random(in: 1...20, using: &rng))
                    bytes.insert(contentsOf: bytes[at..<end], at: at)
                }
            }
            check(bytes, "mutation \(iteration)")
        }
    }

    func testHostileNumbersAndShapes() {
        let sources = [
            "func f(x: f64[9223372036854775807]) {\n  return x\n}\n",
            "func f(x: f64[-1]) {\n  return x\n}\n",
            "func f(x: f64[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]) {\n  return x\n}\n",
            "func f(x: f64[4]) {\n  return x[::9223372036854775807]\n}\n",
            "func f(x: f64[4]) {\n  return x[-9223372036854775807:9223372036854775807]\n}\n",
            "func f(x: f64[4]) {\n  return slice(x, start=[0], stop=[4], step=[9223372036854775807])\n}\n",
            "func f(x: f64[4]) {\n  return pad(x, low=[9223372036854775807], high=[9223372036854775807])\n}\n",
            "func f(x: f64[4]) {\n  return reshape(x, shape=[-1, 9223372036854775807, 9223372036854775807])\n}\n",
            "func f(x: f64[4]) {\n  return zeros(shape=[1099511627776, 1099511627776])\n}\n",
            "func f(x: f64[4]) {\n  return const(dtype=f64, shape=[3037000500, 3037000500], value=1)\n}\n",
            "func f(x: i64[4]) {\n  return one_hot(x, depth=9223372036854775807)\n}\n",
            "func f(x: f64[1048576,1048576]) {\n  return hessian(sum(x), x)\n}\n",
            "func f(x: f64[4]) {\n  return sum(x, axes=[9223372036854775807])\n}\n",
            "func f(x: f64[4]) {\n  return expand_dims(x, axis=-9223372036854775807)\n}\n",
            "func f(x: f64[4]) {\n  return transpose(x, perm=[-9223372036854775807])\n}\n",
            "func f(x: f64[4]) {\n  return x + -9223372036854775808\n}\n",
            "func f(x: i64) {\n  return x + 1e300\n}\n",
            "func f(x: i64) {\n  return x + inf\n}\n",
        ]
        for s in sources { check(Array(s.utf8), s) }
    }
}
