import Foundation
import VAETraining

/// training_history.json as the trainer wrote it (only the tests read it back).
extension TrainingReport {
    static func readHistory(path: String) throws -> [EpochRecord] {
        try JSONDecoder().decode([EpochRecord].self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
