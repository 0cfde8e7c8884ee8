/// Which checkpoint an evaluation measured: the one selected during training (best.safetensors, by
/// W-Robust on the validation split, or on the test split when the run had no validation split), the last
/// one (checkpoint.safetensors), or a file that says neither (a teacher from PyTorch).
///
/// The trainer writes the role into each checkpoint's metadata under the keys below; files written before
/// it did are recognised by their name. Every eval.json records it, so a number can always be traced to
/// the protocol that produced it (a model selected on the test split is measured optimistically there).
public struct MeasuredCheckpoint: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable {
        /// Selected by W-Robust during training (best.safetensors).
        case best
        /// The state at the end of training, or where it was interrupted (checkpoint.safetensors).
        case last
        /// A file without a trainer's role (a teacher, a PyTorch state_dict, a renamed copy).
        case other
    }

    public var role: Role
    /// Where `best` was selected: "validation" or "test"; nil for the other roles or when not recorded.
    public var selectedOn: String?
    /// Epochs trained when the checkpoint was saved; nil when not recorded.
    public var epoch: Int?
    public var path: String
    /// One sentence: "best by W-Robust on the validation split (epoch 3)".
    public var description: String

    /// Metadata keys of trainer checkpoints: the role ("best"/"last"), the split that selected a best
    /// checkpoint ("validation"/"test") and the epochs trained when it was saved.
    public static let roleKey = "checkpoint_role"
    public static let selectedOnKey = "selected_on"
    public static let epochKey = "epochs_trained"

    public init(role: Role, selectedOn: String?, epoch: Int?, path: String) {
        self.role = role; self.selectedOn = selectedOn; self.epoch = epoch; self.path = path
        let at = epoch.map { " (epoch \($0))" } ?? ""
        description = switch role {
        case .best: "best by W-Robust on the \(selectedOn.map { "\($0) split" } ?? "split the run evaluated on (not recorded)")\(at)"
        case .last: "last\(at)"
        case .other: "a checkpoint that is neither a run's best nor its last"
        }
    }

    /// The role a checkpoint file records in `metadata`, else the one its name implies.
    public init(path: String, metadata: [String: String]) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let role = metadata[Self.roleKey].flatMap(Role.init(rawValue:))
            ?? (name == "best.safetensors" ? .best : name == "checkpoint.safetensors" ? .last : .other)
        self.init(role: role, selectedOn: role == .best ? metadata[Self.selectedOnKey] : nil,
                  epoch: metadata[Self.epochKey].flatMap { Int($0) }, path: path)
    }
}
