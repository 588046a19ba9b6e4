import XCTest
final class GradCTestsPlaceholder: XCTestCase { func testBuilds() {} }
