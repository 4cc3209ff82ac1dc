import Foundation
import HTTP
import Testing

/// Each authentication scheme as a server receives it, read back from
/// moto's request recording.
@Suite(.timeLimit(.minutes(1)))
struct HTTPAuthTests {
    @Test func eachSchemeReachesTheServerAndNoneShowsItsSecretWhenPrinted() async throws {
        let moto = try await MotoServer.start()
        do {
            try await moto.startRecording()
            let schemes: [HTTPAuth] = [.none, .bearer("bearer-secret"), .basic(user: "ada", password: "pass:word"), moto.auth]
            for auth in schemes {
                _ = try await HTTPClient.shared.send(HTTPRequest(url: moto.endpoint + "/datasets", auth: auth))
            }
            let received = try await moto.recording().map { $0.headers["Authorization"] }
            #expect(received.count == 4)
            #expect(received.first == .some(nil))
            #expect(received.dropFirst().first == "Bearer bearer-secret")
            #expect(received.dropFirst(2).first == "Basic " + Data("ada:pass:word".utf8).base64EncodedString())
            #expect(received.last??.hasPrefix("AWS4-HMAC-SHA256 Credential=\(MotoServer.accessKey)/") == true)

            let printed = schemes.map { "\($0) \(String(reflecting: $0))" }.joined() + "\(HTTPRequest(url: moto.endpoint, auth: moto.auth))"
            for secret in ["bearer-secret", "pass:word", MotoServer.secret, MotoServer.accessKey] {
                #expect(!printed.contains(secret), "\(printed)")
            }
        } catch {
            await moto.stop()
            throw error
        }
        await moto.stop()
    }
}
