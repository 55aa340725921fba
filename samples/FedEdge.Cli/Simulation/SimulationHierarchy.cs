using FedEdge.Admission;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Hierarchy;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Training;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli.Simulation;

/// <summary>One edge of a simulated hierarchy and the devices under it.</summary>
internal sealed record EdgeNode(string Edge, IReadOnlyList<string> Devices);

/// <summary>The bytes of one cloud round per tier: what reached and left the cloud, and what moved between edges and devices.</summary>
internal sealed record TierBytes(long CloudUp, long CloudDown, int CloudUpdates, long EdgeUp, long EdgeDown, int EdgeRounds);

/// <summary>
/// The edge tier of <c>fededge simulate --topology hierfavg</c> in one process: each edge is a coordinator for its devices
/// (its own in-process network, MUD admission of its devices) wrapped in an <see cref="EdgeAggregator"/> and hosted in a
/// worker towards the cloud. Devices are dealt to the edges in turn.
/// </summary>
internal sealed class SimulationHierarchy : IAsyncDisposable
{
    private readonly List<(string Id, Coordinator Coordinator, EdgeAggregator Aggregator, Worker Worker)> _edges = [];
    private readonly Dictionary<string, int> _seenRounds = new(StringComparer.Ordinal);

    private SimulationHierarchy(IReadOnlyList<EdgeNode> tree)
    {
        Tree = tree;
    }

    /// <summary>The edges and their devices.</summary>
    public IReadOnlyList<EdgeNode> Tree { get; }

    /// <summary>The workers the edges host towards the cloud.</summary>
    public IEnumerable<Worker> EdgeWorkers => _edges.Select(e => e.Worker);

    /// <summary>Devices refused at the edges' admission.</summary>
    public IEnumerable<RefusedDevice> Refused => _edges.SelectMany(e => e.Coordinator.RefusedDevices);

    /// <summary>The edge ids (<c>edge-0</c>, <c>edge-1</c>, ...).</summary>
    public static IReadOnlyList<string> EdgeIds(int edges) => [.. Enumerable.Range(0, edges).Select(i => "edge-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>Deals <paramref name="deviceIds"/> to <paramref name="edges"/> edges in turn.</summary>
    public static IReadOnlyList<EdgeNode> Deal(IReadOnlyList<string> deviceIds, int edges)
    {
        IReadOnlyList<string> ids = EdgeIds(edges);
        return [.. ids.Select((edge, e) => new EdgeNode(edge, [.. deviceIds.Where((_, i) => i % edges == e)]))];
    }

    /// <summary>
    /// Builds and starts the edges: for each, a coordinator (MUD admission, the cloud's hyper-parameters as k1) over its own
    /// in-process network with <paramref name="createDevice"/>'s workers, and a worker towards the cloud on <paramref name="cloud"/>.
    /// </summary>
    public static async Task<SimulationHierarchy> StartAsync(
        IReadOnlyList<EdgeNode> tree,
        CoordinatorOptions cloudOptions,
        int k2,
        Func<IAdmissionPolicy> admission,
        Func<IAggregationStrategy> strategy,
        Func<ITrainer> evaluator,
        ParameterSet initial,
        Func<string, IWorkerTransport> cloud,
        Func<string, IWorkerTransport, Worker> createDevice,
        Func<string, int> trainable,
        CancellationToken cancellationToken)
    {
        var hierarchy = new SimulationHierarchy(tree);
        try
        {
            foreach (EdgeNode node in tree)
            {
                var network = new InProcessNetwork();
                var edgeOptions = new CoordinatorOptions
                {
                    Federation = node.Edge,
                    MaxRounds = int.MaxValue,
                    MinParticipants = 1,
                    WindowSize = Math.Max(1, trainable(node.Edge)),
                    WindowDuration = cloudOptions.WindowDuration,
                    HeartbeatInterval = cloudOptions.HeartbeatInterval,
                    MissedHeartbeats = cloudOptions.MissedHeartbeats,
                    ResendDelay = cloudOptions.ResendDelay,
                    MaxResendDelay = cloudOptions.MaxResendDelay,
                    RoundTimeout = cloudOptions.RoundTimeout,
                    Seed = cloudOptions.Seed,
                    MaxConsecutiveFailures = null,
                    HyperParameters = cloudOptions.HyperParameters,
                };
                var coordinator = new Coordinator(Options.Create(edgeOptions), network.CreateCoordinatorTransport(), strategy(), admission());
                await coordinator.StartAsync(initial, cancellationToken).ConfigureAwait(false);
                var aggregator = new EdgeAggregator(coordinator, evaluator(), new EdgeAggregatorOptions { EdgeRoundsPerCloudRound = k2 }, edgeOptions);
                var edgeWorker = new Worker(
                    Options.Create(cloudOptions.ConfigureWorkerLiveness(new WorkerOptions { DeviceId = node.Edge, Telemetry = new EdgeTelemetrySource(coordinator) })),
                    cloud(node.Edge),
                    aggregator,
                    dataSource: null);
                hierarchy._edges.Add((node.Edge, coordinator, aggregator, edgeWorker));
                hierarchy._seenRounds[node.Edge] = 0;
                foreach (string device in node.Devices)
                {
                    Worker worker = createDevice(device, network.CreateWorkerTransport(device));
                    hierarchy.DeviceWorkers.Add(worker);
                }
            }

            return hierarchy;
        }
        catch
        {
            await hierarchy.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The device workers under every edge.</summary>
    public List<Worker> DeviceWorkers { get; } = [];

    /// <summary>The bytes of the cloud round <paramref name="round"/> per tier: the cloud's own, and the edge rounds run since the last call.</summary>
    public TierBytes Account(RoundResult round)
    {
        long up = 0, down = 0;
        int rounds = 0;
        foreach ((string id, _, EdgeAggregator aggregator, _) in _edges)
        {
            IReadOnlyList<RoundResult> edgeRounds = aggregator.EdgeRounds;
            foreach (RoundResult r in edgeRounds.Skip(_seenRounds[id]))
            {
                up += r.BytesUp;
                down += r.BytesDown;
                rounds++;
            }

            _seenRounds[id] = edgeRounds.Count;
        }

        return new TierBytes(round.BytesUp, round.BytesDown, round.Participants, up, down, rounds);
    }

    public async ValueTask DisposeAsync()
    {
        foreach ((_, Coordinator coordinator, _, Worker worker) in _edges)
        {
            await worker.DisposeAsync().ConfigureAwait(false);
            await coordinator.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>The cloud's admission in a simulated hierarchy: the simulation's own edges, by id (devices are admitted at their edge).</summary>
internal sealed class EdgeAdmission(IReadOnlyCollection<string> edges) : IAdmissionPolicy
{
    public ValueTask<AdmissionDecision> EvaluateAsync(AdmissionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ValueTask.FromResult(edges.Contains(request.DeviceId)
            ? AdmissionDecision.Admit("an edge of this simulation")
            : AdmissionDecision.Refuse($"'{request.DeviceId}' is not an edge of this simulation; devices join their edge"));
    }
}
