/// The one error a user sees: bad input (a file, a key, a flag's value), a failed read or write, a plot that
/// cannot be drawn, a training run that must stop. The message names what to change.
public struct VAEDistError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}
