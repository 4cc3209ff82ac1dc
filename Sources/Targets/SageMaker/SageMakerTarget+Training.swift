import Foundation
import Lineage
import Manifests
import State

/// Training as a SageMaker training job. The target's `image` runs with its
/// own entrypoint; the lineage params arrive as hyperparameters and each S3
/// dataset as an input channel of its name. The job is named after the
/// lineage digest, so a retry or a restarted controller adopts the job
/// instead of launching a second one.
extension SageMakerTarget {
    /// Failed or stopped jobs of one lineage tried again before giving up.
    static let maximumAttempts = 20

    public func train(_ request: TrainingRequest, launch: Launch) async throws -> TrainingOutcome {
        let image = try required(spec.image, "image", for: "train")
        let role = try required(spec.roleArn, "roleArn", for: "train")
        let bucket = try required(spec.bucket, "bucket", for: "train")
        let model = request.model.name
        let channels = try inputChannels(request)
        let timeout = Self.trainingTimeout(request.pipeline.spec)

        // A job name is used once for ever: a lineage whose job failed or
        // was stopped is tried again under the next attempt's name.
        for attempt in 1...Self.maximumAttempts {
            let job = SageMakerNames.trainingJob(model: model, digest: request.lineage.digest, attempt: attempt)
            if let existing = try await describeTrainingJob(job) {
                if existing.TrainingJobStatus == "Failed" || existing.TrainingJobStatus == "Stopped" { continue }
                try recordIntent(launch, job: job)
                return try await outcome(of: job, timeout: timeout, adopted: true)
            }
            try recordIntent(launch, job: job)
            let create = CreateTrainingJob(
                TrainingJobName: job,
                AlgorithmSpecification: .init(TrainingImage: image),
                RoleArn: role,
                HyperParameters: request.lineage.params.mapValues(\.description),
                InputDataConfig: channels.isEmpty ? nil : channels,
                OutputDataConfig: .init(S3OutputPath: "s3://\(bucket)/gantry/\(model)/"),
                ResourceConfig: .init(InstanceType: spec.instanceType ?? Self.defaultInstanceType),
                StoppingCondition: .init(MaxRuntimeInSeconds: Int(timeout.seconds.rounded(.up))),
                Tags: [.init(Key: "gantry:model", Value: model), .init(Key: "gantry:lineage", Value: request.lineage.digest)])
            do {
                try await api.perform("CreateTrainingJob", create, idempotent: true)
            } catch let error as SageMakerError where error.isAlreadyExisting {
                // An earlier try of this very call reached SageMaker.
            }
            return try await outcome(of: job, timeout: timeout, adopted: false)
        }
        throw DriverError(
            "\(Self.maximumAttempts) training jobs of \(model) for lineage \(request.lineage.digest.prefix(19)) failed or were stopped; see them in SageMaker (gantry-\(model)-…)"
        )
    }

    /// One channel per dataset; SageMaker reads only from S3, so a dataset
    /// elsewhere is an error rather than a training without its data.
    func inputChannels(_ request: TrainingRequest) throws -> [CreateTrainingJob.Channel] {
        try request.datasets.keys.sorted().map { name in
            guard let s3 = request.datasets[name]?.spec.source.s3 else {
                throw DriverError("dataset \(name) is not in S3: a sagemaker training job reads its datasets from S3 (spec.source.s3)")
            }
            return .init(ChannelName: name, DataSource: .init(S3DataSource: .init(S3Uri: "s3://\(s3.bucket)/\(s3.key)")))
        }
    }

    /// The pipeline's step timeouts added up (the image runs them as one
    /// job), else a day.
    static func trainingTimeout(_ pipeline: PipelineSpec) -> TimeSpan {
        let timeouts = pipeline.steps.compactMap(\.timeout?.seconds)
        return timeouts.isEmpty ? defaultTrainingTimeout : TimeSpan(seconds: timeouts.reduce(0, +))
    }

    /// The job's description, or nil when there is no job of that name.
    func describeTrainingJob(_ job: String) async throws -> TrainingJobDescription? {
        do {
            return try await api.call("DescribeTrainingJob", ByName.trainingJob(job), idempotent: true)
        } catch let error as SageMakerError where error.isNotFound {
            return nil
        }
    }

    /// Names the job in an intent, so a plan shows the run in flight and a
    /// restarted controller knows what it adopts.
    func recordIntent(_ launch: Launch, job: String) throws {
        try launch.started(Digest.canonicalJSON(["trainingJob": job, "target": name]))
    }

    /// Waits for the job to end. One still running at the deadline is
    /// stopped: SageMaker stops it at `MaxRuntimeInSeconds` too, but an
    /// adopted job may have been made with another limit.
    func outcome(of job: String, timeout: TimeSpan, adopted: Bool) async throws -> TrainingOutcome {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout.seconds * 1000))
        var polls = 0
        while true {
            guard let described = try await describeTrainingJob(job) else {
                throw DriverError("training job \(job) no longer exists")
            }
            switch described.TrainingJobStatus {
            case "Completed":
                return try await finished(described, job: job, adopted: adopted)
            case "Failed":
                throw DriverError("training job \(job) failed: \(described.FailureReason ?? "SageMaker gives no reason")")
            case "Stopped":
                throw DriverError("training job \(job) was stopped" + (described.FailureReason.map { ": \($0)" } ?? ""))
            default:
                break
            }
            if ContinuousClock.now >= deadline {
                try await api.perform("StopTrainingJob", ByName.trainingJob(job), idempotent: true)
                throw DriverError("training job \(job) ran past its deadline of \(timeout) (\(described.TrainingJobStatus)); it was stopped")
            }
            try await pause(polls, until: deadline)
            polls += 1
        }
    }

    func finished(_ job: TrainingJobDescription, job name: String, adopted: Bool) async throws -> TrainingOutcome {
        guard let artifact = job.ModelArtifacts?.S3ModelArtifacts, let location = S3URI(artifact) else {
            throw DriverError("training job \(name) completed without ModelArtifacts.S3ModelArtifacts")
        }
        // The artifact's own ETag identifies its bytes. A job that reports
        // an artifact the bucket does not hold has nothing to deploy: no
        // stand-in digest, or an endpoint would point at a missing object.
        let etag: String?
        do {
            etag = try await bucket(location.bucket).etagIfPresent(of: location.key)
        } catch {
            throw DriverError("training job \(name) completed, but its model artifact \(artifact) cannot be checked: \(error)")
        }
        guard let etag else {
            throw DriverError(
                "training job \(name) completed, but its model artifact is not in S3: no object \(location.key) in bucket \(location.bucket) (\(artifact))")
        }
        let digest = "s3etag:" + etag
        var metrics: [String: Double] = [:]
        for metric in job.FinalMetricDataList ?? [] { metrics[metric.MetricName] = metric.Value }
        return TrainingOutcome(
            artifactPath: artifact, artifactDigest: digest, metrics: metrics,
            steps: ["training job \(name) \(adopted ? "adopted, " : "")\(job.TrainingJobStatus)"])
    }
}

/// `s3://bucket/key`, split.
struct S3URI: Hashable {
    var bucket: String
    var key: String

    init?(_ uri: String) {
        guard uri.hasPrefix("s3://") else { return nil }
        let rest = uri.dropFirst("s3://".count)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else { return nil }
        bucket = String(rest[..<slash])
        key = String(rest[rest.index(after: slash)...])
    }

    var description: String { "s3://\(bucket)/\(key)" }
}
