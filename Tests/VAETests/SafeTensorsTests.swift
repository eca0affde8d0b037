import Foundation
import VAEFormats
import XCTest

final class SafeTensorsTests: TemporaryDirectoryTestCase {
    /// A file with a hand-written header, so that malformed cases can be built byte by byte.
    func file(header: String, data: [UInt8], name: String) throws -> String {
        var bytes = [UInt8]()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { bytes += $0 }
        bytes += Array(header.utf8) + data
        let path = "\(dir!)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertFails(_ path: String, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        assertThrows(try SafeTensors.read(path: path), mentioning: [path] + parts, file: file, line: line)
    }

    func assertThrows<T>(_ expression: @autoclosure () throws -> T, mentioning parts: [String],
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let message = "\(error)"
            for part in parts {
                XCTAssertTrue(message.contains(part), "'\(message)' should mention '\(part)'", file: file, line: line)
            }
        }
    }

    /// A header for one tensor `t` with the given JSON fragments.
    func oneTensor(dtype: String = #""F32""#, shape: String, offsets: String) -> String {
        #"{"t":{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":\#(offsets)}}"#
    }

    func testRoundTripKeepsValuesShapesAndMetadata() throws {
        var st = SafeTensors()
        st.add("a.weight", shape: [2, 3], values: [1, -2, 3.5, 0, .pi, -1e-30])
        st.add("b", shape: [0], values: [])
        st.metadata = ["epoch": "3", "note": "ünïcode"]
        let path = "\(dir!)/x.safetensors"
        try st.write(path: path)
        let back = try SafeTensors.read(path: path)
        XCTAssertEqual(back.names, ["a.weight", "b"])
        XCTAssertEqual(back["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(back["a.weight"]?.values, st["a.weight"]?.values)
        XCTAssertEqual(back.metadata, st.metadata)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"), "no temporary file left behind")
    }

    func testReadsF16AndBF16() throws {
        // 1.5 and -2 in F16: 0x3E00, 0xC000; in BF16: 0x3FC0, 0xC000
        let f16 = try file(header: #"{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0x00, 0x3E, 0x00, 0xC0], name: "h.st")
        XCTAssertEqual(try SafeTensors.read(path: f16)["t"]?.values, [1.5, -2])
        let bf16 = try file(header: #"{"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, data: [0xC0, 0x3F, 0x00, 0xC0], name: "b.st")
        XCTAssertEqual(try SafeTensors.read(path: bf16)["t"]?.values, [1.5, -2])
    }

    func testF16FixtureEqualsF32WithinHalfPrecision() throws {
        let f32 = try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors"))
        let f16 = try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm-f16.safetensors"))
        XCTAssertEqual(f32.names, f16.names)
        for name in f32.names {
            for (a, b) in zip(f32[name]!.values, f16[name]!.values) {
                XCTAssertEqual(a, b, accuracy: max(abs(a) * 1e-3, 1e-7), name)
            }
        }
    }

    func testMalformedFilesGetClearMessages() throws {
        let missing = "\(dir!)/missing.safetensors"
        assertFails(missing, mentioning: ["cannot read"])
        let tiny = "\(dir!)/short.safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: tiny))
        assertFails(tiny, mentioning: ["shorter than"])
        let png = "\(dir!)/image.safetensors"
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: png))
        assertFails(png, mentioning: ["not a valid safetensors", "exceeds the file size"])
        assertFails(try file(header: "not json!", data: [], name: "nojson.st"), mentioning: ["not JSON"])
        assertFails(try file(header: #"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0], name: "trunc.st"),
                    mentioning: ["'t'", "outside", "truncated"])
        assertFails(try file(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8), name: "size.st"),
                    mentioning: ["'t'", "8 bytes for shape [3]"])
        assertFails(try file(header: #"{"t":{"dtype":"F32"}}"#, data: [], name: "noshape.st"), mentioning: ["'t'", "lacks"])
        // A real fixture cut in half: header intact, data missing.
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors")))
        let half = "\(dir!)/half.safetensors"
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: half))
        assertFails(half, mentioning: ["outside", "truncated"])
    }

    func testEveryDTypeOfTheFormatIsAcceptedAndOnlyFloatsAreRead() throws {
        // (dtype, shape, bytes): F4 packs 2 elements a byte, F6 packs 4 elements in 3 bytes.
        let entries: [(String, [Int], [UInt8])] = [
            ("BOOL", [2], [1, 0]), ("U8", [1], [7]), ("I8", [1], [0xFF]), ("U16", [1], [1, 0]), ("I16", [1], [1, 0]),
            ("U32", [1], [1, 0, 0, 0]), ("I32", [1], [1, 0, 0, 0]), ("U64", [1], [UInt8](repeating: 1, count: 8)),
            ("I64", [1, 2], [UInt8](repeating: 2, count: 16)), ("F4", [2], [0x12]), ("F6_E2M3", [4], [1, 2, 3]),
            ("F6_E3M2", [4], [4, 5, 6]), ("F8_E5M2", [1], [0x3C]), ("F8_E4M3", [1], [0x38]), ("F8_E8M0", [1], [0x7F]),
            ("C64", [1], [UInt8](repeating: 0, count: 8)),
            ("F16", [2], [0x00, 0x3E, 0x00, 0xC0]), ("BF16", [2], [0xC0, 0x3F, 0x00, 0xC0]),
            ("F32", [1], [0, 0, 0x20, 0x40]), ("F64", [2], [0, 0, 0, 0, 0, 0, 0xF8, 0x3F] + [0, 0, 0, 0, 0, 0, 0, 0xC0]),
        ]
        XCTAssertEqual(Set(entries.map(\.0)), Set(SafeTensors.DType.allCases.map(\.rawValue)), "the test covers every dtype")
        var fields = [String]()
        var data = [UInt8]()
        for (dtype, shape, bytes) in entries {
            fields.append(#""\#(dtype)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[\#(data.count),\#(data.count + bytes.count)]}"#)
            data += bytes
        }
        let path = try file(header: "{" + fields.joined(separator: ",") + "}", data: data, name: "all.st")
        let read = try SafeTensors.read(path: path)
        XCTAssertEqual(read.names, ["BF16", "F16", "F32", "F64"], "non-float tensors are skipped")
        XCTAssertEqual(read["F16"]?.values, [1.5, -2])
        XCTAssertEqual(read["BF16"]?.values, [1.5, -2])
        XCTAssertEqual(read["F32"]?.values, [2.5])
        XCTAssertEqual(read["F64"]?.values, [1.5, -2])
        XCTAssertEqual(read["F64"]?.shape, [2])
        let header = try SafeTensors.readHeader(path: path)
        XCTAssertEqual(header.tensors.map(\.name), entries.map(\.0), "in data order")
        XCTAssertEqual(header.tensors.map(\.dtype.rawValue), entries.map(\.0))
        XCTAssertEqual(header.tensors.map(\.shape), entries.map(\.1))
        XCTAssertEqual(header.tensors.first { $0.name == "I64" }?.dataOffsets.count, 16)
    }

    func testKeepReadsOnlyChosenTensorsAndRefusesAKeptIntegerTensor() throws {
        // The layout of an SD checkpoint: int64 position ids and an int step counter beside float weights.
        let header = #"{"__metadata__":{"format":"pt"},"cond_stage_model.transformer.text_model.embeddings.position_ids":"#
            + #"{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]},"first_stage_model.decoder.conv_out.bias":"#
            + #"{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"model_ema.num_updates":{"dtype":"I32","shape":[],"data_offsets":[24,28]},"#
            + #""model.diffusion_model.out.2.bias":{"dtype":"F16","shape":[2],"data_offsets":[28,32]}}"#
        var data = [UInt8](repeating: 0, count: 16) + [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40] + [5, 0, 0, 0] + [0, 0x3C, 0, 0x3C]
        data[0] = 1
        let path = try file(header: header, data: data, name: "sd.st")
        let vae = try SafeTensors.read(path: path, keep: { $0.hasPrefix("first_stage_model.") })
        XCTAssertEqual(vae.names, ["first_stage_model.decoder.conv_out.bias"])
        XCTAssertEqual(vae["first_stage_model.decoder.conv_out.bias"]?.values, [1, 2])
        XCTAssertEqual(vae.metadata, ["format": "pt"])
        let everything = try SafeTensors.read(path: path)
        XCTAssertEqual(everything.names, ["first_stage_model.decoder.conv_out.bias", "model.diffusion_model.out.2.bias"])
        assertThrows(try SafeTensors.read(path: path, keep: { $0.hasPrefix("cond_stage_model.") }),
                     mentioning: [path, "'cond_stage_model.transformer.text_model.embeddings.position_ids'", "dtype I64", "F32, F16, BF16, F64"])
        assertThrows(try SafeTensors.read(path: path, keep: { $0 == "model_ema.num_updates" }), mentioning: ["'model_ema.num_updates'", "I32"])
        XCTAssertEqual(try SafeTensors.read(path: path, keep: { _ in false }).names, [])
    }

    func testDuplicateKeysAreRefused() throws {
        let tensor = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        let data: [UInt8] = [0, 0, 0x80, 0x3F]
        let twice = try file(header: #"{"t":\#(tensor),"t":\#(tensor)}"#, data: data, name: "dup.st")
        assertFails(twice, mentioning: [#""t""#, "twice"])
        assertThrows(try SafeTensors.readMetadata(path: twice), mentioning: [twice, "twice"])
        assertFails(try file(header: #"{"t":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}"#, data: data, name: "dupfield.st"),
                    mentioning: [#""dtype""#, "twice"])
        assertFails(try file(header: #"{"__metadata__":{"a":"1","a":"2"},"t":\#(tensor)}"#, data: data, name: "dupmeta.st"),
                    mentioning: [#""a""#, "twice"])
        // The same key spelled with an escape is the same key.
        assertFails(try file(header: #"{"t":\#(tensor),"\u0074":\#(tensor)}"#, data: data, name: "dupescaped.st"), mentioning: ["twice"])
        // Canonically equivalent but different bytes: two keys for JSON, one name for a Swift dictionary.
        let precomposed = try file(header: #"{"\u00e9":\#(tensor),"e\u0301":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                                   data: data + data, name: "unicode.st")
        assertFails(precomposed, mentioning: ["same text in different Unicode forms"])
    }

    func testOffsetsMustBeTwoOrderedIntegersBelow2To64() throws {
        let data = [UInt8](repeating: 0, count: 4)
        for (index, offsets) in ["[0,32.9]", #"["0",4]"#, "[-1,3]", "[0,4e0]", "[0,18446744073709551616]", "[0]", "[0,4,4]", "4", "null"].enumerated() {
            let path = try file(header: oneTensor(shape: "[1]", offsets: offsets), data: data, name: "offsets\(index).st")
            assertFails(path, mentioning: ["'t'", "data_offsets \(offsets.replacingOccurrences(of: ",", with: ", "))", "two non-negative integers"])
        }
        assertFails(try file(header: oneTensor(shape: "[0]", offsets: "[4,0]"), data: data, name: "reversed.st"),
                    mentioning: ["'t'", "[4, 0]", "end comes before the beginning"])
        // Below 2^64 but beyond the data.
        assertFails(try file(header: oneTensor(shape: "[1]", offsets: "[18446744073709551611,18446744073709551615]"), data: data, name: "far.st"),
                    mentioning: ["'t'", "18446744073709551615", "outside the 4 data bytes"])
    }

    func testShapesMustBeNonNegativeIntegersQuotedAsWritten() throws {
        for (index, shape) in [#"["abc"]"#, "[32.9]", "[-1]", "[1180591620717411303424]", "[1,null]", "3", "[[1]]"].enumerated() {
            let path = try file(header: oneTensor(shape: shape, offsets: "[0,4]"), data: [0, 0, 0, 0], name: "shape\(index).st")
            assertFails(path, mentioning: ["tensor 't' has shape \(shape.replacingOccurrences(of: ",", with: ", "))",
                                           "dimensions must be non-negative integers"])
        }
    }

    func testElementCountsOverflowIntoAClearError() throws {
        // Shape [2^62] of F32 with no data: 2^64 bytes wrap to 0 in unchecked arithmetic.
        let wrapped = try file(header: oneTensor(shape: "[4611686018427387904]", offsets: "[0,0]"), data: [], name: "wrap.st")
        assertFails(wrapped, mentioning: ["'t'", "shape [4611686018427387904] of F32", "overflows", "does not match its 0 bytes"])
        assertThrows(try SafeTensors.readHeader(path: wrapped), mentioning: ["overflows"])
        let product = try file(header: oneTensor(shape: "[4294967296,4294967296]", offsets: "[0,0]"), data: [], name: "product.st")
        assertFails(product, mentioning: ["shape [4294967296, 4294967296]", "overflows"])
        // A huge dimension times zero is a valid empty tensor for the format.
        XCTAssertEqual(try SafeTensors.read(path: file(header: oneTensor(shape: "[4611686018427387904,0]", offsets: "[0,0]"), data: [], name: "zero.st"))["t"]?.shape,
                       [4611686018427387904, 0])
        // Beside a zero, huge dimensions whose product passes 2^63 are refused: accepted, [2^62, 2, 0] trapped the first
        // code that multiplied the shape (the structure-aware fuzzer's own check, `shape.reduce(1, *)`).
        for shape in ["[4611686018427387904,2,0]", "[0,4611686018427387904,2]", "[3037000500,3037000500,0]"] {
            assertFails(try file(header: oneTensor(shape: shape, offsets: "[0,0]"), data: [], name: "zero-product.st"),
                        mentioning: ["'t'", "dimensions whose product exceeds 9223372036854775807"])
        }
        assertFails(try file(header: oneTensor(dtype: #""F4""#, shape: "[3]", offsets: "[0,2]"), data: [0, 0], name: "f4.st"),
                    mentioning: ["'t'", "do not fill whole bytes"])
    }

    func testTensorsMustTileTheDataExactly() throws {
        func two(_ a: String, _ b: String) -> String {
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":\#(a)},"b":{"dtype":"F32","shape":[1],"data_offsets":\#(b)}}"#
        }
        let eight = [UInt8](repeating: 0, count: 8)
        // Listed out of order in the JSON but tiling the data: fine.
        XCTAssertEqual(try SafeTensors.read(path: file(header: two("[4,8]", "[0,4]"), data: eight, name: "order.st")).names, ["a", "b"])
        assertFails(try file(header: two("[0,4]", "[8,12]"), data: eight + [0, 0, 0, 0], name: "gap.st"),
                    mentioning: ["data bytes 4..<8 after tensor 'a' belong to no tensor", "'b'"])
        assertFails(try file(header: two("[4,8]", "[8,12]"), data: eight + [0, 0, 0, 0], name: "start.st"),
                    mentioning: ["data bytes 0..<4 belong to no tensor"])
        assertFails(try file(header: two("[0,4]", "[0,4]"), data: [0, 0, 0, 0], name: "overlap.st"),
                    mentioning: ["overlaps tensor", "data bytes 0..<4"])
        assertFails(try file(header: two("[0,4]", "[4,8]"), data: eight + [1], name: "trailing.st"),
                    mentioning: ["1 trailing bytes after the last tensor"])
        assertFails(try file(header: "{}", data: [0], name: "emptytrailing.st"), mentioning: ["1 trailing bytes"])
        XCTAssertEqual(try SafeTensors.read(path: file(header: "{}", data: [], name: "empty.st")).names, [])
    }

    func testHeaderMustBeAUTF8JSONObjectOfBoundedLength() throws {
        let valid = oneTensor(shape: "[1]", offsets: "[0,4]")
        let data: [UInt8] = [0, 0, 0x80, 0x3F]
        // Padding with spaces (as the writers do) and leading whitespace are allowed.
        XCTAssertEqual(try SafeTensors.read(path: file(header: " \n" + valid + "      ", data: data, name: "padded.st"))["t"]?.values, [1])
        assertFails(try file(header: valid + "\0\0", data: data, name: "nul.st"), mentioning: ["not JSON", "after the JSON value"])
        assertFails(try file(header: valid + "}", data: data, name: "extra.st"), mentioning: ["not JSON"])
        assertFails(try file(header: "[1,2]", data: [], name: "array.st"), mentioning: ["[1, 2]", "not a JSON object"])
        assertFails(try file(header: #"{"t":5}"#, data: [], name: "number.st"), mentioning: ["'t'", "not an object"])
        assertFails(try file(header: oneTensor(dtype: #""F128""#, shape: "[1]", offsets: "[0,4]"), data: data, name: "dtype.st"),
                    mentioning: ["'t'", #"dtype "F128""#, "does not define", "BOOL"])
        assertFails(try file(header: oneTensor(dtype: "32", shape: "[1]", offsets: "[0,4]"), data: data, name: "dtypenumber.st"),
                    mentioning: ["'t'", "dtype 32", "must be a string"])
        assertFails(try file(header: #"{"t":{"dtype":"F32","shape":[1]}}"#, data: [], name: "nooffsets.st"), mentioning: ["'t'", #"lacks "data_offsets""#])
        var latin1 = [UInt8](#"{"t\#u{0}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        latin1[3] = 0xE9
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(latin1.count).littleEndian) { bytes += $0 }
        let notUTF8 = "\(dir!)/latin1.st"
        try Data(bytes + latin1 + data).write(to: URL(fileURLWithPath: notUTF8))
        assertFails(notUTF8, mentioning: ["not valid UTF-8"])
        assertFails(try file(header: #"{"\ud800":{}}"#, data: [], name: "high.st"), mentioning: ["high surrogate", "without its low half"])
        assertFails(try file(header: #"{"\udc00":{}}"#, data: [], name: "low.st"), mentioning: ["lone low surrogate"])
        assertFails(try file(header: #"{"a\u0001b":"#, data: [], name: "cut.st"), mentioning: ["not JSON", "expected a value"])
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        assertFails(try file(header: #"{"t":\#(deep)}"#, data: [], name: "deep.st"), mentioning: ["nested too deeply (limit 64)"])
        // Escaped names decode as JSON says.
        let escaped = try file(header: #"{"caf\u00e9 \ud83d\ude00 \"q\"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: data, name: "esc.st")
        XCTAssertEqual(try SafeTensors.read(path: escaped).names, ["café 😀 \"q\""])
        // A length above the format's 100 MB limit, in a sparse file that is large enough to hold it.
        let huge = "\(dir!)/huge.st"
        var prefix = [UInt8]()
        withUnsafeBytes(of: UInt64(150_000_000).littleEndian) { prefix += $0 }
        try Data(prefix).write(to: URL(fileURLWithPath: huge))
        XCTAssertEqual(truncate(huge, 200_000_000), 0)
        assertThrows(try SafeTensors.readHeader(path: huge), mentioning: [huge, "header length 150000000 exceeds the 100000000-byte limit"])
    }

    func testMessagesStayShortForForgedLongNamesAndValues() throws {
        let name = String(repeating: "n", count: 100_000)
        let shape = "[" + Array(repeating: "-1", count: 20_000).joined(separator: ",") + "]"
        let path = try file(header: #"{"\#(name)":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,0]}}"#, data: [], name: "long.st")
        XCTAssertThrowsError(try SafeTensors.read(path: path)) { error in
            let message = "\(error)"
            XCTAssertLessThan(message.count, path.count + 600, message)
            XCTAssertTrue(message.contains("'" + String(repeating: "n", count: 200) + "…'"), message)
            XCTAssertTrue(message.contains("has shape [-1, -1, "), message)
        }
    }

    func testMetadataMustMapStringsToStrings() throws {
        let tensor = #""t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        let data: [UInt8] = [0, 0, 0x80, 0x3F]
        let number = try file(header: #"{"__metadata__":{"epoch":3},\#(tensor)}"#, data: data, name: "metanumber.st")
        assertFails(number, mentioning: ["__metadata__ 'epoch' is 3", "must be strings"])
        assertThrows(try SafeTensors.readMetadata(path: number), mentioning: [number, "'epoch'"])
        assertFails(try file(header: #"{"__metadata__":["a"],\#(tensor)}"#, data: data, name: "metaarray.st"), mentioning: ["not an object of strings"])
        XCTAssertEqual(try SafeTensors.readMetadata(path: file(header: #"{"__metadata__":null,\#(tensor)}"#, data: data, name: "metanull.st")), [:])
        XCTAssertEqual(try SafeTensors.readMetadata(path: file(header: #"{"__metadata__":{"k":"v\n"},\#(tensor)}"#, data: data, name: "meta.st")),
                       ["k": "v\n"])
    }

    func testOnlyRegularFilesAreRead() throws {
        assertFails(dir, mentioning: ["not a regular file"])
        let fifo = "\(dir!)/fifo.safetensors"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // Opening a FIFO for reading would wait for a writer forever; it must be refused at once.
        assertFails(fifo, mentioning: ["not a regular file"])
    }

    func testParseOfBytesFollowsTheSameRules() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors"))))
        let fromBytes = try SafeTensors.parse(bytes, path: "memory")
        let fromFile = try SafeTensors.read(path: Fixtures.path("vae-tiny-g8/weights.ldm.safetensors"))
        XCTAssertEqual(fromBytes.names, fromFile.names)
        for name in fromFile.names { XCTAssertEqual(fromBytes[name]?.values, fromFile[name]?.values, name) }
        assertThrows(try SafeTensors.parse(bytes + [0], path: "memory"), mentioning: ["memory", "1 trailing bytes"])
        assertThrows(try SafeTensors.parse(Array(bytes.prefix(5)), path: "memory"), mentioning: ["shorter than"])
    }

    func testFileWrittenByTheReferenceLibraryWithEveryDType() throws {
        let path = Fixtures.path("safetensors-dtypes/all-dtypes.safetensors")
        let expected = try XCTUnwrap(Fixtures.json("safetensors-dtypes/expected.json")["float_tensors"] as? [String: [String: Any]])
        let read = try SafeTensors.read(path: path)
        XCTAssertEqual(read.names, expected.keys.sorted())
        for (name, entry) in expected {
            XCTAssertEqual(read[name]?.shape, entry["shape"] as? [Int], name)
            XCTAssertEqual(read[name]?.values, (entry["values"] as? [Double])?.map { Float($0) }, name)
        }
        XCTAssertEqual(read.metadata, ["format": "pt"])
        let header = try SafeTensors.readHeader(path: path)
        XCTAssertEqual(header.tensors.count, 18)
        XCTAssertEqual(header.tensors.first { $0.name == "cond_stage_model.transformer.text_model.embeddings.position_ids" }?.dtype, .i64)
        XCTAssertEqual(header.tensors.first { $0.name == "f8_e4m3" }?.shape, [2, 3])
        XCTAssertEqual(try SafeTensors.read(path: path, keep: { $0.hasPrefix("f") && !$0.hasPrefix("f8") }).names, ["f16", "f32", "f64"])
        assertThrows(try SafeTensors.read(path: path, keep: { $0 == "f8_e4m3" }), mentioning: ["'f8_e4m3'", "dtype F8_E4M3"])
    }
}
