import Foundation
import GantryTestSupport
import Testing

/// `gantry apply` shows a training's output as it is written, through a
/// pipe (as in CI), not all at once at the end.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LiveOutputTests {
    @Test func applyStreamsEachLineOfATrainingWhileItRuns() async throws {
        let project = try await ProjectRepository("gantry-live")
        let go = makeTemporaryDirectory("gantry-live-go") + "/go"
        // The step prints a line and then waits for the test to have read it
        // from apply's pipe: if apply held its output back until the step
        // ended, the step would never go on.
        project.write(
            "src/train.py",
            """
            import json, os, sys, time
            print("epoch 1: waiting for my first line to be read")
            deadline = time.time() + 60
            while not os.path.exists(os.environ["GO"]):
                if time.time() > deadline:
                    sys.exit("nobody read epoch 1 while the step ran")
                time.sleep(0.05)
            print("epoch 2: read, going on")
            json.dump({"quality": 1}, open(os.path.join(sys.argv[1], "model.json"), "w"))
            json.dump({"accuracy": 1}, open(os.path.join(sys.argv[1], "metrics.json"), "w"))
            """)
        project.write(
            "gantry.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Pipeline
            metadata: { name: live }
            spec:
              codePath: src
              steps:
                - name: train
                  command: [python3, train.py, "${outputs}"]
                  env: { GO: "\(go)" }
              artifact: { step: train, path: model.json }
              metrics: { step: train, path: metrics.json }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Model
            metadata: { name: live }
            spec: { pipeline: live, target: local }
            """)
        try await project.commit("A training that talks")
        let state = makeTemporaryDirectory("gantry-live-state")

        let apply = try PipedGantry(["apply", "--repo", project.directory, "--state-dir", state])
        try await eventually("epoch 1 comes through the pipe while the step runs", timeout: .seconds(60)) {
            apply.output.contains("live train | epoch 1: waiting for my first line to be read")
        }
        // `gantry logs -f` follows the same run from another terminal.
        let follower = try PipedGantry(["logs", "live", "-f", "--state-dir", state])
        try await eventually("logs -f shows what was written so far", timeout: .seconds(60)) {
            follower.output.contains("epoch 1: waiting")
        }
        FileManager.default.createFile(atPath: go, contents: Data())
        try await eventually("apply ends", timeout: .seconds(60)) { !apply.isRunning }
        try await eventually("logs -f ends with the run", timeout: .seconds(30)) { !follower.isRunning }
        let tail = try follower.finished()
        #expect(follower.exitCode == 0, "\(tail)")
        #expect(tail.contains("==> train (\(state)/runs/live-") && tail.contains("epoch 2: read, going on"), "\(tail)")
        let output = try apply.finished()
        #expect(apply.exitCode == 0, "\(output)")
        #expect(output.contains("live train: log \(state)/runs/live-"), "the log's path is said: \(output)")
        #expect(output.contains("live train | epoch 2: read, going on"), "\(output)")
        let order = ["train Model/live", "live train: log", "live train | epoch 1", "live train | epoch 2", "Applied 1 of 1 actions."].map {
            output.range(of: $0)?.lowerBound
        }
        #expect(order.allSatisfy { $0 != nil } && zip(order, order.dropFirst()).allSatisfy { $0! < $1! }, "in order: \(output)")

        // Afterwards, by version and step; a version that does not exist is an error.
        let one = try await gantry(["logs", "live@1", "--step", "train", "--state-dir", state])
        #expect(one.code == 0 && one.output == "epoch 1: waiting for my first line to be read\nepoch 2: read, going on\n", "\(one.output)")
        let none = try await gantry(["logs", "live@7", "--state-dir", state])
        #expect(none.code != 0 && none.output.contains("no version 7 of live"), "\(none.output)")
        let noStep = try await gantry(["logs", "live", "--step", "evaluate", "--state-dir", state])
        #expect(noStep.code == 1 && noStep.output.contains("no log of step evaluate"), "\(noStep.output)")
    }
}
