import Foundation
import GradIR
import GradRuntime
import XCTest

final class NPYTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/npy")

    func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    func sampleTensors() -> [Tensor] {
        var out: [Tensor] = []
        let shapes: [[Int]] = [[], [3], [2, 3], [2, 1, 3], [0, 4]]
        for (k, shape) in shapes.enumerated() {
            for dtype in DType.allCases {
                out.append(Tensor.random(TensorType(dtype, shape), seed: UInt64(k * 10 + dtype.byteSize)))
            }
        }
        out.append(f64([.nan, -.infinity, -0.0, .leastNonzeroMagnitude]))
        out.append(i64([Int64.min, Int64.max, -1]))
        return out
    }

    func testRoundTripAllDTypesAndRanks() throws {
        for t in sampleTensors() {
            let bytes = writeNPY(t)
            XCTAssertEqual(Array(bytes[0..<8]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            XCTAssertEqual((10 + headerLength) % 64, 0, "data must start at a multiple of 64")
            XCTAssertEqual(bytes[10 + headerLength - 1], 0x0A)
            assertBits(try readNPY(bytes), t)
        }
    }

    func testFileHelpers() throws {
        let dir = try temporaryDirectory("npy")
        let path = dir.appendingPathComponent("a.npy").path
        let t = f32([1.5, -2], [2, 1])
        try writeNPY(t, path: path)
        assertBits(try readNPY(path: path), t)
        assertDiagnostic({ _ = try readNPY(path: dir.appendingPathComponent("missing.npy").path) }) {
            if case .io = $0 { return true }
            return false
        }
    }

    func testReadsFilesWrittenByNumPy() throws {
        assertBits(try readNPY(path: fixture("f64_2x3.npy")), f64([1.5, -2, 0, .infinity, -.infinity, 3.25], [2, 3]))
        assertBits(try readNPY(path: fixture("f32_vec.npy")), f32([0.1, -1e30, 7]))
        assertBits(try readNPY(path: fixture("i64_scalar.npy")), i64([-9_007_199_254_740_993], []))
        assertBits(try readNPY(path: fixture("bool_2x2x1.npy")), bools([true, false, false, true], [2, 2, 1]))
        assertBits(try readNPY(path: fixture("f64_0x3.npy")), f64([], [0, 3]))
        assertBits(try readNPY(path: fixture("f64_v2.npy")), f64([0, 1, 2, 3], [2, 2]))
    }

    func testRejectsUnsupportedNumPyFiles() {
        for (name, needle) in [("f64_fortran.npy", "fortran_order"), ("i32_vec.npy", "<i4"), ("f64_bigendian.npy", ">f8")] {
            assertDiagnostic({ _ = try readNPY(path: fixture(name)) }) {
                guard case .invalidNPY(let m) = $0 else { return false }
                return m.contains(needle)
            }
        }
    }

    func testNumPyReadsOurFiles() throws {
        let env = "/usr/bin/env"
        guard FileManager.default.isExecutableFile(atPath: env) else { throw XCTSkip("no /usr/bin/env to find python3") }
        let dir = try temporaryDirectory("npy-py")
        let cases: [(String, Tensor, String)] = [
            ("a.npy", f64([1.5, -2, 0.25, 8], [2, 2]), "float64 (2, 2) [1.5, -2.0, 0.25, 8.0]"),
            ("b.npy", f32([0.5], []), "float32 () [0.5]"),
            ("c.npy", i64([-3, 4, 5]), "int64 (3,) [-3, 4, 5]"),
            ("d.npy", bools([true, false], [1, 2, 1]), "bool (1, 2, 1) [True, False]"),
        ]
        for (name, t, _) in cases { try writeNPY(t, path: dir.appendingPathComponent(name).path) }
        let script = "import sys, numpy as np\nfor p in sys.argv[1:]:\n    a = np.load(p)\n    print(a.dtype, a.shape, a.ravel().tolist())\n"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: env)
        process.arguments = ["python3", "-c", script] + cases.map { dir.appendingPathComponent($0.0).path }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = Pipe()
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("python3 with numpy is not available") }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, cases.map(\.2))
    }

    // MARK: Hostile input

    func header(_ dict: String, version: UInt8 = 1) -> [UInt8] {
        var h = Array(dict.utf8)
        let prefix = version == 1 ? 10 : 12
        h += [UInt8](repeating: 0x20, count: (64 - (prefix + h.count + 1) % 64) % 64)
        h.append(0x0A)
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        if version == 1 {
            out += [UInt8(h.count & 0xFF), UInt8(h.count >> 8)]
        } else {
            out += [UInt8(h.count & 0xFF), UInt8(h.count >> 8 & 0xFF), 0, 0]
        }
        return out + h
    }

    func assertInvalid(_ bytes: [UInt8], _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        assertDiagnostic({ _ = try readNPY(bytes) }, file: file, line: line) {
            guard case .invalidNPY(let m) = $0 else { return false }
            return m.contains(needle)
        }
    }

    func testMalformedInputsAreErrors() {
        let good = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
        let data = [UInt8](repeating: 0, count: 16)
        XCTAssertNoThrow(try readNPY(header(good) + data))
        XCTAssertNoThrow(try readNPY(header(good, version: 3) + data))
        assertInvalid([], "magic")
        assertInvalid(Array("NUMPY not really".utf8), "magic")
        assertInvalid([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 4, 0, 0, 0], "version")
        assertInvalid([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0xFF, 0x00], "truncated header")
        assertInvalid(header(good) + data.dropLast(), "data is 15 bytes, expected 16")
        assertInvalid(header(good) + data + [0], "data is 17 bytes")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }") + data, "fortran_order")
        assertInvalid(header("{'descr': '<u1', 'fortran_order': False, 'shape': (2,), }") + data, "unsupported dtype")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }") + data, "too large")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }") + data, "too large")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (" + String(repeating: "1, ", count: 20) + "), }"), "more than")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2), }") + data, "trailing comma")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }") + data, "integer")
        assertInvalid(header("{'descr': '<f8', 'shape': (2,), }") + data, "needs the keys")
        assertInvalid(header("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }") + data, "duplicate")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}") + data, "key 'x'")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }") + data, "expected a string, True")
        assertInvalid(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } junk") + data, "after the dictionary")
        assertInvalid(header("{'descr': '<f8\\'', 'fortran_order': False, 'shape': (2,), }") + data, "escapes")
        assertInvalid(header("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }") + [1, 2], "expected 0 or 1")
        // A version 2 header longer than the limit.
        var long = [UInt8]([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0x00, 0x00, 0x02, 0x00])
        long += [UInt8](repeating: 0x20, count: 16)
        assertInvalid(long, "limit")
        var nonASCII = header(good)
        nonASCII[12] = 0xFF
        assertInvalid(nonASCII + data, "printable ASCII")
    }

    func testRandomMutationsNeverCrash() {
        var g = SplitMix64(seed: 2024)
        let seeds = sampleTensors().map(writeNPY)
        var rejected = 0
        for round in 0..<3000 {
            var bytes = seeds[round % seeds.count]
            switch g.next() % 4 {
            case 0:
                bytes = Array(bytes.prefix(Int(g.next() % UInt64(bytes.count + 1))))
            case 1:
                for _ in 0..<(1 + g.next() % 4) {
                    let i = Int(g.next() % UInt64(bytes.count))
                    bytes[i] = UInt8(truncatingIfNeeded: g.next())
                }
            case 2:
                // Mutate inside the header specifically.
                let i = 8 + Int(g.next() % UInt64(min(bytes.count - 8, 64)))
                bytes[i] = [0x28, 0x29, 0x2C, 0x27, 0x39, 0x7B, 0x7D, 0x20, 0x00][Int(g.next() % 9)]
            default:
                bytes += (0..<(g.next() % 16)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            }
            do {
                _ = try readNPY(bytes)
            } catch {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 1000)
    }
}
