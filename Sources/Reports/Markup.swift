import Foundation

/// Helpers for writing XHTML-compatible markup by hand: every element closed, every attribute quoted,
/// and the five XML special characters escaped, so that report.html parses as XML as well as HTML.
enum Markup {
    /// Escapes text for element content and double-quoted attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // Control characters other than tab and newline are not allowed in XML 1.0.
            case _ where ch.value < 0x20 && ch != "\t" && ch != "\n": out += "\u{FFFD}"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// `<name a="v" …>content</name>`; attributes in the order given, nil values left out.
    static func element(_ name: String, _ attributes: [(String, String?)] = [], _ content: String) -> String {
        "<\(name)\(attributeList(attributes))>\(content)</\(name)>"
    }

    /// `<name a="v" …/>`.
    static func empty(_ name: String, _ attributes: [(String, String?)] = []) -> String {
        "<\(name)\(attributeList(attributes))/>"
    }

    private static func attributeList(_ attributes: [(String, String?)]) -> String {
        attributes.compactMap { key, value in value.map { " \(key)=\"\(escape($0))\"" } }.joined()
    }
}

/// Number formatting shared by the HTML, Markdown and text renderings, so the three agree digit for digit.
enum Numbers {
    /// A fraction in [0, 1] as a percentage with two decimals: 0.4567 → "45.67".
    static func percent(_ x: Double) -> String { String(format: "%.2f", 100 * x) }

    /// A coordinate for SVG: two decimals, no trailing zeros ("12.5", "3").
    static func coordinate(_ x: Double) -> String {
        var s = String(format: "%.2f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }

    /// A value with up to `digits` significant digits, without exponent for the ranges reports use.
    static func short(_ x: Double, digits: Int = 4) -> String { String(format: "%.\(digits)g", x) }

    /// ε both as a decimal and, when it is a whole number of 255ths, as k/255 (the CIFAR convention).
    static func eps(_ e: Double) -> String {
        let k = e * 255
        if e > 0, abs(k - k.rounded()) < 1e-4 * max(1, k), abs(k.rounded() - 255 * e.rounded()) > 0.5 {
            return "\(Int(k.rounded()))/255 (\(short(e)))"
        }
        return short(e)
    }

    /// Seconds as "45 s", "12.3 min" or "2.5 h".
    static func duration(_ s: Double) -> String {
        if s < 120 { return String(format: "%.0f s", s) }
        if s < 7200 { return String(format: "%.1f min", s / 60) }
        return String(format: "%.2f h", s / 3600)
    }
}
