import XCTest
final class GradIRTestsPlaceholder: XCTestCase { func testBuilds() {} }
