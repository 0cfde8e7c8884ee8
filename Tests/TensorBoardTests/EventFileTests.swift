import Foundation
import Testing
@testable import TensorBoard

/// CRC-32C and TFRecord framing against published values, and event files read back record by record.
@Suite struct EventFileTests {
    @Test func crc32cMatchesPublishedCheckValues() {
        // The CRC catalogue's check value, and RFC 3720 (iSCSI) B.4's vectors.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func maskedCRCRotatesAndAddsTensorFlowsDelta() {
        // crc32c::Mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8, computed here by hand for 0xE3069283.
        // 0xE3069283 >> 15 = 0x1C60D, 0xE3069283 << 17 (32 bits) = 0x25060000; | = 0x2507C60D; + 0xA282EAD8 = 0xC78AB0E5.
        #expect(CRC32C.masked(Array("123456789".utf8)) == 0xC78A_B0E5)
    }

    @Test func recordFramingIsLengthCRCDataCRCLittleEndian() throws {
        let payload = Data("123456789".utf8)
        let record = TFRecord.frame(payload)
        #expect(record.count == 8 + 4 + 9 + 4)
        #expect(Array(record.prefix(8)) == [9, 0, 0, 0, 0, 0, 0, 0])
        let lengthCRC = CRC32C.masked([9, 0, 0, 0, 0, 0, 0, 0] as [UInt8])
        #expect(Array(record[8..<12]) == (0..<4).map { UInt8(truncatingIfNeeded: lengthCRC >> (8 * $0)) })
        #expect(record[12..<21] == payload)
        #expect(Array(record[21..<25]) == [0xE5, 0xB0, 0x8A, 0xC7])
        #expect(try TFRecord.records(in: record + record, source: "x") == [payload, payload])
    }

    @Test func aRecordCutShortEndsTheFileButAFlippedByteIsNamed() throws {
        let a = TFRecord.frame(Data("first".utf8)), b = TFRecord.frame(Data("second".utf8))
        #expect(try TFRecord.records(in: a + b.prefix(b.count - 3), source: "x") == [Data("first".utf8)])
        var damaged = a + b
        damaged[a.count + 14] ^= 0x01
        #expect(throws: TensorBoardError.corruptRecord(path: "x", offset: a.count, what: "data")) {
            try TFRecord.records(in: damaged, source: "x")
        }
    }

    @Test func scalarsComeBackAsWrittenAndResumingDropsStepsAfterTheCheckpoint() throws {
        let dir = NSTemporaryDirectory() + "tb-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try EventFileWriter(directory: dir, wallTime: 1000)
        for step in 1...5 { try first.scalars([("train/loss", Double(step) / 4), ("train/lr", 0.1)], step: step, wallTime: 1000) }
        let firstEvents = try EventFileWriter.events(inFile: first.path)
        #expect(firstEvents.first?.fileVersion == "brain.Event:2")
        #expect(try EventFileWriter.scalars(inFile: first.path).map(\.step) == [1, 2, 3, 4, 5])
        #expect(try EventFileWriter.scalars(inFile: first.path)[2].scalars == ["train/loss": 0.75, "train/lr": 0.1])

        // A checkpoint at step 3: steps 4 and 5 were written before a crash and must not show twice.
        let second = try EventFileWriter.continueRun(in: dir, after: 3, wallTime: 1000)
        try second.scalars([("train/loss", 9)], step: 4, wallTime: 1000)
        let files = EventFileWriter.files(in: dir)
        #expect(files == [first.path, second.path], "the new file sorts after the old one even within the same second")
        #expect(try EventFileWriter.scalars(inFile: first.path).map(\.step) == [1, 2, 3])
        let resumed = try EventFileWriter.events(inFile: second.path)
        #expect(resumed.count == 3)
        #expect(resumed[1].sessionLog.status == .start && resumed[1].step == 4)
        #expect(resumed[2].scalars == ["train/loss": 9])
    }
}
