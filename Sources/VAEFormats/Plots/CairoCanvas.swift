import CCairo
import Foundation
import VAECore

/// A white RGB image, or a PDF page of as many points, drawn with Cairo. Text uses Cairo's toy API with the
/// fontconfig "sans-serif" family (DejaVu Sans from fonts-dejavu-core on Debian); a PDF embeds it.
final class CairoCanvas {
    enum HorizontalAlignment { case left, center, right }
    enum VerticalAlignment { case top, middle, baseline }

    let width: Int
    let height: Int
    let surface: OpaquePointer
    let context: OpaquePointer
    /// The PDF's bytes as Cairo writes them; nil for an image.
    private let pdf: ByteSink?

    convenience init(width: Int, height: Int) throws { try self.init(width: width, height: height, pdf: false) }

    init(width: Int, height: Int, pdf: Bool) throws {
        // Cairo's limit for image surfaces, kept for PDF pages too so that both files of a figure exist.
        guard (1...32767).contains(width), (1...32767).contains(height) else {
            throw VAEDistError("a \(width)×\(height) image is outside Cairo's 1...32767 pixel range")
        }
        self.width = width
        self.height = height
        self.pdf = pdf ? ByteSink() : nil
        if let sink = self.pdf {
            surface = cairo_pdf_surface_create_for_stream(appendToSink, Unmanaged.passUnretained(sink).toOpaque(),
                                                          Double(width), Double(height))
        } else {
            surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height))
        }
        context = cairo_create(surface)
        guard cairo_status(context) == CAIRO_STATUS_SUCCESS else {
            let message = String(cString: cairo_status_to_string(cairo_status(context)))
            cairo_destroy(context)
            cairo_surface_destroy(surface)
            throw VAEDistError("cannot create a \(width)×\(height) image: \(message)")
        }
        cairo_select_font_face(context, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        setColor(PlotStyle.background)
        cairo_paint(context)
    }

    deinit {
        cairo_destroy(context)
        cairo_surface_destroy(surface)
    }

    func setColor(_ color: PlotColor, alpha: Double = 1) {
        cairo_set_source_rgba(context, Double(color.r) / 255, Double(color.g) / 255, Double(color.b) / 255, alpha)
    }

    func fillRectangle(x: Double, y: Double, width: Double, height: Double, color: PlotColor, alpha: Double = 1) {
        setColor(color, alpha: alpha)
        cairo_rectangle(context, x, y, width, height)
        cairo_fill(context)
    }

    /// A 1-pixel frame on pixel centres, so it is one sharp pixel wide rather than two grey ones.
    func strokeRectangle(x: Double, y: Double, width: Double, height: Double, color: PlotColor) {
        setColor(color)
        cairo_set_line_width(context, 1)
        cairo_rectangle(context, crisp(x), crisp(y), (x + width).rounded() - x.rounded(), (y + height).rounded() - y.rounded())
        cairo_stroke(context)
    }

    /// Horizontal and vertical lines of odd width are moved onto pixel centres to stay sharp.
    func line(from start: (Double, Double), to end: (Double, Double), color: PlotColor, width lineWidth: Double = 1) {
        var start = start, end = end
        if lineWidth == 1, start.0 == end.0 { start.0 = crisp(start.0); end.0 = start.0 }
        if lineWidth == 1, start.1 == end.1 { start.1 = crisp(start.1); end.1 = start.1 }
        setColor(color)
        cairo_set_line_width(context, lineWidth)
        cairo_move_to(context, start.0, start.1)
        cairo_line_to(context, end.0, end.1)
        cairo_stroke(context)
    }

    private func crisp(_ coordinate: Double) -> Double { coordinate.rounded(.down) + 0.5 }

    func polyline(_ points: [(Double, Double)], color: PlotColor, width lineWidth: Double) {
        guard let first = points.first else { return }
        setColor(color)
        cairo_set_line_width(context, lineWidth)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        cairo_move_to(context, first.0, first.1)
        for point in points.dropFirst() { cairo_line_to(context, point.0, point.1) }
        cairo_stroke(context)
    }

    func fillCircle(center: (Double, Double), radius: Double, color: PlotColor) {
        setColor(color)
        cairo_arc(context, center.0, center.1, radius, 0, 2 * Double.pi)
        cairo_fill(context)
    }

    func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
        setFont(size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(context, text, &extents)
        return extents.x_advance
    }

    /// Draws `text` anchored at (x, y); `rotation` in radians turns it about the anchor.
    func text(_ text: String, x: Double, y: Double, size: Double, color: PlotColor = PlotStyle.ink,
              align: HorizontalAlignment = .left, vertical: VerticalAlignment = .baseline,
              bold: Bool = false, rotation: Double = 0) {
        let width = textWidth(text, size: size, bold: bold)
        var font = cairo_font_extents_t()
        cairo_font_extents(context, &font)
        let dx: Double = switch align { case .left: 0; case .center: -width / 2; case .right: -width }
        let dy: Double = switch vertical {
        case .top: font.ascent
        case .middle: (font.ascent - font.descent) / 2
        case .baseline: 0
        }
        cairo_save(context)
        cairo_translate(context, x, y)
        cairo_rotate(context, rotation)
        setColor(color)
        cairo_move_to(context, dx, dy)
        cairo_show_text(context, text)
        cairo_restore(context)
    }

    /// Shortens `text` in the middle with "…" until it fits `maxWidth`.
    func fitted(_ text: String, size: Double, maxWidth: Double, bold: Bool = false) -> String {
        guard textWidth(text, size: size, bold: bold) > maxWidth else { return text }
        var characters = Array(text)
        while characters.count > 1 {
            characters.remove(at: characters.count / 2)
            let candidate = String(characters[..<(characters.count / 2)]) + "…" + String(characters[(characters.count / 2)...])
            if textWidth(candidate, size: size, bold: bold) <= maxWidth { return candidate }
        }
        return "…"
    }

    /// Paints an RGB image (3 bytes per pixel, rows top to bottom) scaled into the given rectangle.
    func drawRGB(_ rgb: [UInt8], width imageWidth: Int, height imageHeight: Int,
                 x: Double, y: Double, scale: Double) {
        let image = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(imageWidth), Int32(imageHeight))
        defer { cairo_surface_destroy(image) }
        cairo_surface_flush(image)
        let stride = Int(cairo_image_surface_get_stride(image))
        let data = cairo_image_surface_get_data(image)!
        for row in 0..<imageHeight {
            let line = UnsafeMutableRawPointer(data + row * stride).assumingMemoryBound(to: UInt32.self)
            for column in 0..<imageWidth {
                let i = (row * imageWidth + column) * 3
                line[column] = UInt32(rgb[i]) << 16 | UInt32(rgb[i + 1]) << 8 | UInt32(rgb[i + 2])
            }
        }
        cairo_surface_mark_dirty(image)
        cairo_save(context)
        cairo_translate(context, x, y)
        cairo_scale(context, scale, scale)
        cairo_set_source_surface(context, image, 0, 0)
        // Whole-number enlargements keep pixels sharp; anything else is smoothed.
        let filter = scale >= 1 && scale == scale.rounded() ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD
        cairo_pattern_set_filter(cairo_get_source(context), filter)
        cairo_rectangle(context, 0, 0, Double(imageWidth), Double(imageHeight))
        cairo_fill(context)
        cairo_restore(context)
    }

    /// Encodes the image as PNG (or ends the PDF page) in memory and writes it with `writeFileAtomically`.
    func write(to path: String) throws {
        let bytes: [UInt8]
        if let pdf {
            cairo_surface_finish(surface)
            let status = cairo_surface_status(surface)
            guard status == CAIRO_STATUS_SUCCESS else {
                throw VAEDistError("cannot encode plot \(path) as PDF: \(String(cString: cairo_status_to_string(status)))")
            }
            bytes = pdf.bytes
        } else {
            let sink = ByteSink()
            cairo_surface_flush(surface)
            let status = cairo_surface_write_to_png_stream(surface, appendToSink, Unmanaged.passUnretained(sink).toOpaque())
            guard status == CAIRO_STATUS_SUCCESS else {
                throw VAEDistError("cannot encode plot \(path) as PNG: \(String(cString: cairo_status_to_string(status)))")
            }
            bytes = sink.bytes
        }
        do {
            try writeFileAtomically(bytes, to: path)
        } catch {
            throw VAEDistError("cannot write plot \(path): \(error)")
        }
    }

    private func setFont(size: Double, bold: Bool) {
        cairo_select_font_face(context, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(context, size)
    }
}

private final class ByteSink { var bytes: [UInt8] = [] }

private let appendToSink: cairo_write_func_t = { closure, data, length in
    let sink = Unmanaged<ByteSink>.fromOpaque(closure!).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
    return CAIRO_STATUS_SUCCESS
}

/// Where the PDF of the figure at `path` goes: the same name with `.pdf` for `.png`.
public func figurePDFPath(_ path: String) -> String {
    (path.lowercased().hasSuffix(".png") ? String(path.dropLast(4)) : path) + ".pdf"
}

/// Draws a figure twice with `draw`, on a width × height pixel image written as PNG to `path` and on a page of
/// as many points written as PDF beside it (`figurePDFPath`), for papers; the PNG is written first.
func writeFigure(path: String, width: Int, height: Int, draw: (CairoCanvas) throws -> Void) throws {
    for pdf in [false, true] {
        let canvas = try CairoCanvas(width: width, height: height, pdf: pdf)
        try draw(canvas)
        try canvas.write(to: pdf ? figurePDFPath(path) : path)
    }
}
