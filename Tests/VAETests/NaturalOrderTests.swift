@testable import VAEFormats
import XCTest

/// Natural order, as report.html's sort script implements it (checked in Chromium by scripts/check-report-browser.sh).
final class NaturalOrderTests: XCTestCase {
    func testNumbersInNamesSortByValue() {
        let names = ["benign (10)", "benign (2)", "benign (1)", "malignant (3)", "benign (12)", "Benign (11)", "normal"]
        XCTAssertEqual(names.sorted(by: naturalOrder),
                       ["benign (1)", "benign (2)", "benign (10)", "Benign (11)", "benign (12)", "malignant (3)", "normal"])
        // Text order would put 10 before 2.
        XCTAssertEqual(names.sorted().prefix(2), ["Benign (11)", "benign (1)"])
    }

    func testTiesAndEdgeCasesGiveAStrictTotalOrder() {
        XCTAssertEqual(["case_10", "case_9", "case_010", "case_0009", "case_1"].sorted(by: naturalOrder),
                       ["case_1", "case_9", "case_0009", "case_10", "case_010"], "equal values: fewer leading zeros first")
        XCTAssertEqual(["a", "A", "b", "B"].sorted(by: naturalOrder), ["A", "a", "B", "b"], "case only breaks ties")
        XCTAssertEqual(["x2y", "x2", "x", "", "2"].sorted(by: naturalOrder), ["", "2", "x", "x2", "x2y"])
        XCTAssertEqual(["img 99999999999999999999999", "img 100000000000000000000000"].sorted(by: naturalOrder),
                       ["img 99999999999999999999999", "img 100000000000000000000000"], "digit runs beyond any integer type")
        XCTAssertEqual(["é2", "é10", "e3"].sorted(by: naturalOrder), ["e3", "é2", "é10"])
        for (a, b) in [("benign (2)", "benign (10)"), ("a", "A"), ("x01", "x1"), ("", "a")] {
            XCTAssertEqual(naturalCompare(a, b), -naturalCompare(b, a), "\(a) vs \(b)")
            XCTAssertNotEqual(naturalCompare(a, b), 0, "\(a) vs \(b)")
        }
        XCTAssertEqual(naturalCompare("same (1)", "same (1)"), 0)
    }
}
