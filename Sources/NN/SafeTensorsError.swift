/// Everything that can go wrong reading or writing a safetensors file. Each case carries the file
/// (`file` is the path, or the `source` name given to `parse`), the tensor key when there is one,
/// and the byte offsets, expected and found values; `description` is a sentence a user can act on.
///
/// Byte offsets named `begin`/`end` are `data_offsets`, i.e. relative to the data buffer, which starts
/// at file byte `8 + headerLength`.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    // Reading the file.
    case fileNotFound(file: String)
    case fileUnreadable(file: String, reason: String)
    case fileTooShort(file: String, size: Int)
    case headerLengthBeyondFile(file: String, headerLength: UInt64, fileSize: Int)
    case headerLengthAboveCap(file: String, headerLength: UInt64, cap: Int)
    // The JSON header.
    case invalidJSON(file: String, byteOffset: Int, reason: String)
    case headerNotObject(file: String, found: String)
    case duplicateKey(file: String, key: String)
    case tensorNotObject(file: String, key: String, found: String)
    case missingField(file: String, key: String, field: String)
    case invalidField(file: String, key: String, field: String, expected: String, found: String)
    case unknownDType(file: String, key: String, found: String)
    case negativeDimension(file: String, key: String, shape: [Int])
    case elementCountOverflow(file: String, key: String, shape: String)
    case dataLengthMismatch(file: String, key: String, dtype: DType, shape: [Int], begin: Int, end: Int, expectedBytes: Int)
    case offsetsOutOfRange(file: String, key: String, begin: Int, end: Int, dataLength: Int)
    case overlappingTensors(file: String, key: String, begin: Int, end: Int, otherKey: String, otherBegin: Int, otherEnd: Int)
    case metadataNotObject(file: String, found: String)
    case invalidMetadata(file: String, key: String, found: String)
    // Writing.
    case duplicateName(file: String, key: String)
    case reservedName(file: String, key: String)
    case valueNotRepresentable(file: String, key: String, index: Int, value: Float, dtype: DType)
    case writeFailed(file: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case let .fileNotFound(file):
            return "Safetensors file '\(file)' does not exist."
        case let .fileUnreadable(file, reason):
            return "Cannot read safetensors file '\(file)': \(reason)."
        case let .fileTooShort(file, size):
            return "'\(file)' is \(size) bytes long, shorter than the 8-byte header length every safetensors file starts with."
        case let .headerLengthBeyondFile(file, headerLength, fileSize):
            return "'\(file)' declares a \(headerLength)-byte header at byte 0, but the file has only \(fileSize) bytes (\(max(0, fileSize - 8)) after the length field): truncated or not a safetensors file."
        case let .headerLengthAboveCap(file, headerLength, cap):
            return "'\(file)' declares a \(headerLength)-byte header at byte 0, above the \(cap)-byte limit: refusing to read it (corrupt or not a safetensors file)."
        case let .invalidJSON(file, byteOffset, reason):
            return "The header of '\(file)' is not valid JSON at file byte \(byteOffset): \(reason)."
        case let .headerNotObject(file, found):
            return "The header of '\(file)' must be a JSON object mapping tensor names to entries, found \(found)."
        case let .duplicateKey(file, key):
            return "The header of '\(file)' lists key '\(key)' more than once."
        case let .tensorNotObject(file, key, found):
            return "Tensor '\(key)' in '\(file)' must be an object with dtype, shape and data_offsets, found \(found)."
        case let .missingField(file, key, field):
            return "Tensor '\(key)' in '\(file)' has no '\(field)' field."
        case let .invalidField(file, key, field, expected, found):
            return "Tensor '\(key)' in '\(file)': '\(field)' must be \(expected), found \(found)."
        case let .unknownDType(file, key, found):
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            return "Tensor '\(key)' in '\(file)' has dtype '\(found)', which is not supported (supported: \(known))."
        case let .negativeDimension(file, key, shape):
            return "Tensor '\(key)' in '\(file)' has shape \(shape) with a negative dimension."
        case let .elementCountOverflow(file, key, shape):
            return "Tensor '\(key)' in '\(file)' has shape \(shape), whose byte count overflows a 64-bit integer."
        case let .dataLengthMismatch(file, key, dtype, shape, begin, end, expectedBytes):
            return "Tensor '\(key)' in '\(file)': data_offsets [\(begin), \(end)] span \(end - begin) bytes, but \(dtype.rawValue) shape \(shape) needs \(expectedBytes) bytes."
        case let .offsetsOutOfRange(file, key, begin, end, dataLength):
            return "Tensor '\(key)' in '\(file)': data_offsets [\(begin), \(end)] lie outside the \(dataLength)-byte data buffer (offsets must satisfy 0 ≤ begin ≤ end ≤ \(dataLength))."
        case let .overlappingTensors(file, key, begin, end, otherKey, otherBegin, otherEnd):
            return "Tensors '\(otherKey)' (data_offsets [\(otherBegin), \(otherEnd)]) and '\(key)' (data_offsets [\(begin), \(end)]) in '\(file)' overlap."
        case let .metadataNotObject(file, found):
            return "__metadata__ of '\(file)' must be an object mapping strings to strings, found \(found)."
        case let .invalidMetadata(file, key, found):
            return "__metadata__ of '\(file)': the value of '\(key)' must be a string, found \(found)."
        case let .duplicateName(file, key):
            return "Cannot write '\(file)': tensor name '\(key)' appears more than once."
        case let .reservedName(file, key):
            return "Cannot write '\(file)': '\(key)' is reserved for the metadata and cannot name a tensor."
        case let .valueNotRepresentable(file, key, index, value, dtype):
            return "Cannot write tensor '\(key)' to '\(file)': value \(value) at index \(index) is not representable as \(dtype.rawValue)."
        case let .writeFailed(file, operation, reason):
            return "Writing '\(file)' failed during \(operation): \(reason). Any previous file at that path is unchanged."
        }
    }
}
