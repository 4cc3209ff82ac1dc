import Foundation
import Hummingbird
import Targets

/// Blobs by digest, training runs, deployments.
extension AgentServer {
    func digest(_ context: BasicRequestContext) throws -> String {
        let digest = try context.parameters.require("digest")
        guard AgentAPI.isBlobDigest(digest) else { throw AgentError(.badRequest, "\(digest) is not sha256:<64 lowercase hex digits>") }
        return digest
    }

    func addBlobRoutes(_ router: Router<BasicRequestContext>) {
        router.head("/v1/blobs/:digest") { _, context in
            Response(status: node.hasBlob(try digest(context)) ? .ok : .notFound)
        }
        router.get("/v1/blobs/:digest") { _, context in
            let digest = try digest(context)
            guard node.hasBlob(digest), let data = FileManager.default.contents(atPath: node.blobPath(digest)) else {
                throw AgentError(.notFound, "no blob \(digest)")
            }
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        // The body is written to a file as it arrives, then kept only if
        // its digest is the one in the path.
        router.put("/v1/blobs/:digest") { request, context in
            let digest = try digest(context)
            if node.hasBlob(digest) { return Response(status: .ok) }
            do {
                let incoming = try node.incomingBlobPath()
                guard FileManager.default.createFile(atPath: incoming, contents: nil),
                    let file = FileHandle(forWritingAtPath: incoming)
                else {
                    throw AgentError(.internalServerError, "cannot write \(incoming)")
                }
                do {
                    for try await buffer in request.body { try file.write(contentsOf: Data(buffer.readableBytesView)) }
                    try file.close()
                } catch {
                    try? file.close()
                    try? FileManager.default.removeItem(atPath: incoming)
                    throw error
                }
                try node.adoptBlob(digest, from: incoming)
                return Response(status: .created)
            } catch { throw AgentError.from(error) }
        }
    }

    func addRunRoutes(_ router: Router<BasicRequestContext>) {
        router.put("/v1/runs/:id") { request, context in
            let id = try context.parameters.require("id")
            let body = try await request.json(AgentAPI.RunRequest.self)
            do { return AgentJSON(try await node.startRun(id: id, body)) } catch { throw AgentError.from(error) }
        }
        router.get("/v1/runs/:id") { _, context in
            let id = try context.parameters.require("id")
            let status: AgentAPI.RunStatus?
            do { status = try await node.runStatus(id) } catch { throw AgentError.from(error) }
            guard let status else { throw AgentError(.notFound, "no run \(id)") }
            return AgentJSON(status)
        }
        router.get("/v1/runs/:id/log") { _, context in
            let id = try context.parameters.require("id")
            guard let text = node.runLog(id) else { throw AgentError(.notFound, "no run \(id)") }
            return text
        }
    }

    func addDeploymentRoutes(_ router: Router<BasicRequestContext>) {
        router.put("/v1/deployments/:name") { request, context in
            let name = try context.parameters.require("name")
            let body = try await request.json(AgentAPI.DeploymentRequest.self)
            do { return AgentJSON(try await node.deploy(name: name, body)) } catch { throw AgentError.from(error) }
        }
        router.get("/v1/deployments/:name") { _, context in
            let name = try context.parameters.require("name")
            let status: AgentAPI.DeploymentStatus?
            do { status = try await node.deployment(name) } catch { throw AgentError.from(error) }
            guard let status else { throw AgentError(.notFound, "no deployment \(name)") }
            return AgentJSON(status)
        }
        router.delete("/v1/deployments/:name") { _, context in
            let name = try context.parameters.require("name")
            do { try await node.removeDeployment(name) } catch { throw AgentError.from(error) }
            return Response(status: .noContent)
        }
        router.put("/v1/deployments/:name/next") { request, context in
            let name = try context.parameters.require("name")
            let body = try await request.json(AgentAPI.DeploymentRequest.self)
            do { return AgentJSON(try await node.startNext(name: name, body)) } catch { throw AgentError.from(error) }
        }
        router.get("/v1/deployments/:name/next") { _, context in
            let name = try context.parameters.require("name")
            let status: AgentAPI.NextStatus?
            do { status = try await node.nextStatus(name) } catch { throw AgentError.from(error) }
            guard let status else { throw AgentError(.notFound, "deployment \(name) has no next version") }
            return AgentJSON(status)
        }
        router.put("/v1/deployments/:name/next/weight") { request, context in
            let name = try context.parameters.require("name")
            let body = try await request.json(AgentAPI.Weight.self)
            do { try await node.weighNext(name: name, percent: body.percent) } catch { throw AgentError.from(error) }
            return Response(status: .noContent)
        }
        router.post("/v1/deployments/:name/next/promote") { request, context in
            let name = try context.parameters.require("name")
            let later = request.uri.queryParameters.get("retire") == "later"
            do { return AgentJSON(try await node.promoteNext(name: name, retireLater: later)) } catch { throw AgentError.from(error) }
        }
        router.post("/v1/deployments/:name/retire") { _, context in
            let name = try context.parameters.require("name")
            do { try await node.retire(name: name) } catch { throw AgentError.from(error) }
            return Response(status: .noContent)
        }
        router.delete("/v1/deployments/:name/next") { _, context in
            let name = try context.parameters.require("name")
            do { try await node.abandonNext(name: name) } catch { throw AgentError.from(error) }
            return Response(status: .noContent)
        }
        router.get("/v1/deployments/:name/traffic") { _, context in
            let name = try context.parameters.require("name")
            let shares: [TrafficShare]?
            do { shares = try await node.traffic(name) } catch { throw AgentError.from(error) }
            guard let shares else { throw AgentError(.notFound, "deployment \(name) splits no traffic here") }
            return AgentJSON(shares)
        }
        router.get("/v1/deployments/:name/metrics") { request, context in
            let name = try context.parameters.require("name")
            guard let version = request.uri.queryParameters.get("version").flatMap({ Int($0) }) else {
                throw AgentError(.badRequest, "metrics need ?version=N")
            }
            let path = request.uri.queryParameters.get("path") ?? "/metrics"
            do { return AgentJSON(try await node.modelMetrics(name, version: version, path: path)) } catch { throw AgentError.from(error) }
        }
        router.get("/v1/deployments/:name/log") { _, context in
            let name = try context.parameters.require("name")
            let text: String?
            do { text = try node.deploymentLog(name) } catch { throw AgentError.from(error) }
            guard let text else { throw AgentError(.notFound, "no deployment \(name)") }
            return text
        }
    }
}
