import Foundation
import Testing
import Engine

/// ε as text: fractions and decimals parse to their values and keep their text; anything else is refused.
@Suite struct EpsilonTests {
    @Test func fractionsAndDecimalsKeepTheirText() throws {
        let e = try #require(Epsilon(parsing: "8/255"))
        #expect(e.value == Float(8.0 / 255.0) && e.text == "8/255")
        #expect(Epsilon(parsing: " 0.1 ")?.value == 0.1 && Epsilon(parsing: " 0.1 ")?.text == "0.1")
        #expect(Epsilon(parsing: "2e-3")?.value == 0.002)
        #expect(Epsilon(parsing: "0")?.value == 0)
        #expect(Epsilon(parsing: "2.5 / 255")?.value == Float(2.5 / 255.0))
        #expect(Epsilon(parsing: "-1/255")?.value == Float(-1.0 / 255.0), "the sign is the caller's to check, naming its field")
    }

    @Test func otherStringsAreRefused() {
        for bad in ["", "abc", "8/0", "1/2/3", "/255", "8/", "inf", "nan", "0x1p-3", "8 255", "1e39"] {
            #expect(Epsilon(parsing: bad) == nil, "'\(bad)'")
        }
    }

    @Test func jsonTakesANumberOrAStringAndWritesAFractionBackAsItsString() throws {
        struct Box: Codable { var eps: Epsilon }
        let fraction = try JSONDecoder().decode(Box.self, from: Data(#"{"eps": "8/255"}"#.utf8))
        #expect(fraction.eps.text == "8/255")
        #expect(String(decoding: try JSONEncoder().encode(fraction), as: UTF8.self) == #"{"eps":"8\/255"}"#)
        let number = try JSONDecoder().decode(Box.self, from: Data(#"{"eps": 0.1}"#.utf8))
        #expect(number.eps.value == 0.1 && number.eps.text == "0.1")
        #expect(String(decoding: try JSONEncoder().encode(number), as: UTF8.self) == #"{"eps":0.1}"#)
        #expect(Epsilon(Float(0.1)).text == "0.1" && Epsilon(Float(1)).text == "1")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Box.self, from: Data(#"{"eps": "eight"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Box.self, from: Data(#"{"eps": true}"#.utf8)) }
    }
}
