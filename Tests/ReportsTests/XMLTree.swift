import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML element, for reading report.html back in tests.
final class Element {
    let name: String
    let attributes: [String: String]
    var children: [Element] = []
    /// Text before the first child, and text following each child (`tail`, as in ElementTree).
    var text = ""
    var tail = ""

    init(name: String, attributes: [String: String]) { self.name = name; self.attributes = attributes }

    /// This element's text and its descendants', in document order.
    var allText: String { text + children.map { $0.allText + $0.tail }.joined() }

    var descendants: [Element] { children.flatMap { [$0] + $0.descendants } }

    func first(id: String) -> Element? { descendants.first { $0.attributes["id"] == id } }

    func all(_ name: String, class cls: String? = nil) -> [Element] {
        descendants.filter { $0.name == name && (cls == nil || ($0.attributes["class"] ?? "").split(separator: " ").contains(Substring(cls!))) }
    }

    func hasClass(_ cls: String) -> Bool { (attributes["class"] ?? "").split(separator: " ").contains(Substring(cls)) }

    subscript(_ key: String) -> String? { attributes[key] }
}

/// Parses a whole document with Foundation's XMLParser (libxml2): any unclosed tag, stray `&` or bad
/// attribute makes `parse` fail, which is what the well-formedness test relies on.
final class XMLTreeBuilder: NSObject, XMLParserDelegate {
    private var stack: [Element] = []
    private(set) var root: Element?
    private(set) var error: String?

    static func parse(_ text: String) -> (root: Element?, error: String?) {
        let builder = XMLTreeBuilder()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = builder
        let ok = parser.parse()
        if !ok {
            let where_ = "line \(parser.lineNumber), column \(parser.columnNumber)"
            return (nil, (builder.error ?? parser.parserError.map { "\($0)" } ?? "unknown error") + " at " + where_)
        }
        return (builder.root, nil)
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        let e = Element(name: name, attributes: attributes)
        if let parent = stack.last { parent.children.append(e) } else { root = e }
        stack.append(e)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard let top = stack.last else { return }
        if top.children.isEmpty { top.text += string } else { top.children.last!.tail += string }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = "\(parseError)" }
}
