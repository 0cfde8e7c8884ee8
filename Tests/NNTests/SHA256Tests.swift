import Foundation
import NN
import Testing

/// SHA-256 against the FIPS 180-2 examples (appendix B) and the empty message, whole and in odd pieces.
@Suite struct SHA256Digests {
    static let vectors: [(message: [UInt8], digest: String)] = [
        ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000),
         "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]

    @Test func digestsMatchThePublishedExamples() {
        for v in Self.vectors { #expect(SHA256.hex(of: v.message) == v.digest, "\(v.message.count) bytes") }
    }

    @Test func piecesOfAnySizeGiveTheSameDigest() {
        let v = Self.vectors[3]
        var s = SHA256(), offset = 0, piece = 1
        while offset < v.message.count {
            let end = min(offset + piece, v.message.count)
            s.update(v.message[offset..<end])
            offset = end
            piece = piece * 3 % 1021 + 1
        }
        #expect(s.finalize() == v.digest)
    }

    @Test func aFileIsDigestedAsItsBytes() throws {
        let path = NSTemporaryDirectory() + "sha256-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(Self.vectors[3].message).write(to: URL(fileURLWithPath: path))
        #expect(SHA256.hex(ofFile: path) == Self.vectors[3].digest)
        #expect(SHA256.hex(ofFile: path + "-absent") == nil)
    }
}
