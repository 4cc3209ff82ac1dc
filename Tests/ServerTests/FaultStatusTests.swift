import Controller
import Foundation
import GantryTestSupport
import HTTP
import Testing

/// Status tells the truth during a fault, and recovers by itself.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct FaultStatusTests {
    @Test func withGitGoneTheControllerSaysDegradedKeepsServingAndRecovers() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        #expect(try await controller.get("/readyz").status == 200)

        // The followed repository disappears (a Git server that is down).
        let hidden = project.bare + ".away"
        try FileManager.default.moveItem(atPath: project.bare, toPath: hidden)
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the controller says it is degraded") { controller.loop.status.snapshot.health == "degraded" }
        let ready = try await controller.get("/readyz")
        #expect(ready.status == 503)
        #expect(ready.text.contains("degraded since "), "\(ready.text)")
        let status = try await controller.json("/api/v1/status") as! [String: Any]
        #expect(status["health"] as? String == "degraded")
        #expect(status["lastResult"] as? String == "error")
        #expect((status["lastError"] as? String)?.isEmpty == false)
        #expect(status["degradedSince"] is String)
        #expect(try await controller.get("/metrics").text.contains("gantry_controller_degraded 1"))
        let served = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(project.port)/"))
        #expect(served.status == 200, "what serves keeps serving")

        // Back: the next loop clears it all.
        try FileManager.default.moveItem(atPath: hidden, toPath: project.bare)
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the controller recovered") { controller.loop.status.snapshot.health == "ok" }
        #expect(try await controller.get("/readyz").status == 200)
        #expect(try await controller.get("/metrics").text.contains("gantry_controller_degraded 0"))
        #expect(controller.loop.status.snapshot.lastResult != "error", "the failure's result is cleared too")
        await controller.stop()
    }

    @Test func aForcePushIsFollowedAndACorruptRepositoryDegradesUntilItIsRepaired() async throws {
        let project = try await ServerProject()
        let controller = try await LiveController(project)
        defer { Task { await controller.stop() } }
        try await controller.waitForFirstReconcile()
        let first = try await git(["rev-parse", "HEAD"], in: project.directory).trimmingCharacters(in: .whitespacesAndNewlines)

        // A commit, seen; then history rewritten back past it: Git is the
        // truth, so the controller follows the rewritten branch.
        project.write("manifests/note.yaml", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: note }\nspec:\n  source: { path: src }\n")
        try await project.push("A dataset")
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the new commit is planned") { controller.loop.status.snapshot.plan?.revision.commit.hasPrefix(String(first.prefix(12))) == false }
        try await git(["push", "-q", "--force", "origin", "\(first):main"], in: project.directory)
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("the force-pushed tip is followed") { controller.loop.status.snapshot.plan?.revision.commit == first }
        #expect(controller.loop.status.snapshot.health == "ok")

        // A commit whose objects are corrupt on the server.
        try await git(["reset", "-q", "--hard", first], in: project.directory)
        project.write("manifests/other.yaml", "apiVersion: gantry.dev/v1alpha1\nkind: Dataset\nmetadata: { name: other }\nspec:\n  source: { path: src }\n")
        try await project.commit("Another dataset")
        try await git(["push", "-q", "--force", "origin", "HEAD:main"], in: project.directory)
        let backup = project.bare + ".backup"
        try FileManager.default.copyItem(atPath: project.bare, toPath: backup)
        let objects = project.bare + "/objects"
        for directory in try FileManager.default.contentsOfDirectory(atPath: objects) where directory.count == 2 {
            for file in try FileManager.default.contentsOfDirectory(atPath: objects + "/" + directory) {
                try? FileManager.default.removeItem(atPath: objects + "/" + directory + "/" + file)
                try Data("not a git object".utf8).write(to: URL(fileURLWithPath: objects + "/" + directory + "/" + file))
            }
        }
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("a corrupt repository degrades the controller") { controller.loop.status.snapshot.health == "degraded" }
        #expect(try await controller.get("/readyz").status == 503)
        try FileManager.default.removeItem(atPath: project.bare)
        try FileManager.default.moveItem(atPath: backup, toPath: project.bare)
        #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
        try await eventually("repaired, the new commit is followed") {
            controller.loop.status.snapshot.health == "ok" && controller.loop.status.snapshot.plan?.revision.commit != first
        }
        await controller.stop()
    }

    /// Runs `mount` (as root), failing the test with its output.
    func mount(_ arguments: [String]) async throws {
        try await runCommand(["mount"] + arguments, in: NSTemporaryDirectory(), timeout: .seconds(60)).checked()
    }

    @Test func aStateDirectoryThatFillsUpDegradesAndNothingIsLost() async throws {
        // The state directory on a small file system of its own, which the
        // test can fill.
        let state = makeTemporaryDirectory("gantry-tmpfs-state")
        try await mount(["-t", "tmpfs", "-o", "size=64m", "tmpfs", state])
        defer { _ = try? FileManager.default.removeItem(atPath: state + "/filler") }
        let project = try await ServerProject()
        let controller = try await LiveController(project, stateDirectory: state)
        do {
            try await controller.waitForFirstReconcile()
            var quality = 0.8
            func change(_ why: String, expecting status: Int) async throws -> HTTP.HTTPResponse {
                let next = quality + 0.05
                project.write(
                    "manifests/model.yaml",
                    try String(contentsOfFile: project.directory + "/manifests/model.yaml", encoding: .utf8)
                        .replacingOccurrences(of: "quality: \(quality)", with: "quality: \(next)"))
                quality = next
                try await project.push(why)
                let answer = try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator)
                #expect(answer.status == status, "\(answer.text)")
                return answer
            }
            // Filled to ENOSPC while a change waits to be trained. (Made
            // read-only it cannot be: Linux refuses to remount a file system
            // read-only while SQLite holds files open on it for writing.)
            let filler =
                FileManager.default.createFile(atPath: state + "/filler", contents: nil)
                ? FileHandle(forWritingAtPath: state + "/filler") : nil
            let chunk = Data(repeating: 0, count: 1 << 20)
            while (try? filler?.write(contentsOf: chunk)) != nil {}
            try? filler?.close()
            // The refresh wakes the loop, but its audit entry cannot be written.
            let refused = try await change("A change while the state directory is full", expecting: 503)
            #expect(refused.text.contains("the audit log cannot be written"), "\(refused.text)")
            try await eventually("degraded by a full state directory") { controller.loop.status.snapshot.health == "degraded" }
            #expect(try await controller.get("/readyz").status == 503)
            let served = try await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(project.port)/"))
            #expect(served.status == 200, "what serves keeps serving while the state directory is full")

            try FileManager.default.removeItem(atPath: state + "/filler")
            #expect(try await controller.send("POST", "/api/v1/refresh", token: Tokens.operator).status == 202)
            try await eventually("recovered once there is room again") {
                controller.loop.status.snapshot.health == "ok" && controller.loop.status.snapshot.plan?.hasChanges == false
            }
            // Nothing lost: the change trained once there was room, once.
            let versions = try controller.store.versions(of: "demo")
            #expect(versions.map(\.number) == [1, 2], "\(versions.map(\.number))")
            #expect(try controller.store.reconciles(limit: 100).allSatisfy { $0.result != "running" })
        } catch {
            await controller.stop()
            _ = try? await runCommand(["umount", "-l", state], in: NSTemporaryDirectory(), timeout: .seconds(60))
            throw error
        }
        await controller.stop()
        _ = try? await runCommand(["umount", "-l", state], in: NSTemporaryDirectory(), timeout: .seconds(60))
    }
}
