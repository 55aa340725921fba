using System.Globalization;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Training;

namespace FedEdge.Testing;

/// <summary>
/// The contract every FedEdge transport keeps, as checks a third party runs against its own
/// <see cref="ICoordinatorTransport"/> and <see cref="IWorkerTransport"/>. Derive, say how to build a coordinator and its
/// workers, and call <see cref="RunAllAsync"/> (or each check) from any test framework; a broken contract throws
/// <see cref="ConformanceException"/> naming the check. Each check builds a fresh federation named after it (see
/// <see cref="Federations"/>), whose devices are <see cref="DeviceIds"/>, and disposes it when done.
/// </summary>
public abstract class TransportConformance
{
    /// <summary>The first device of every check.</summary>
    public const string DeviceA = "conformance-a";

    /// <summary>The second device, for checks that need two.</summary>
    public const string DeviceB = "conformance-b";

    private static readonly DateTimeOffset Deadline = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The devices the checks use; a fixture that authenticates devices gives these ids credentials.</summary>
    public static IReadOnlyList<string> DeviceIds { get; } = [DeviceA, DeviceB];

    /// <summary>The federation name of each check (one fresh federation per check), for fixtures that configure per federation.</summary>
    public static IReadOnlyList<string> Federations { get; } =
        ["conformance-task", "conformance-update", "conformance-model", "conformance-status", "conformance-receipt", "conformance-hostile", "conformance-dispose"];

    /// <summary>How long a check waits for one delivery; 20 s by default.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Runs every check in turn; the first broken contract throws.</summary>
    /// <returns>The names of the checks that ran; the undecodable-input check is left out when the transport carries no bytes.</returns>
    public async Task<IReadOnlyList<string>> RunAllAsync(CancellationToken cancellationToken = default)
    {
        var ran = new List<string>();
        await TaskIsDeliveredAsync(cancellationToken).ConfigureAwait(false);
        ran.Add(nameof(TaskIsDeliveredAsync));
        await UpdateArrivesWithSenderAsync(cancellationToken).ConfigureAwait(false);
        ran.Add(nameof(UpdateArrivesWithSenderAsync));
        await GlobalModelReachesEveryWorkerAsync(cancellationToken).ConfigureAwait(false);
        ran.Add(nameof(GlobalModelReachesEveryWorkerAsync));
        await StatusReachesCoordinatorAsync(cancellationToken).ConfigureAwait(false);
        ran.Add(nameof(StatusReachesCoordinatorAsync));
        await ReceiptIsDeliveredAsync(cancellationToken).ConfigureAwait(false);
        ran.Add(nameof(ReceiptIsDeliveredAsync));
        if (await UndecodableUpdateIsReportedAsync(cancellationToken).ConfigureAwait(false))
        {
            ran.Add(nameof(UndecodableUpdateIsReportedAsync));
        }

        await DisposeTwiceIsSafeAsync(cancellationToken).ConfigureAwait(false);
        ran.Add(nameof(DisposeTwiceIsSafeAsync));
        return ran;
    }

    /// <summary>A joined device receives the round task sent to it, parameters and hyper-parameters intact.</summary>
    public Task TaskIsDeliveredAsync(CancellationToken cancellationToken = default) => RunAsync("TaskIsDelivered", Federations[0], [DeviceA], async (session, check, ct) =>
    {
        ParameterSet global = Values(40_000, 1);
        RoundTask task = new()
        {
            Round = 3,
            Nonce = "conformance-nonce-3",
            GlobalParameters = global,
            HyperParameters = new TrainingHyperParameters { LocalEpochs = 2, BatchSize = 16, LearningRate = 0.05f, Seed = 7 },
            Deadline = Deadline,
        };
        await session.Coordinator.SendTaskAsync(DeviceA, task, ct).ConfigureAwait(false);
        RoundTask received = await session.Recorder(DeviceA).NextAsync<RoundTask>(check, "round task 3", Timeout, t => t.Round == 3, ct).ConfigureAwait(false);
        Expect(check, received.Nonce == task.Nonce, $"the task's nonce changed ('{received.Nonce}').");
        Expect(check, received.GlobalParameters.ComputeHash() == global.ComputeHash(), "the task's parameters changed on the way.");
        Expect(check, received.HyperParameters.BatchSize == 16 && received.HyperParameters.LocalEpochs == 2, "the task's hyper-parameters changed on the way.");
    }, cancellationToken);

    /// <summary>An update reaches the coordinator intact with its sender's id (and, where the transport authenticates, that identity).</summary>
    public Task UpdateArrivesWithSenderAsync(CancellationToken cancellationToken = default) => RunAsync("UpdateArrivesWithSender", Federations[1], [DeviceA, DeviceB], async (session, check, ct) =>
    {
        ParameterSet values = Values(30_000, 2);
        await session.Worker(DeviceB).SendUpdateAsync(Update(DeviceB, 5, values), ct).ConfigureAwait(false);
        (ModelUpdate update, InboundContext context) = await session.Handler.NextAsync<ModelUpdate>(check, $"the update of {DeviceB}", Timeout, u => u.Round == 5, ct).ConfigureAwait(false);
        Expect(check, update.SenderId == DeviceB, $"the update arrived with sender '{update.SenderId}', not '{DeviceB}'.");
        Expect(check, context.AuthenticatedId is null || context.AuthenticatedId == DeviceB, $"the update arrived authenticated as '{context.AuthenticatedId}', not '{DeviceB}'.");
        Expect(check, update.SampleCount == 64 && update.Values.ComputeHash() == values.ComputeHash(), "the update's values or sample count changed on the way.");
    }, cancellationToken);

    /// <summary>A published global model reaches every connected worker, version and parameters intact.</summary>
    public Task GlobalModelReachesEveryWorkerAsync(CancellationToken cancellationToken = default) => RunAsync("GlobalModelReachesEveryWorker", Federations[2], [DeviceA, DeviceB], async (session, check, ct) =>
    {
        ParameterSet parameters = Values(50_000, 3);
        string hash = parameters.ComputeHash();
        await session.Coordinator.PublishGlobalModelAsync(new GlobalModel { Version = 9, Hash = hash, Parameters = parameters }, ct).ConfigureAwait(false);
        foreach (string device in DeviceIds)
        {
            GlobalModel model = await session.Recorder(device).NextAsync<GlobalModel>(check, "global model 9", Timeout, m => m.Version == 9, ct).ConfigureAwait(false);
            Expect(check, model.Hash == hash && model.Parameters.ComputeHash() == hash, $"{device} received global model 9 altered.");
        }
    }, cancellationToken);

    /// <summary>A device's status (its heartbeat and liveness signal) reaches the coordinator with its id and telemetry.</summary>
    public Task StatusReachesCoordinatorAsync(CancellationToken cancellationToken = default) => RunAsync("StatusReachesCoordinator", Federations[3], [DeviceA], async (session, check, ct) =>
    {
        var status = new DeviceStatus
        {
            DeviceId = DeviceA,
            Intent = DeviceIntent.Training,
            Telemetry = new DeviceTelemetry { TemperatureCelsius = 55.5, SampleCount = 321 },
        };
        await session.Worker(DeviceA).PublishStatusAsync(status, ct).ConfigureAwait(false);
        (DeviceStatus received, _) = await session.Handler.NextAsync<DeviceStatus>(check, $"the status of {DeviceA}", Timeout, s => s.Intent == DeviceIntent.Training, ct).ConfigureAwait(false);
        Expect(check, received.DeviceId == DeviceA, $"the status arrived for '{received.DeviceId}', not '{DeviceA}'.");
        Expect(check, received.Telemetry.SampleCount == 321, "the status's telemetry changed on the way.");
    }, cancellationToken);

    /// <summary>A receipt reaches the device it is addressed to, with its verdict and reason.</summary>
    public Task ReceiptIsDeliveredAsync(CancellationToken cancellationToken = default) => RunAsync("ReceiptIsDelivered", Federations[4], [DeviceA], async (session, check, ct) =>
    {
        await session.Coordinator.SendReceiptAsync(DeviceA, new UpdateReceipt { Round = 4, Accepted = false, Reason = "conformance refusal" }, ct).ConfigureAwait(false);
        UpdateReceipt receipt = await session.Recorder(DeviceA).NextAsync<UpdateReceipt>(check, "the receipt for round 4", Timeout, r => r.Round == 4, ct).ConfigureAwait(false);
        Expect(check, !receipt.Accepted && receipt.Reason == "conformance refusal", "the receipt's verdict or reason changed on the way.");
    }, cancellationToken);

    /// <summary>
    /// Bytes that are no FedEdge message, sent as <see cref="DeviceA"/> (which has no worker transport in this check) on its
    /// update channel, are reported to
    /// <see cref="ICoordinatorHandler.OnMalformedAsync"/> with an error, and the coordinator goes on: another device's update
    /// still arrives. Returns false, having checked nothing, when the fixture has no byte-level channel (<see cref="SendUndecodableUpdateAsync"/>).
    /// </summary>
    public async Task<bool> UndecodableUpdateIsReportedAsync(CancellationToken cancellationToken = default)
    {
        bool applicable = true;
        await RunAsync("UndecodableUpdateIsReported", Federations[5], [DeviceB], async (session, check, ct) =>
        {
            applicable = await SendUndecodableUpdateAsync(session.Coordinator, Federations[5], DeviceA, ct).ConfigureAwait(false);
            if (!applicable)
            {
                return;
            }

            (Malformed report, _) = await session.Handler.NextAsync<Malformed>(check, "a malformed-input report", Timeout, null, ct).ConfigureAwait(false);
            Expect(check, report.Error is not null && !string.IsNullOrEmpty(report.Source), "the malformed-input report names no source or error.");
            ParameterSet values = Values(1_000, 4);
            await session.Worker(DeviceB).SendUpdateAsync(Update(DeviceB, 6, values), ct).ConfigureAwait(false);
            (ModelUpdate update, _) = await session.Handler.NextAsync<ModelUpdate>(check, $"the update of {DeviceB} after the hostile bytes", Timeout, u => u.Round == 6, ct).ConfigureAwait(false);
            Expect(check, update.SenderId == DeviceB, "after hostile bytes the next update arrived with another sender.");
        }, cancellationToken).ConfigureAwait(false);
        return applicable;
    }

    /// <summary>Disposing a started coordinator and a connected worker twice is safe.</summary>
    public Task DisposeTwiceIsSafeAsync(CancellationToken cancellationToken = default) => RunAsync("DisposeTwiceIsSafe", Federations[6], [DeviceA], async (session, check, ct) =>
    {
        try
        {
            await session.Worker(DeviceA).DisposeAsync().ConfigureAwait(false);
            await session.Worker(DeviceA).DisposeAsync().ConfigureAwait(false);
            await session.Coordinator.DisposeAsync().ConfigureAwait(false);
            await session.Coordinator.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ConformanceException)
        {
            throw new ConformanceException(check, $"a second DisposeAsync threw {ex.GetType().Name}: {ex.Message}", ex);
        }
    }, cancellationToken);

    /// <summary>Creates a coordinator transport (not started) for a fresh federation named <paramref name="federation"/>.</summary>
    protected abstract ValueTask<ICoordinatorTransport> CreateCoordinatorAsync(string federation, CancellationToken cancellationToken);

    /// <summary>Creates a worker transport (not connected) for <paramref name="deviceId"/>, once <paramref name="coordinator"/> has started.</summary>
    protected abstract IWorkerTransport CreateWorker(ICoordinatorTransport coordinator, string federation, string deviceId);

    /// <summary>
    /// Sends bytes that decode to no FedEdge message on <paramref name="deviceId"/>'s update channel, authenticated as that
    /// device, bypassing the worker transport. Return false when the transport carries objects, not bytes (the default).
    /// </summary>
    protected virtual ValueTask<bool> SendUndecodableUpdateAsync(ICoordinatorTransport coordinator, string federation, string deviceId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(false);

    /// <summary>Releases what the fixture set up for <paramref name="federation"/> (e.g. stops its broker) after the check's transports are disposed.</summary>
    protected virtual ValueTask ReleaseAsync(string federation) => ValueTask.CompletedTask;

    private static void Expect(string check, bool condition, string message)
    {
        if (!condition)
        {
            throw new ConformanceException(check, message);
        }
    }

    private static ParameterSet Values(int length, int seed)
    {
        var set = new ParameterSet(new ParameterLayout(new TensorSpec("conformance.weight", length - 10), new TensorSpec("conformance.bias", 10)));
        Span<float> values = set.Values;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)Math.Sin((i + 1) * 0.37 * seed);
        }

        return set;
    }

    private static ModelUpdate Update(string sender, long round, ParameterSet values) => new()
    {
        SenderId = sender,
        Round = round,
        Nonce = "conformance-nonce-" + round.ToString(CultureInfo.InvariantCulture),
        SampleCount = 64,
        Values = values,
    };

    private async Task RunAsync(string check, string federation, string[] workers, Func<Session, string, CancellationToken, Task> body, CancellationToken cancellationToken)
    {
        var session = new Session();
        try
        {
            session.Coordinator = await CreateCoordinatorAsync(federation, cancellationToken).ConfigureAwait(false);
            await session.Coordinator.StartAsync(session.Handler, cancellationToken).ConfigureAwait(false);
            foreach (string device in workers)
            {
                IWorkerTransport worker = CreateWorker(session.Coordinator, federation, device);
                var recorder = new WorkerRecorder();
                session.Workers.Add(device, (worker, recorder));
                await worker.ConnectAsync(recorder, cancellationToken).ConfigureAwait(false);
                JoinResponse joined = await worker.JoinAsync(new JoinRequest { DeviceId = device }, cancellationToken).ConfigureAwait(false);
                Expect(check, joined.Accepted, $"{device}'s join came back refused although the coordinator accepted it.");
            }

            await body(session, check, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach ((IWorkerTransport worker, _) in session.Workers.Values)
            {
                await worker.DisposeAsync().ConfigureAwait(false);
            }

            if (session.Coordinator is not null)
            {
                await session.Coordinator.DisposeAsync().ConfigureAwait(false);
            }

            await ReleaseAsync(federation).ConfigureAwait(false);
        }
    }

    private sealed class Session
    {
        public ICoordinatorTransport Coordinator { get; set; } = null!;

        public CoordinatorRecorder Handler { get; } = new();

        public Dictionary<string, (IWorkerTransport Transport, WorkerRecorder Recorder)> Workers { get; } = new(StringComparer.Ordinal);

        public IWorkerTransport Worker(string device) => Workers[device].Transport;

        public WorkerRecorder Recorder(string device) => Workers[device].Recorder;
    }
}
