// NOT COMPILED HERE — a sketch of an iOS app's use of the stubs `buf generate` makes from buf.gen.yaml
// (swift-protobuf + grpc-swift 1.x, the NIO transport). No Swift toolchain with outside packages can be
// reached from the machine this project is built on; what is verified here is the JVM client
// (clients/jvm/) against the real server. Read it as documentation of the API's shape, not as tested code.
import GRPC
import NIOCore
import NIOPosix
import SwiftProtobuf

func showUser(id: String, token: String) async throws -> WSPUser {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { try? group.syncShutdownGracefully() }
    // Production: TLS to the Envoy edge (deploy/envoy/), which also speaks native gRPC.
    let channel = try GRPCChannelPool.with(
        target: .host("api.example.com", port: 443),
        transportSecurity: .tls(.makeClientConfigurationBackedByNIOSSL()),
        eventLoopGroup: group
    )
    defer { _ = channel.close() }
    let users = WSPUserServiceAsyncClient(
        channel: channel,
        defaultCallOptions: CallOptions(
            customMetadata: ["authorization": "Bearer \(token)"],
            timeLimit: .timeout(.seconds(10))  // a deadline on every call
        )
    )
    do {
        return try await users.getUser(.with { $0.id = id })
    } catch let status as GRPCStatus where status.code == .notFound {
        // The details (google.rpc.Status in grpc-status-details-bin) carry ErrorInfo's reason and
        // ResourceInfo's resource names, decoded with the generated Google_Rpc_* types.
        throw status
    }
}
