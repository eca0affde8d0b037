import Foundation
import VAECore

/// One column of an image grid: an image per row (e.g. an input and its reconstruction) under a caption.
public struct ImageGridColumn: Sendable {
    public var caption: String
    public var images: [RGB8Image]

    public init(caption: String, images: [RGB8Image]) { (self.caption, self.images) = (caption, images) }
}

/// Writes a PNG (and its PDF) of labelled images for papers: a title and a subtitle, each row's label on its
/// left, each column's caption above it, the tiles enlarged by a whole factor (sharp pixels) to at least
/// `minimumTile` pixels (and shown smaller where a side would pass 16384 pixels). More than `columnsPerBlock`
/// columns continue in further blocks below.
public func writeImageGrid(path: String, title: String, subtitle: String? = nil, rowLabels: [String],
                           columns: [ImageGridColumn], minimumTile: Int = 128, columnsPerBlock: Int = 8) throws {
    guard let first = columns.first?.images.first else { throw VAEDistError("image grid \(path): no images") }
    for column in columns {
        guard column.images.count == rowLabels.count else {
            throw VAEDistError("image grid \(path): column '\(column.caption)' has \(column.images.count) images for \(rowLabels.count) rows")
        }
        if let other = column.images.first(where: { $0.width != first.width || $0.height != first.height }) {
            throw VAEDistError("image grid \(path): a \(other.width)×\(other.height) image among \(first.width)×\(first.height) ones")
        }
    }
    let layout = try ImageGridLayout(title: title, subtitle: subtitle, rowLabels: rowLabels, columns: columns.count,
                                     imageWidth: first.width, imageHeight: first.height, minimumTile: minimumTile,
                                     columnsPerBlock: columnsPerBlock)
    try writeFigure(path: path, width: layout.width, height: layout.height) { canvas in
        let center = Double(layout.width) / 2
        canvas.text(canvas.fitted(title, size: 16, maxWidth: Double(layout.width) - 16, bold: true), x: center,
                    y: ImageGridLayout.margin + 10, size: 16, align: .center, vertical: .middle, bold: true)
        if let subtitle {
            canvas.text(canvas.fitted(subtitle, size: 12, maxWidth: Double(layout.width) - 16), x: center,
                        y: ImageGridLayout.margin + 32, size: 12, align: .center, vertical: .middle)
        }
        for (index, column) in columns.enumerated() {
            let top = layout.tileOrigin(column: index, row: 0)
            canvas.text(canvas.fitted(column.caption, size: ImageGridLayout.captionSize, maxWidth: layout.tileWidth),
                        x: top.x + layout.tileWidth / 2, y: top.y - ImageGridLayout.captionHeight / 2,
                        size: ImageGridLayout.captionSize, align: .center, vertical: .middle)
            for (row, image) in column.images.enumerated() {
                let origin = layout.tileOrigin(column: index, row: row)
                canvas.drawRGB(image.pixels, width: image.width, height: image.height, x: origin.x, y: origin.y,
                               scale: layout.scale)
            }
        }
        for block in 0..<layout.blocks {
            for (row, label) in rowLabels.enumerated() {
                let origin = layout.tileOrigin(column: block * layout.columnsPerBlock, row: row)
                canvas.text(label, x: origin.x - ImageGridLayout.gap - 4, y: origin.y + layout.tileHeight / 2,
                            size: ImageGridLayout.labelSize, align: .right, vertical: .middle, bold: true)
            }
        }
    }
}

/// Where an image grid puts its tiles (device pixels), shared by the writer and its tests.
struct ImageGridLayout {
    static let margin = 12.0, gap = 6.0, captionHeight = 18.0, blockGap = 14.0
    static let labelSize = 13.0, captionSize = 11.0
    /// Large images are shown smaller beyond this many pixels a side (Cairo's limit is 32767).
    static let maxSide = 16384.0

    /// Pixels per image pixel: a whole enlargement, or below 1 where the grid would pass `maxSide`.
    let scale: Double
    let tileWidth: Double, tileHeight: Double
    let rows: Int, columnsPerBlock: Int, blocks: Int
    let left: Double, top: Double, blockHeight: Double
    let width: Int, height: Int

    /// `textWidth`: the title's (or subtitle's) width; a grid narrower than it is widened, its tiles centred.
    init(imageWidth: Int, imageHeight: Int, rows: Int, columns: Int, minimumTile: Int, columnsPerBlock: Int,
         labelWidth: Double, subtitle: Bool, textWidth: Double = 0) {
        let longest = max(1, imageWidth, imageHeight)
        let enlarged = Double(max(1, (minimumTile + longest - 1) / longest))
        self.rows = rows
        self.columnsPerBlock = max(1, min(columnsPerBlock, columns))
        blocks = (columns + self.columnsPerBlock - 1) / self.columnsPerBlock
        // The largest scale whose tiles, with the gaps, captions and labels beside them, stay within maxSide.
        let across = ((Self.maxSide - 400) / Double(self.columnsPerBlock) - Self.gap) / Double(max(1, imageWidth))
        let down = ((Self.maxSide - 100) / Double(blocks) - Self.captionHeight - Self.blockGap) / Double(max(1, rows))
            - Self.gap
        scale = min(enlarged, across, down / Double(max(1, imageHeight)))
        tileWidth = (Double(imageWidth) * scale).rounded(.down)
        tileHeight = (Double(imageHeight) * scale).rounded(.down)
        let labels = Self.margin + labelWidth.rounded(.up) + 2 * Self.gap + 4
        let tiles = Double(self.columnsPerBlock) * (tileWidth + Self.gap) - Self.gap
        let needed = (textWidth + 2 * Self.margin).rounded(.up)
        // Centred under a wider title, the row labels kept clear of the tiles.
        left = max(labels, (needed - tiles) / 2).rounded()
        top = Self.margin + (subtitle ? 48 : 28)
        width = Int(max(needed, left + tiles + Self.margin))
        blockHeight = Self.captionHeight + Double(rows) * (tileHeight + Self.gap) - Self.gap + Self.blockGap
        height = Int(top + Double(blocks) * blockHeight - Self.blockGap + Self.margin)
    }

    /// The layout of a grid with these texts, measured in the figures' font.
    init(title: String, subtitle: String?, rowLabels: [String], columns: Int, imageWidth: Int, imageHeight: Int,
         minimumTile: Int, columnsPerBlock: Int) throws {
        let measure = try CairoCanvas(width: 1, height: 1)
        let labelWidth = rowLabels.map { measure.textWidth($0, size: Self.labelSize, bold: true) }.max() ?? 0
        let textWidth = max(measure.textWidth(title, size: 16, bold: true), subtitle.map { measure.textWidth($0, size: 12) } ?? 0)
        self.init(imageWidth: imageWidth, imageHeight: imageHeight, rows: rowLabels.count, columns: columns,
                  minimumTile: minimumTile, columnsPerBlock: columnsPerBlock, labelWidth: labelWidth,
                  subtitle: subtitle != nil, textWidth: textWidth)
    }

    func tileOrigin(column: Int, row: Int) -> (x: Double, y: Double) {
        let block = column / columnsPerBlock, within = column % columnsPerBlock
        return (left + Double(within) * (tileWidth + Self.gap),
                top + Double(block) * blockHeight + Self.captionHeight + Double(row) * (tileHeight + Self.gap))
    }
}
