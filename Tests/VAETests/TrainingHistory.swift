import Foundation
import VAETraining

/// training_history.json as the trainer wrote it (only the tests read it back).
extension TrainingReport {
    static func readHistory(path: String) throws -> [EpochRecord] {
        struct File: Decodable { let epochs: [EpochRecord] }
        return try JSONDecoder().decode(File.self, from: try Data(contentsOf: URL(fileURLWithPath: path))).epochs
    }
}
