import Foundation
import GradIR
import XCTest

final class DumpTests: XCTestCase {
    func testDump() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        let ex = dir.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples")
        var files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
        files += [ex.appendingPathComponent("seed.ir"), ex.appendingPathComponent("mlp.ir")]
        for f in files {
            let text = try String(contentsOf: f, encoding: .utf8)
            do {
                let m = try parseModule(text, file: f.lastPathComponent)
                print("=== \(f.lastPathComponent)\n" + printModule(m))
            } catch {
                print("=== \(f.lastPathComponent) ERROR\n\(error)")
            }
        }
    }
}
