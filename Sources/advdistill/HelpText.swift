/// Help texts' lists, laid out for ArgumentParser. It wraps each line of a discussion at the terminal's width
/// (80 columns when the output is not a terminal) and starts every wrapped part at column 0, so an indented
/// list item longer than that would go on below its own indentation. These lines are wrapped here instead,
/// their continuations indented under the item's text.
enum HelpText {
    /// `items` as "  name: summary" lines of at most `width` columns, continuations indented by four spaces.
    /// ArgumentParser leaves a line of up to 79 columns as it is at its default width of 80.
    static func list(_ items: [(name: String, summary: String)], width: Int = 79) -> String {
        items.map { wrapped("  \($0.name): \($0.summary)", width: width, indent: "    ") }.joined(separator: "\n")
    }

    /// `line` wrapped at spaces into lines of at most `width` columns (a longer word stands alone), every line
    /// after the first starting with `indent`.
    static func wrapped(_ line: String, width: Int, indent: String) -> String {
        let leading = String(line.prefix { $0 == " " })
        var lines: [String] = [], current = leading
        for word in line.dropFirst(leading.count).split(separator: " ", omittingEmptySubsequences: true) {
            let start = lines.isEmpty ? leading : indent
            if current.count > start.count && current.count + 1 + word.count > width {
                lines.append(current)
                current = indent + word
            } else {
                current += (current.count > start.count ? " " : "") + word
            }
        }
        return (lines + [current]).joined(separator: "\n")
    }
}
