/// Strict JSON keys, for every config and spec the modules after Engine decode: an object may hold only the
/// keys its type lists, spelt exactly as listed (snake_case), so that a typo ("learning_rat") or another
/// tool's spelling ("batchSize") is refused, naming the key and the nearest one it may have meant, instead
/// of silently falling back to a default.

/// A coding key made from any string: lets a decoder see every key the JSON actually has.
public struct AnyCodingKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

/// A key an object may not hold, by its full path ("data.train.skipCorrupt"), with the key it most likely
/// meant (a full path too) or, when none is close, the keys allowed there.
public struct UnknownKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var suggestion: String?
    public var allowed: [String]

    public init(path: String, suggestion: String?, allowed: [String]) {
        self.path = path; self.suggestion = suggestion; self.allowed = allowed
    }

    /// " — did you mean 'x'?", or " (valid here: a, b, c)".
    public var hint: String {
        suggestion.map { " — did you mean '\($0)'?" } ?? " (valid here: \(allowed.joined(separator: ", ")))"
    }

    public var description: String { "unknown key '\(path)'\(hint)" }
}

extension Decoder {
    /// Throws `UnknownKeyError` for the first key of this object that is not in `allowed`, suggesting the
    /// nearest allowed key of this object, else `elsewhere(key)`: where else a key of that name lives
    /// (e.g. the run config's "learning_rate" → "optimizer.lr").
    public func rejectUnknownKeys(allowed: [String], elsewhere: (String) -> String? = { _ in nil }) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let prefix = keyPath(codingPath)
        func under(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            let suggestion = nearest(key.stringValue, in: allowed).map(under) ?? elsewhere(key.stringValue)
            throw UnknownKeyError(path: under(key.stringValue), suggestion: suggestion, allowed: allowed)
        }
    }
}

/// A coding path as a user writes it: "grid.methods[2].kl_reduction".
public func keyPath(_ keys: [CodingKey]) -> String {
    keys.reduce(into: "") { path, key in
        if let i = key.intValue { path += "[\(i)]" }
        else if !key.stringValue.isEmpty { path += (path.isEmpty ? "" : ".") + key.stringValue }
    }
}

/// The candidate with the smallest edit distance to `word` (ignoring case), if it is close enough to be a
/// plausible typo: at most 2 edits, or a third of the word's length.
public func nearest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var prev = row[0]; row[0] = i + 1
            for (j, cb) in b.enumerated() {
                let cur = row[j + 1]
                row[j + 1] = min(row[j + 1] + 1, row[j] + 1, prev + (ca == cb ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
    let w = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(w, Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= max(2, w.count / 3) else { return nil }
    return best
}
