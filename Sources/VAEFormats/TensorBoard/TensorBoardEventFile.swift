import Foundation
import VAECore

/// A TensorBoard event file, written append-only: `events.out.tfevents.SECONDS.HOST.PID` in its folder, opening with
/// the file-version event. Every event is one TFRecord (length as UInt64 LE, its masked CRC32C, the serialized
/// `Event`, the data's masked CRC32C) written by one write(2): a process killed midway leaves whole records, which
/// TensorBoard reads. `flush()` makes the records so far durable.
public final class TensorBoardEventFile {
    public let path: String
    private var descriptor: Int32
    private var entryIsDurable = false

    /// A new file in `directory` (made if missing), named to sort after every event file already there: TensorBoard
    /// reads a folder's files in name order, and a live TensorBoard only moves on to names after the one it reads.
    public init(directory: String, date: Date = Date()) throws {
        try createOutputDirectory(directory)
        let prefix = "events.out.tfevents."
        let taken = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(prefix) }
            .compactMap { Int($0.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }) }
        let seconds = max(Int(date.timeIntervalSince1970), (taken.max() ?? -1) + 1)
        let name = prefix + String(format: "%010d", seconds) + ".\(ProcessInfo.processInfo.hostName).\(getpid())"
        path = (directory as NSString).appendingPathComponent(name)
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw VAEDistError("cannot create the TensorBoard event file \(path): \(errnoReason(errno))") }
        try append(event(date) { $0.string(3, "brain.Event:2") })
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Scalars under their tags (`simple_value`, a float32 as TensorBoard keeps it).
    public func scalars(_ values: [(tag: String, value: Double)], step: Int, date: Date = Date()) throws {
        try append(event(date, step: step) { event in
            var summary = ProtobufWriter()
            for (tag, value) in values {
                var entry = ProtobufWriter()
                entry.string(1, tag)
                entry.float(2, Float(value))
                summary.message(1, entry)
            }
            event.message(5, summary)
        })
    }

    /// A PNG file's bytes as an image summary, with the size and colour space its header gives.
    public func image(tag: String, png: [UInt8], step: Int, date: Date = Date()) throws {
        guard let header = PNGHeader(png) else { throw VAEDistError("\(path): the image for \(tag) is not a PNG file") }
        try append(event(date, step: step) { event in
            var image = ProtobufWriter()
            image.int(1, header.height)
            image.int(2, header.width)
            image.int(3, header.colorspace)
            image.bytes(4, png)
            var entry = ProtobufWriter()
            entry.string(1, tag)
            entry.message(4, image)
            var summary = ProtobufWriter()
            summary.message(1, entry)
            event.message(5, summary)
        })
    }

    /// `SessionLog.START` at the first step a run (or a resumed run) takes: TensorBoard then drops the events an
    /// earlier attempt wrote at this step and after (a run resumed from an older checkpoint repeats those steps).
    public func sessionStart(step: Int, date: Date = Date()) throws {
        try append(event(date, step: step) { event in
            var log = ProtobufWriter()
            log.int(1, 1)
            event.message(7, log)
        })
    }

    /// Makes the events so far durable (with each checkpoint).
    public func flush() throws {
        guard fsync(descriptor) == 0 else { throw VAEDistError("cannot write \(path): \(errnoReason(errno))") }
        if !entryIsDurable {
            syncDirectory(parentFolder(path))
            entryIsDurable = true
        }
    }

    /// One TFRecord.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { length.append(contentsOf: $0) }
        func crc(_ bytes: [UInt8]) -> [UInt8] { withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(bytes)).littleEndian, Array.init) }
        return length + crc(length) + data + crc(data)
    }

    private func event(_ date: Date, step: Int? = nil, _ body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var event = ProtobufWriter()
        event.double(1, date.timeIntervalSince1970)
        if let step { event.int(2, step) }
        body(&event)
        return event.bytes
    }

    private func append(_ event: [UInt8]) throws {
        let record = Self.record(event)
        var written = 0
        while written < record.count {
            let n = record.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, record.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw VAEDistError("cannot write \(path): \(n < 0 ? errnoReason(errno) : "nothing was written")") }
            written += n
        }
    }
}

/// The size and colour type of a PNG file (its IHDR chunk), in TensorBoard's colour-space numbering.
private struct PNGHeader {
    let width: Int, height: Int
    /// 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA.
    let colorspace: Int

    init?(_ png: [UInt8]) {
        guard png.count >= 26, png.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
              png[12..<16].elementsEqual(Array("IHDR".utf8)) else { return nil }
        func bigEndian(_ at: Int) -> Int { png[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        (width, height) = (bigEndian(16), bigEndian(20))
        switch png[25] {
        case 0: colorspace = 1
        case 4: colorspace = 2
        case 2, 3: colorspace = 3  // a palette's colours are RGB
        case 6: colorspace = 4
        default: return nil
        }
    }
}
