/// An integer option's value: `defaultValue` when absent, else the text as an integer within
/// `range`, or the usage error `fail` reports (it exits).
func integerOption<Value: FixedWidthInteger>(
    _ text: String?, _ option: String, in range: ClosedRange<Value>, default defaultValue: Value, fail: (String) -> Never
) -> Value {
    guard let text else { return defaultValue }
    guard let value = Value(text), range.contains(value) else {
        fail("\(option): expected an integer in \(range.lowerBound)...\(range.upperBound) (got '\(text)')")
    }
    return value
}
