import Foundation

/// One point of a study: one value of every axis, trained as an ordinary run in `<study>/runs/<run>/`.
/// Points that differ only in their seed form a cell.
public struct StudyPoint: Sendable, Equatable {
    /// The run's name and directory name: the cell and the seed, "bmtard-batchmean-e5-seed2".
    public var run: String
    /// The method label followed by the values of the other axes the grid lists: "bmtard-batchmean-e5".
    public var cell: String
    public var seed: UInt64
    public var methodLabel: String
    public var epochs: Int
    /// `data.train.limit` (nil: every training image).
    public var trainLimit: Int?
    /// The training ε.
    public var eps: Float
    /// The label of the teacher pair (grid.teachers); nil when the method uses no teacher or the grid
    /// has no teachers axis.
    public var teachers: String?
    /// The run config of the point, resolved: the base with the point's values put in.
    public var config: RunConfig

    public var directory: String { (config.output as NSString).appendingPathComponent(config.name) }
}

extension StudyConfig {
    /// Where the point runs go: `<output>/runs`.
    public var runsDirectory: String { (output as NSString).appendingPathComponent("runs") }

    /// The grid's points in the order a study runs them: seed by seed (so that after the first pass every
    /// cell has a run), then by budget, training-set size, ε, method and teacher pair. A method that uses
    /// no teacher runs once per combination, not once per teacher pair. Each point's config is validated;
    /// an error names the grid entry (or base field) that makes it invalid.
    public func points() throws -> [StudyPoint] {
        let methods = grid.methods.map { $0.enumerated().map { (Optional($0.offset), $0.element.method, $0.element.label) } }
            ?? [(nil, base.method, base.method.name)]
        let pairs: [(Int?, StudyTeachers?)] = grid.teachers.map { $0.enumerated().map { (Optional($0.offset), Optional($0.element)) } }
            ?? [(nil, nil)]
        var out: [StudyPoint] = []
        for seed in grid.seeds ?? [base.seed] {
            for (e, epochs) in indexed(grid.epochs, base.epochs) {
                for (_, limit) in indexed(grid.trainLimit, base.data.train.limit) {
                    for (_, epsilon) in indexed(grid.epsilons, base.attack.epsilon) {
                        let eps = epsilon?.value
                        for (m, method, label) in methods {
                            let roles = MethodRegistry.standard.method(named: method.name)?.teachers
                            let usesTeachers = !(roles ?? []).isEmpty
                            for (t, pair) in usesTeachers ? pairs : [(nil, nil)] {
                                var parts = [label]
                                if grid.epochs != nil { parts.append("e\(epochs)") }
                                if grid.trainLimit != nil, let limit { parts.append("n\(limit)") }
                                if grid.eps != nil, let eps { parts.append("eps" + String(format: "%g", Double(eps))) }
                                if let pair { parts.append(pair.label) }
                                let cell = parts.joined(separator: "-")
                                var c = base
                                c.name = "\(cell)-seed\(seed)"
                                c.output = runsDirectory
                                c.seed = seed
                                c.method = method
                                c.epochs = epochs
                                c.data.train.limit = limit
                                if let eps, grid.eps != nil {
                                    // An explicit step size is a fraction of ε: it scales with it.
                                    let baseEps = base.attack.eps ?? 8 / 255
                                    if let step = base.attack.stepSize, baseEps > 0, eps > 0 {
                                        c.attack.stepSize = Float(Double(step) * Double(eps) / Double(baseEps))
                                    }
                                    c.attack.epsilon = epsilon
                                }
                                if let roles {
                                    let given = pair?.pair ?? base.teachers
                                    c.teachers = usesTeachers
                                        ? TeachersConfig(natural: roles.contains(.natural) ? given?.natural : nil,
                                                         robust: roles.contains(.robust) ? given?.robust : nil)
                                        : nil
                                }
                                do { try c.validate() } catch let ConfigError.invalid(field, message) {
                                    throw ConfigError.invalid(field: studyField(field, method: m, teachers: t, epochs: e),
                                                              message: "\(message) (in point \(c.name))")
                                }
                                out.append(StudyPoint(run: c.name, cell: cell, seed: seed, methodLabel: label, epochs: epochs,
                                                      trainLimit: limit, eps: c.attack.eps ?? 8 / 255, teachers: pair?.label, config: c))
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The study field behind a run config field that a point got wrong: the grid entry that set it, else
    /// the base config's field.
    private func studyField(_ field: String, method m: Int?, teachers t: Int?, epochs e: Int?) -> String {
        if let m, field == "method" || field.hasPrefix("method.") { return "grid.methods[\(m)]" + field.dropFirst("method".count) }
        if let t, field.hasPrefix("teachers.") { return "grid.teachers[\(t)]" + field.dropFirst("teachers".count) }
        if let e, field == "epochs" || field.hasPrefix("schedule.") { return "grid.epochs[\(e)] (with base.\(field))" }
        return "base.\(field)"
    }
}

/// An axis's values with their indices, or the base value (index nil) when the grid leaves the axis out.
private func indexed<T>(_ values: [T]?, _ base: T) -> [(Int?, T)] {
    values.map { $0.enumerated().map { (Optional($0.offset), $0.element) } } ?? [(nil, base)]
}

/// The same for an axis whose base value may be absent (a training set without a limit).
private func indexed<T>(_ values: [T]?, _ base: T?) -> [(Int?, T?)] {
    values.map { $0.enumerated().map { (Optional($0.offset), Optional($0.element)) } } ?? [(nil, base)]
}
