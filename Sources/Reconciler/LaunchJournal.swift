import Foundation
import State
import Targets

/// The one owner of the launch lifecycle: a launch is recorded before a
/// driver starts it, the driver's handle (run, process, job) is added when
/// it has one, and the launch is closed when the reconciler has recorded
/// its result. A controller killed in between finds it open: the next plan
/// adopts it, or `Reconciler.recover` has its driver clean it up.
///
///     let launch = try journal.begin(.train, key: key, object: "Model/churn", target: "local")
///     let outcome = try await driver.train(request, launch: launch)
///     try journal.close(launch.key, .done)
struct LaunchJournal: Sendable {
    let store: StateStore

    /// Records the launch `key` as running and returns its handle. An open
    /// launch an earlier controller left under the same key is kept, and
    /// what its driver recorded comes back as `adopted`.
    func begin(_ kind: LaunchKind, key: String, object: String, target: String) throws -> Launch {
        let now = Date()
        let previous = try store.intent(key).flatMap { $0.status == .running && !$0.detail.isEmpty ? $0 : nil }
        let createdAt = previous?.createdAt ?? now
        try store.save(
            IntentRecord(
                key: key, kind: kind, object: object, detail: previous?.detail ?? "", status: .running,
                target: target, createdAt: createdAt, updatedAt: now))
        let store = self.store
        return Launch(key: key, adopted: previous?.detail) { detail in
            try store.save(
                IntentRecord(
                    key: key, kind: kind, object: object, detail: detail, status: .running,
                    target: target, createdAt: createdAt, updatedAt: Date()))
        }
    }

    /// Closes `key` as done or failed; an unknown key is left alone.
    func close(_ key: String, _ status: LaunchStatus) throws {
        guard var intent = try store.intent(key) else { return }
        intent.status = status
        intent.updatedAt = Date()
        try store.save(intent)
    }

    /// The launches still running, oldest first.
    func open() throws -> [IntentRecord] { try store.openIntents() }
}
