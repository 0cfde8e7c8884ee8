import Engine
import Foundation

/// The method and its parameters: `{"name": "bmtard", "eta": 0.002}`. Absent parameters take the method's
/// defaults (its `MethodRegistry` entry); a parameter the method does not read is an error, so a misplaced
/// `beta` cannot silently do nothing. A modifier is an object under its own key, with its own parameters:
/// `{"name": "adaad", "igdm": {…}}`.
public struct MethodConfig: Codable, Sendable, Equatable {
    public var name: String
    /// The parameters the config gives.
    public var parameters = MethodParameterValues()
    /// The modifiers the config applies, by key, each with the parameters it gives.
    public var modifiers: [String: MethodParameterValues] = [:]

    public init(name: String) { self.name = name }

    public subscript<V>(_ parameter: MethodParameter<V>) -> V? {
        get { parameters[parameter] }
        set { parameters[parameter] = newValue }
    }

    public init(from decoder: Decoder) throws { try self.init(from: decoder, alsoAllowing: []) }

    /// Decodes a method object that may also hold the keys `extra` (which the caller reads). The keys it
    /// knows are those of `decoder.methodRegistry`: every method's parameters and every modifier.
    init(from decoder: Decoder, alsoAllowing extra: [String]) throws {
        let registry = decoder.methodRegistry
        try decoder.rejectUnknownKeys(allowing: registry.methodObjectKeys + extra)
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        name = try c.decode(String.self, forKey: AnyCodingKey(stringValue: "name"))
        parameters = try MethodParameterValues(from: c, registry.methods.flatMap(\.parameters))
        for modifier in registry.modifiers where c.contains(AnyCodingKey(stringValue: modifier.key)) {
            let object = try c.superDecoder(forKey: AnyCodingKey(stringValue: modifier.key))
            try object.rejectUnknownKeys(allowing: modifier.parameters.map(\.key))
            modifiers[modifier.key] = try MethodParameterValues(from: object.container(keyedBy: AnyCodingKey.self), modifier.parameters)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(name, forKey: AnyCodingKey(stringValue: "name"))
        try parameters.encode(to: &c)
        for key in modifiers.keys.sorted() {
            var object = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey(stringValue: key))
            try modifiers[key]!.encode(to: &object)
        }
    }

    /// Checks the method against its registry entry: the parameters it reads and their ranges, the modifiers
    /// that apply to it, and the teachers it needs (and only those).
    func validate(hasTeachers teachers: TeachersConfig?, registry: MethodRegistry = .standard) throws {
        func fail(_ field: String, _ message: String) -> ConfigError { .invalid(field: field, message: message) }
        guard let entry = registry.method(named: name) else {
            let known = registry.names
            let hint = nearest(name, in: known).map { " — did you mean '\($0)'?" } ?? ""
            throw fail("method.name", "unknown method '\(name)'\(hint) (known: \(known.joined(separator: ", ")))")
        }
        try Self.check(parameters, against: entry.parameters, field: "method", user: "method '\(name)'")
        for modifier in registry.modifiers {
            guard let given = modifiers[modifier.key] else { continue }
            guard modifier.appliesTo.accepts(entry) else {
                throw fail("method.\(modifier.key)", "\(modifier.key) applies to \(modifier.appliesTo.description); method '\(name)' is not one")
            }
            try Self.check(given, against: modifier.parameters, field: "method.\(modifier.key)", user: modifier.key)
        }
        for role in TeacherRole.allCases {
            let given = role == .natural ? teachers?.natural != nil : teachers?.robust != nil
            if entry.teachers.contains(role), !given {
                throw fail("teachers.\(role.rawValue)", "method '\(name)' needs a \(role.adjective) teacher checkpoint")
            }
            if !entry.teachers.contains(role), given {
                throw fail("teachers.\(role.rawValue)", "method '\(name)' does not use a \(role.adjective) teacher; remove it")
            }
        }
    }

    /// Every given parameter must be one that `uses` lists, with a value it accepts, and not one that the
    /// others given make ineffective (`MethodParameterUse.onlyWith`).
    private static func check(_ given: MethodParameterValues, against uses: [MethodParameterUse], field: String, user: String) throws {
        for key in given.keys {
            guard let use = uses.first(where: { $0.key == key }) else {
                throw ConfigError.invalid(field: "\(field).\(key)", message: "\(user) does not use this parameter")
            }
            if let why = use.refusal(given.values[key]!) { throw ConfigError.invalid(field: "\(field).\(key)", message: why) }
            if let needs = use.requirement, let set = given.values[needs.key], !set.isEqual(to: needs.value) {
                throw ConfigError.invalid(field: "\(field).\(key)", message: "has no effect with \"\(needs.key)\": \(set.configText); remove it, or set \"\(needs.key)\": \(needs.value.configText)")
            }
        }
    }
}

extension Decoder {
    /// The registry whose methods and modifiers a method object may name: `MethodRegistry.standard`, unless
    /// the decoder's `userInfo` holds another under `MethodRegistry.userInfoKey` (tests register their own).
    var methodRegistry: MethodRegistry { userInfo[MethodRegistry.userInfoKey] as? MethodRegistry ?? .standard }
}
