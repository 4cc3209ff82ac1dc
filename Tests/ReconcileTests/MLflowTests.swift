import Foundation
import GantryTestSupport
import HTTP
import Manifests
import Testing

@testable import Lineage
@testable import Planner
@testable import Reconciler
@testable import State
@testable import Targets

/// The `mlflow` target against a real MLflow tracking server: Gantry trains
/// on the local target and publishes to the registry, where an alias follows
/// the version Git pins. One server serves the whole suite, so every test
/// uses its own model name.
@Suite(.serialized, .mlflowServer, .timeLimit(.minutes(5)))
struct MLflowTests {
    /// A project whose model `model` trains locally and whose Deployment
    /// `<model>-prod` is published to the Target `registry`.
    static func project(
        _ model: String, server: MLflowServer, version: Int = 1, alias: String? = nil,
        quality: Double = 0.9
    ) async throws -> TestProject {
        try await Self.project(model, endpoint: server.endpoint, version: version, alias: alias, quality: quality)
    }

    static func project(
        _ model: String, endpoint: String, version: Int = 1, alias: String? = nil,
        quality: Double = 0.9
    ) async throws -> TestProject {
        let project = try await TestProject(port: freePort())
        project.write("manifests/model.yaml", Self.modelManifest(model, quality: quality))
        project.write("manifests/deployment.yaml", Self.deploymentManifest(model, version: version, alias: alias))
        project.write(
            "manifests/registry.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: registry }
            spec:
              type: mlflow
              endpoint: \(endpoint)
              capabilities: [serve]
            """)
        try await project.commit("Publish \(model) to MLflow")
        return project
    }

    static func modelManifest(_ model: String, quality: Double) -> String {
        TestProject.model(model, quality: quality)
    }

    static func deploymentManifest(_ model: String, version: Int, alias: String? = nil) -> String {
        """
        apiVersion: gantry.dev/v1alpha1
        kind: Deployment
        metadata: { name: \(model)-prod }
        spec:
          model: \(model)
          version: \(version)
          serve: { \(alias.map { "alias: \($0)" } ?? "") }
          targets: [{ target: registry }]
        """
    }

    /// Trains v1 (published and aliased) and v2 (trained, not pinned yet).
    func twoVersions(_ model: String, server: MLflowServer) async throws -> (TestProject, Harness) {
        let project = try await Self.project(model, server: server)
        let h = try Harness(project)
        #expect(try await h.apply().report.ok)
        project.write("manifests/model.yaml", Self.modelManifest(model, quality: 0.95))
        try await project.commit("Tune \(model)")
        let (plan, report) = try await h.apply()
        #expect(plan.actions.map(\.kind) == [.train], "\(plan.text)")
        #expect(report.ok, "\(report.failed.map(\.error))")
        return (project, h)
    }

    func pin(_ project: TestProject, _ model: String, _ version: Int) async throws {
        project.write("manifests/deployment.yaml", Self.deploymentManifest(model, version: version))
        try await project.commit("Pin \(model)@\(version)")
    }

    func driver(_ h: Harness, endpoint: String, credentials: [String: SecretRef]? = nil) throws -> any TargetDriver {
        var spec = TargetSpec(type: .mlflow, endpoint: endpoint)
        spec.credentials = credentials
        return try Drivers.make(DriverContext(name: "registry", spec: spec, workspace: h.workspace, versions: h.store))
    }

    // MARK: - Publishing and the alias, through the reconciler

    @Test func aPinnedVersionIsPublishedWithItsLineageAndTheAliasPointsAtItThenNothingIsLeftToDo() async throws {
        let server = try MLflowServer.shared
        let project = try await Self.project("churn", server: server)
        let h = try Harness(project)

        let plan = try await h.plan()
        #expect(plan.actions.map(\.kind) == [.train, .deploy], "\(plan.text)")
        #expect(plan.actions.last?.target == "registry")
        let (_, report) = try await h.apply()
        #expect(report.ok, "\(report.failed.map(\.error))")

        let gantry = try #require(try h.store.version("churn", 1))
        let lineage = try #require(Lineage.decode(gantry.lineage))
        let versions = try await server.versions(of: "churn")
        #expect(versions.map(\.version) == ["1"])
        let published = try #require(versions.first)
        #expect(published.tag("gantry.version") == "1")
        #expect(published.tag("gantry.lineage") == gantry.digest)
        #expect(published.tag("gantry.commit") == gantry.commit)
        #expect(published.tag("gantry.code-tree") == lineage.codeTree)
        #expect(published.tag("gantry.datasets") == Digest.canonicalJSON(lineage.datasets))
        #expect(published.tag("gantry.params") == #"{"quality":0.9}"#)
        #expect(published.tag("gantry.artifact-digest") == gantry.artifactDigest)
        let run = try #require(published.runID)
        #expect(published.source == "runs:/\(run)/model")

        // The artifact went through the server's proxy, byte for byte.
        struct RunAnswer: Decodable {
            struct Run: Decodable {
                struct Info: Decodable { var artifact_uri: String }
                struct Data: Decodable {
                    struct Metric: Decodable {
                        var key: String
                        var value: Double
                    }
                    struct Param: Decodable {
                        var key: String
                        var value: String
                    }
                    var metrics: [Metric]?
                    var params: [Param]?
                }
                var info: Info
                var data: Data
            }
            var run: Run
        }
        let answer: RunAnswer = try await server.api.get("/runs/get", query: [("run_id", run)])
        #expect(answer.run.data.metrics?.map { "\($0.key)=\($0.value)" } == ["accuracy=0.9"])
        #expect(answer.run.data.params?.map { "\($0.key)=\($0.value)" } == ["quality=0.9"])
        let root = try #require(MLflowRegistry.proxiedPath(answer.run.info.artifact_uri))
        let uploaded = try await HTTPClient.shared.send(
            HTTPRequest(
                url: server.endpoint + "/api/2.0/mlflow-artifacts/artifacts/\(root)/model/model.json"))
        #expect(uploaded.status == 200)
        #expect(uploaded.body == Array(try #require(FileManager.default.contents(atPath: gantry.artifactPath))))

        #expect(try await server.alias("churn-prod", of: "churn") == "1")
        let record = try #require(try h.store.deployment("churn-prod"))
        #expect(record.target == "registry")
        #expect(record.address == "models:/churn@churn-prod")

        let assessment = try await h.reconciler.assess(try h.source.fetch(), readOnly: true)
        let spec = try #require(assessment.desired.manifests.deployments["churn-prod"]?.spec)
        let drift = Drift.fields(spec: spec, record: record, observed: assessment.observed.observations[Slot("churn-prod", "registry")])
        #expect(drift.filter { !$0.inSync }.map(\.field) == [], "\(drift)")
        #expect(assessment.observed.observations[Slot("churn-prod", "registry")]?.detail == "alias churn-prod points at MLflow version 1 (gantry v1)")

        let again = try await h.plan()
        #expect(again.actions.isEmpty, "\(again.text)")
        #expect(again.inSync.contains { $0.hasPrefix("Deployment/churn-prod") }, "\(again.inSync)")
    }

    @Test func aNewPinPublishesEveryMissingVersionAndPublishingAgainCreatesNothing() async throws {
        let server = try MLflowServer.shared
        let (project, h) = try await twoVersions("fraud", server: server)
        #expect(try await server.versions(of: "fraud").count == 1, "v2 waits for a deploy")

        try await pin(project, "fraud", 2)
        let plan = try await h.plan()
        #expect(plan.actions.map(\.kind) == [.deploy])
        #expect(plan.actions.first?.reason == "pinned 2, serving 1")
        #expect(try await h.apply().report.ok)
        let versions = try await server.versions(of: "fraud")
        #expect(versions.map { $0.tag("gantry.version") } == ["1", "2"])
        #expect(try await server.alias("fraud-prod", of: "fraud") == "2")
        let runs = try await server.runs(of: "fraud")
        #expect(runs.count == 2)

        // A controller that died after publishing but before recording the
        // deployment publishes again: the versions and runs are found by
        // their tags, not made twice.
        try h.store.removeDeployment("fraud-prod")
        let retry = try await h.apply()
        #expect(retry.plan.actions.map(\.kind) == [.deploy])
        #expect(retry.report.ok)
        #expect(try await server.versions(of: "fraud").map(\.version) == ["1", "2"])
        #expect(try await server.runs(of: "fraud").sorted() == runs.sorted())
    }

    @Test func aRunLeftByADeployThatDiedBeforeRegisteringIsReused() async throws {
        let server = try MLflowServer.shared
        let project = try await Self.project("upsell", server: server)
        let h = try Harness(project)
        #expect(try await h.apply().report.ok)
        let first = try #require(try await server.versions(of: "upsell").first)

        // As if the deploy had died after the run and before the version.
        try await server.api.sendJSON("DELETE", "/model-versions/delete", json: ["name": "upsell", "version": first.version])
        try h.store.removeDeployment("upsell-prod")
        #expect(try await h.apply().report.ok)
        let versions = try await server.versions(of: "upsell")
        #expect(versions.count == 1)
        #expect(versions.first?.runID == first.runID, "the run is found again by its model and lineage tags")
        #expect(try await server.runs(of: "upsell") == [try #require(first.runID)])
        #expect(try await server.alias("upsell-prod", of: "upsell") == versions.first?.version)
    }

    @Test func anAliasMovedByHandIsDriftThatApplyMovesBack() async throws {
        let server = try MLflowServer.shared
        let (project, h) = try await twoVersions("churn-drift", server: server)
        try await pin(project, "churn-drift", 2)
        #expect(try await h.apply().report.ok)
        #expect(try await server.alias("churn-drift-prod", of: "churn-drift") == "2")

        try await server.setAlias("churn-drift-prod", of: "churn-drift", to: "1")
        let assessment = try await h.reconciler.assess(try h.source.fetch(), readOnly: true)
        let seen = try #require(assessment.observed.observations[Slot("churn-drift-prod", "registry")])
        #expect(!seen.forwarding)
        #expect(seen.detail == "alias churn-drift-prod points at MLflow version 1 (gantry v1); Git pins v2 (moved outside Gantry)")
        #expect(assessment.plan.actions.map(\.kind) == [.deploy])
        #expect(assessment.plan.actions.first?.reason == seen.detail + " (drift)", "the plan says what moved: \(assessment.plan.text)")

        #expect(try await h.apply().report.ok)
        #expect(try await server.alias("churn-drift-prod", of: "churn-drift") == "2")
        #expect(try await server.versions(of: "churn-drift").count == 2, "moving the alias back publishes nothing new")
        #expect(try await h.plan().actions.isEmpty)
    }

    @Test func removingTheDeploymentFromGitDeletesItsAliasAndKeepsEveryVersion() async throws {
        let server = try MLflowServer.shared
        let project = try await Self.project("retire", server: server, alias: "champion")
        let h = try Harness(project)
        #expect(try await h.apply().report.ok)
        #expect(try await server.alias("champion", of: "retire") == "1")
        let record = try #require(try h.store.deployment("retire-prod"))

        project.remove("manifests/deployment.yaml")
        try await project.commit("Retire the deployment")
        let (plan, report) = try await h.apply()
        #expect(plan.actions.map(\.kind) == [.prune])
        #expect(report.ok, "\(report.failed.map(\.error))")
        #expect(try await server.alias("champion", of: "retire") == nil)
        #expect(try await server.versions(of: "retire").count == 1, "versions are history and stay")

        let seen = await (try driver(h, endpoint: server.endpoint)).observe(record, spec: nil)
        #expect(!seen.serving)
        #expect(seen.detail == "alias champion is not set on registered model retire")
    }

    @Test func aRenamedAliasReplacesTheOldOne() async throws {
        let server = try MLflowServer.shared
        let project = try await Self.project("rename", server: server, alias: "blue")
        let h = try Harness(project)
        #expect(try await h.apply().report.ok)

        project.write("manifests/deployment.yaml", Self.deploymentManifest("rename", version: 1, alias: "green"))
        try await project.commit("Rename the alias")
        let (plan, report) = try await h.apply()
        #expect(plan.actions.first?.reason == "serve spec changed")
        #expect(report.ok)
        #expect(try await server.alias("green", of: "rename") == "1")
        #expect(try await server.alias("blue", of: "rename") == nil)
    }

    // MARK: - Faults

    @Test func aVersionNumberPublishedByAnotherGantryWithOtherLineageIsRefused() async throws {
        let server = try MLflowServer.shared
        let first = try await Self.project("shared", server: server)
        #expect(try await Harness(first).apply().report.ok)

        let other = try await Self.project("shared", server: server, quality: 0.7)
        let (_, report) = try await Harness(other).apply()
        let failure = try #require(report.failed.first?.error)
        #expect(failure.contains("MLflow version 1 of shared"), "\(failure)")
        #expect(failure.contains("another Gantry state directory publishes to the same registered model"), "\(failure)")
        #expect(try await server.versions(of: "shared").count == 1)
    }

    @Test func aVersionWhoseArtifactIsGoneCannotBePublishedAndSaysWhich() async throws {
        let server = try MLflowServer.shared
        let (project, h) = try await twoVersions("lost", server: server)
        let v2 = try #require(try h.store.version("lost", 2))
        try FileManager.default.removeItem(atPath: v2.artifactPath)
        try await pin(project, "lost", 2)
        let (_, report) = try await h.apply()
        let failure = try #require(report.failed.first?.error)
        #expect(failure == "lost@v2's artifact \(v2.artifactPath) is missing")
        #expect(try await server.alias("lost-prod", of: "lost") == "1", "the alias stays where it was")
    }

    @Test func anUnreachableRegistryIsAnObservationNotACrash() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        let endpoint = "http://127.0.0.1:\(freePort())"
        let record = DeploymentRecord(
            name: "churn-prod", model: "churn", version: 1, target: "registry",
            address: "models:/churn@churn-prod", specDigest: "",
            commit: "", updatedAt: Date())
        let seen = await (try driver(h, endpoint: endpoint)).observe(record, spec: nil)
        #expect(!seen.serving && !seen.forwarding)
        #expect(seen.healthy == nil)
        #expect(seen.detail.hasPrefix("MLflow registry at \(endpoint) could not be read:"), "\(seen.detail)")
        await #expect(throws: (any Error).self) { try await (try driver(h, endpoint: endpoint)).stop(record) }
    }

    @Test func theTokenIsSentAsABearerAndMaskedInWhatThePeerSaysBack() async throws {
        let token = "mlflow-secret-token-42"
        let file = makeTemporaryDirectory("mlflow-token") + "/token"
        try token.write(toFile: file, atomically: true, encoding: .utf8)
        let peer = try FaultServer { _ in .json(#"{"error_code": "INTERNAL_ERROR", "message": "token mlflow-secret-token-42 rejected"}"#, status: 500) }
        defer { peer.stop() }
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        let record = DeploymentRecord(
            name: "churn-prod", model: "churn", version: 1, target: "registry",
            address: "models:/churn@churn-prod", specDigest: "",
            commit: "", updatedAt: Date())
        let driver = try driver(h, endpoint: peer.endpoint, credentials: ["token": SecretRef(file: file)])
        let seen = await driver.observe(record, spec: nil)
        #expect(!seen.serving)
        #expect(seen.detail.contains("answered 500"), "\(seen.detail)")
        #expect(!seen.detail.contains(token), "\(seen.detail)")
        let request = try #require(peer.requests.first)
        #expect(request.headers["authorization"] == "Bearer \(token)")
        #expect(request.path == "/api/2.0/mlflow/registered-models/alias?name=churn&alias=churn-prod")
    }

    @Test func aTargetWithoutAnEndpointOrWithAnUnreadableTokenCannotBeBuilt() async throws {
        let project = try await TestProject(port: freePort())
        let h = try Harness(project)
        #expect(throws: DriverError.self) { try driver(h, endpoint: "") }
        do {
            _ = try driver(h, endpoint: "http://127.0.0.1:1", credentials: ["token": SecretRef(env: "GANTRY_TEST_UNSET_MLFLOW_TOKEN")])
            Issue.record("a token that cannot be read must fail")
        } catch {
            #expect(
                "\(error)"
                    == "target registry: credentials.token (env:GANTRY_TEST_UNSET_MLFLOW_TOKEN): environment variable GANTRY_TEST_UNSET_MLFLOW_TOKEN is not set"
            )
        }
    }

    @Test func aRegistryTrainsNothing() async throws {
        let project = try await TestProject(port: freePort())
        project.write(
            "manifests/registry.yaml",
            """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: registry }
            spec: { type: mlflow, endpoint: "http://127.0.0.1:1" }
            """)
        project.write("manifests/model.yaml", Self.modelManifest("demo", quality: 0.9).replacingOccurrences(of: "target: local", with: "target: registry"))
        try await project.commit("Train in the registry")
        let h = try Harness(project)
        let plan = try await h.plan()
        #expect(plan.warnings.contains("Model/demo: target registry is of a type this build cannot train on (mlflow)"), "\(plan.warnings)")

        let revision = try h.source.fetch()
        let model = try #require(revision.manifests.models["demo"])
        let request = TrainingRequest(
            model: model, pipeline: try #require(revision.manifests.pipelines["demo-training"]),
            lineage: Lineage(
                model: "demo", commit: "", pipeline: "demo-training", pipelineDigest: "", codePath: "src",
                codeTree: "", datasets: [:], params: [:], runtime: [:]),
            revision: revision, datasets: [:])
        do {
            _ = try await (try driver(h, endpoint: "http://127.0.0.1:1")).train(request, launch: .untracked("train:demo:x"))
            Issue.record("an MLflow registry must refuse to train")
        } catch {
            #expect("\(error)".hasPrefix("target registry is an MLflow Model Registry"), "\(error)")
        }
    }

    @Test(arguments: [
        ("alias: \"churn prod\"", "invalid alias \"churn prod\": MLflow allows only letters, digits, '_' and '-'"),
        ("alias: v2", "alias \"v2\" is reserved by MLflow (\"latest\" and version names such as \"v3\" are); choose another"),
        ("alias: Latest", "alias \"Latest\" is reserved by MLflow (\"latest\" and version names such as \"v3\" are); choose another"),
    ])
    func anAliasMLflowWouldRefuseIsAValidationError(serve: String, problem: String) {
        let text = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: registry }
            spec: { type: mlflow, endpoint: "http://127.0.0.1:5000" }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: churn-prod }
            spec:
              model: churn
              version: 1
              serve: { \(serve) }
              targets: [{ target: registry }]
            """
        let file = ManifestDecoder.decode(path: "deploy.yaml", bytes: Array(text.utf8))
        let diagnostics = ManifestSet.assemble([file]).diagnostics.map(\.description)
        #expect(diagnostics.contains { $0.contains("spec.serve.alias") && $0.contains(problem) }, "\(diagnostics)")
    }

    @Test func aDeploymentNamedLikeAReservedAliasNeedsAnExplicitOne() {
        let text = """
            apiVersion: gantry.dev/v1alpha1
            kind: Target
            metadata: { name: registry }
            spec: { type: mlflow, endpoint: "http://127.0.0.1:5000" }
            ---
            apiVersion: gantry.dev/v1alpha1
            kind: Deployment
            metadata: { name: latest }
            spec: { model: churn, version: 1, serve: {}, targets: [{ target: registry }] }
            """
        let file = ManifestDecoder.decode(path: "deploy.yaml", bytes: Array(text.utf8))
        let diagnostics = ManifestSet.assemble([file]).diagnostics.map(\.description)
        #expect(
            diagnostics.contains { $0.contains("spec.serve.alias") && $0.contains("(the alias defaults to the Deployment's name)") },
            "\(diagnostics)")
    }
}
