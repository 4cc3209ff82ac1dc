import Foundation
import GantryTestSupport
import HTTP
import Processes
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `scripts/package` makes a .deb that dpkg installs (into a root of its
/// own, so the machine is left alone) and whose controller starts and
/// answers from the installed paths.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct PackageTests {
    @Test func theDebInstallsWithDpkgAndItsControllerStarts() async throws {
        let out = makeTemporaryDirectory("gantry-package")
        let built = try await runCommand(
            [packageRoot + "/scripts/package", "--binary", gantryExecutable, "--out", out, "--compression", "none"], in: packageRoot)
        #expect(built.code == 0, "\(built.output)")
        let deb = try #require(
            try FileManager.default.contentsOfDirectory(atPath: out).first { $0.hasSuffix(".deb") }.map { out + "/" + $0 }, "\(built.output)")

        // What it needs: the libraries the binary links and opens.
        let depends = try await runCommand(["dpkg-deb", "-f", deb, "Depends"]).output
        for package in ["libgit2-", "libcurl", "libyaml-0-2", "libsqlite3-0", "git"] {
            #expect(depends.contains(package), "\(package) in \(depends)")
        }

        // Installed with dpkg into a root of its own.
        let root = makeTemporaryDirectory("gantry-root")
        for directory in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        FileManager.default.createFile(atPath: root + "/var/lib/dpkg/status", contents: nil)
        let installed = try await runCommand([
            "dpkg", "--root=\(root)", "--force-script-chrootless", "--force-not-root", "--force-depends", "--log=/dev/null", "-i", deb,
        ])
        #expect(installed.code == 0, "\(installed.output)")
        let status = try await runCommand(["dpkg", "--root=\(root)", "-s", "gantry"]).output
        #expect(status.contains("Status: install ok installed"), "\(status)")
        let unit = try String(contentsOfFile: root + "/lib/systemd/system/gantry.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/gantry controller --repo ${GANTRY_REPO}"), "\(unit)")
        #expect(FileManager.default.isExecutableFile(atPath: root + "/usr/bin/gantry"))
        let env = try FileManager.default.attributesOfItem(atPath: root + "/etc/gantry/env")
        #expect((env[.posixPermissions] as? Int) == 0o600, "the environment holds credentials")
        #expect(FileManager.default.fileExists(atPath: root + "/var/lib/gantry"), "postinst made the state directory")

        // Started as the unit starts it, from the installed binary, on a
        // repository that declares one target and serves nothing.
        let repository = try await ProjectRepository("gantry-package-repo")
        repository.write(
            "manifests/targets.yaml", "apiVersion: gantry.dev/v1alpha1\nkind: Target\nmetadata: { name: box }\nspec: { type: local }\n")
        try await repository.commit("A target")
        let port = freePort()
        let state = makeTemporaryDirectory("gantry-package-state")
        let log = state + "/controller.log"
        let controller = try ChildProcess.spawn(
            ProcessSpec(
                argv: [
                    root + "/usr/bin/gantry", "controller", "--repo", repository.directory, "--branch", "main", "--state-dir", state + "/state",
                    "--interval", "1h", "--listen", "127.0.0.1:\(port)",
                ],
                environment: ProcessInfo.processInfo.environment, logPath: log))
        do {
            try await eventually("the installed controller is ready", timeout: .seconds(60)) {
                (try? await HTTPClient.shared.send(HTTPRequest(url: "http://127.0.0.1:\(port)/readyz")).status) == 200
            }
        } catch {
            kill(controller.pid, SIGKILL)
            throw error
        }
        kill(controller.pid, SIGTERM)
        #expect(await controller.wait() == .exited(0), "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}
