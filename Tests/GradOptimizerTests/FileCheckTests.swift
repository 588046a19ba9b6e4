import TestSupport
import XCTest

final class FileCheckTests: XCTestCase {
    let output = """
    func f(x: f64) -> (f64) {
      %1: f64 = sigmoid(x)
      %2: f64 = add(x, %1)
      return %2
    }
    func g(y: f64) -> (f64) {
      %1: f64 = exp(y)
      return %1
    }
    """

    func testPlainCheckAndNext() {
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: sigmoid(x)\n// CHECK-NEXT: add(x"), [])
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: sigmoid(x)\n// CHECK-NEXT: return").count, 1)
    }

    func testOrderMatters() {
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: add\n// CHECK: sigmoid").count, 1)
    }

    func testVariables() {
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: [[S:%[0-9]+]]: f64 = sigmoid\n// CHECK: add(x, [[S]])"), [])
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: [[S:%[0-9]+]]: f64 = sigmoid\n// CHECK-NEXT: add\n// CHECK-NEXT: return [[S]]").count, 1)
    }

    func testRegexAndWhitespace() {
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: {{%[0-9]+}}:   f64 = add"), [])
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: {{^func g}}"), [])
    }

    func testCheckNot() {
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: sigmoid\n// CHECK-NOT: exp\n// CHECK: return"), [])
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK: sigmoid\n// CHECK-NOT: exp").count, 1)
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK-NOT: cos"), [])
    }

    func testLabelBoundsCheckNot() {
        let checks = "// CHECK-LABEL: func f\n// CHECK-NOT: exp\n// CHECK-LABEL: func g\n// CHECK: exp(y)"
        XCTAssertEqual(FileCheck.check(output, against: checks), [])
        XCTAssertEqual(FileCheck.check(output, against: "// CHECK-LABEL: func h").count, 1)
    }

    func testDirectiveParsing() {
        let d = FileCheck.directives(in: "x\n  // CHECK-NEXT:  a  b \n# CHECK: ignored\n// CHECK-LABEL: l")
        XCTAssertEqual(d.map(\.kind), [.next, .label])
        XCTAssertEqual(d.first?.pattern, "a  b")
        XCTAssertEqual(d.first?.line, 2)
    }

    func testLiteralSpecialCharacters() {
        XCTAssertEqual(FileCheck.check("a(b) [c] *d+", against: "// CHECK: a(b) [c] *d+"), [])
    }
}
