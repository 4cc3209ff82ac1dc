/// The dependency graph of a pipeline's steps.
public struct StepGraph: Sendable {
    let dependencies: [String: [String]]
    let order: [String]

    public init(_ steps: [Step]) {
        var deps: [String: [String]] = [:]
        for s in steps where deps[s.name] == nil { deps[s.name] = s.dependsOn ?? [] }
        dependencies = deps
        order = steps.map(\.name)
    }

    /// A cycle as a list of step names that starts and ends with the same
    /// step, or nil when the graph is acyclic.
    public func cycle() -> [String]? {
        enum Colour { case grey, black }
        var colour: [String: Colour] = [:]
        var stack: [String] = []
        func visit(_ n: String) -> [String]? {
            colour[n] = .grey
            stack.append(n)
            for d in dependencies[n] ?? [] where dependencies[d] != nil {
                if colour[d] == .grey {
                    let start = stack.firstIndex(of: d)!
                    return Array(stack[start...]) + [d]
                }
                if colour[d] == nil, let c = visit(d) { return c }
            }
            stack.removeLast()
            colour[n] = .black
            return nil
        }
        for n in order where colour[n] == nil {
            if let c = visit(n) { return c }
        }
        return nil
    }

    /// Every step `name` depends on, directly or not.
    public func ancestors(of name: String) -> Set<String> {
        var seen = Set<String>()
        var queue = dependencies[name] ?? []
        while let n = queue.popLast() {
            if seen.insert(n).inserted { queue += dependencies[n] ?? [] }
        }
        return seen
    }

    /// Steps in an order where each comes after its dependencies; nil for a cycle.
    public func topologicalOrder() -> [String]? {
        guard cycle() == nil else { return nil }
        var done = Set<String>()
        var out: [String] = []
        func visit(_ n: String) {
            guard !done.contains(n) else { return }
            done.insert(n)
            for d in dependencies[n] ?? [] where dependencies[d] != nil { visit(d) }
            out.append(n)
        }
        order.forEach(visit)
        return out
    }
}
