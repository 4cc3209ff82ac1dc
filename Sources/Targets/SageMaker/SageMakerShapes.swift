import Foundation

// The request and answer shapes Gantry uses, with the API's own field names
// (PascalCase), so each reads like its page in the SageMaker API reference.
// Answers declare only the fields Gantry reads; SageMaker sends more.

/// `{"TrainingJobName": …}`, `{"EndpointName": …}` and the like: the body of
/// every Describe, Delete and Stop call, keyed by the resource's kind.
struct ByName: Encodable {
    var key: String
    var name: String

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(name, forKey: AnyKey(key))
    }

    static func trainingJob(_ name: String) -> ByName { ByName(key: "TrainingJobName", name: name) }
    static func endpoint(_ name: String) -> ByName { ByName(key: "EndpointName", name: name) }
    static func endpointConfig(_ name: String) -> ByName { ByName(key: "EndpointConfigName", name: name) }
    static func model(_ name: String) -> ByName { ByName(key: "ModelName", name: name) }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

// MARK: - Training

struct CreateTrainingJob: Encodable {
    struct Algorithm: Encodable {
        var TrainingImage: String
        var TrainingInputMode = "File"
    }

    struct Channel: Encodable {
        struct Source: Encodable { var S3DataSource: S3Prefix }
        struct S3Prefix: Encodable {
            var S3DataType = "S3Prefix"
            var S3Uri: String
            var S3DataDistributionType = "FullyReplicated"
        }

        var ChannelName: String
        var DataSource: Source
    }

    struct Output: Encodable { var S3OutputPath: String }
    struct Resources: Encodable {
        var InstanceType: String
        var InstanceCount = 1
        var VolumeSizeInGB = 30
    }

    struct Stopping: Encodable { var MaxRuntimeInSeconds: Int }
    struct Tag: Encodable {
        var Key: String
        var Value: String
    }

    var TrainingJobName: String
    var AlgorithmSpecification: Algorithm
    var RoleArn: String
    var HyperParameters: [String: String]
    var InputDataConfig: [Channel]?
    var OutputDataConfig: Output
    var ResourceConfig: Resources
    var StoppingCondition: Stopping
    var Tags: [Tag]
}

struct TrainingJobDescription: Decodable {
    struct Artifacts: Decodable { var S3ModelArtifacts: String? }
    struct Metric: Decodable {
        var MetricName: String
        var Value: Double
    }

    var TrainingJobName: String?
    var TrainingJobArn: String?
    /// InProgress, Completed, Failed, Stopping, Stopped.
    var TrainingJobStatus: String
    var SecondaryStatus: String?
    var FailureReason: String?
    var ModelArtifacts: Artifacts?
    var FinalMetricDataList: [Metric]?
}

// MARK: - Serving

struct CreateModel: Encodable {
    struct Container: Encodable {
        var Image: String
        var ModelDataUrl: String
        var Environment: [String: String]?
    }

    var ModelName: String
    var PrimaryContainer: Container
    var ExecutionRoleArn: String
}

struct CreateEndpointConfig: Encodable {
    struct Variant: Encodable {
        var VariantName = "primary"
        var ModelName: String
        var InstanceType: String
        var InitialInstanceCount: Int
        var InitialVariantWeight = 1.0
    }

    var EndpointConfigName: String
    var ProductionVariants: [Variant]
}

/// A canary's step: each variant's share of the endpoint's requests.
struct UpdateEndpointWeights: Encodable {
    struct Desired: Encodable {
        var VariantName: String
        var DesiredWeight: Double
    }

    var EndpointName: String
    var DesiredWeightsAndCapacities: [Desired]
}

/// CreateEndpoint and UpdateEndpoint take the same two fields.
struct EndpointAndConfig: Encodable {
    var EndpointName: String
    var EndpointConfigName: String
}

struct EndpointDescription: Decodable {
    var EndpointName: String?
    var EndpointArn: String?
    var EndpointConfigName: String?
    /// OutOfService, Creating, Updating, SystemUpdating, RollingBack,
    /// InService, Deleting, Failed, UpdateRollbackFailed.
    var EndpointStatus: String
    var FailureReason: String?
    var ProductionVariants: [Variant]?

    struct Variant: Decodable {
        var VariantName: String
        var CurrentWeight: Double?
        var DesiredWeight: Double?
        var CurrentInstanceCount: Int?
    }

    /// Each variant's share of requests in percent, by name (nil when
    /// SageMaker reports no weights).
    var shares: [String: Double]? {
        guard let variants = ProductionVariants, !variants.isEmpty else { return nil }
        let weights = variants.map { ($0.VariantName, $0.CurrentWeight ?? $0.DesiredWeight ?? 0) }
        let total = weights.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return nil }
        return Dictionary(weights.map { ($0.0, $0.1 / total * 100) }, uniquingKeysWith: { a, _ in a })
    }
}
