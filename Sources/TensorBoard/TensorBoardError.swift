/// Why an event file could not be written or read back; each case names the file.
public enum TensorBoardError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    /// A record whose `what` ("length" or "data") fails its CRC-32C, at byte `offset` of the file.
    case corruptRecord(path: String, offset: Int, what: String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): "cannot write the TensorBoard event file \(path): \(reason)"
        case let .cannotRead(path, reason): "cannot read the TensorBoard event file \(path): \(reason)"
        case let .corruptRecord(path, offset, what):
            "\(path): the record at byte \(offset) fails its CRC-32C check (\(what)); the event file is damaged (move it away to go on without it)"
        }
    }
}
