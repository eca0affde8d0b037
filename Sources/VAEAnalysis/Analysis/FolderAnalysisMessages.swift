import VAEJobs

/// What the replicas of a folder analysis send each other: rank 0 the pairs to everyone, every rank its pairs'
/// metrics and report pictures to rank 0.

/// One analysed pair as its rank sends it to rank 0.
struct AnalysedPair: Equatable, ReplicaMessage {
    let layers: [LayerDifference]
    let images: ReportPairImages

    init(layers: [LayerDifference], images: ReportPairImages) { (self.layers, self.images) = (layers, images) }

    func encode(to writer: inout ReplicaMessageWriter) {
        writer.write(layers)
        writer.write(images)
    }

    init(from reader: inout ReplicaMessageReader) throws {
        self.init(layers: try reader.read(), images: try reader.read())
    }
}

extension ImagePair: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) {
        for field in [name, positive, negative] { writer.write(field) }
        writer.write(masks)
    }

    public init(from reader: inout ReplicaMessageReader) throws {
        self.init(name: try reader.read(), positive: try reader.read(), negative: try reader.read(), masks: try reader.read())
    }
}

extension LayerDifference: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) {
        writer.write(layer)
        writer.write(shape)
        writer.write(l2)
        writer.write(cosine)
        writer.write(lesion)
    }

    public init(from reader: inout ReplicaMessageReader) throws {
        self.init(layer: try reader.read(), shape: try reader.read(), l2: try reader.read(), cosine: try reader.read(),
                  lesion: try reader.read())
    }
}

extension LesionEnergy: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) {
        writer.write(inside)
        writer.write(areaFraction)
    }

    public init(from reader: inout ReplicaMessageReader) throws {
        self.init(inside: try reader.read(), areaFraction: try reader.read())
    }
}

extension ReportPairImages: ReplicaMessage {
    public func encode(to writer: inout ReplicaMessageWriter) {
        writer.write(name)
        writer.write(mapLayer)
        for picture in [positive, negative, mask, map] { writer.write(picture) }
    }

    public init(from reader: inout ReplicaMessageReader) throws {
        self.init(name: try reader.read(), mapLayer: try reader.read(), positive: try reader.read(), negative: try reader.read(),
                  mask: try reader.read(), map: try reader.read())
    }
}
