using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Coordination;
using FedEdge.Data;
using FedEdge.Hierarchy;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Training;
using FedEdge.Transport;
using FedEdge.Transport.Rows;
using Microsoft.Extensions.Options;

namespace FedEdge.Cli.Simulation;

/// <summary>One device's row upload to its edge in <c>--topology model2</c>, for the report: <c>Bytes</c> are what left the device (0 when refused before sending).</summary>
internal sealed record RowUploadRow(string Edge, string Device, bool Accepted, string? Refusal, string? Reason, int Rows, long Bytes);

/// <summary>
/// The edge tier of <c>fededge simulate --topology model2</c> (Flake's Model-2): each edge listens for row uploads over
/// TLS (a loopback socket with a certificate from a CA made for the run), its devices upload their normalised training
/// rows, the edge keeps the rows of trusted devices only, and the edge, as a worker towards the cloud, trains on them.
/// </summary>
internal sealed class SimulationModel2 : IAsyncDisposable
{
    private readonly List<RowUploadListener> _listeners = [];
    private readonly List<Worker> _edgeWorkers = [];
    private readonly List<RowUploadRow> _uploads = [];

    /// <summary>The workers the edges host towards the cloud.</summary>
    public IReadOnlyList<Worker> EdgeWorkers => _edgeWorkers;

    /// <summary>Every upload, accepted or refused, edge by edge.</summary>
    public IReadOnlyList<RowUploadRow> Uploads => _uploads;

    /// <summary>
    /// Starts every edge's TLS row endpoint, uploads each device's rows (<paramref name="rowsOf"/>) to its edge, and builds
    /// the edge workers (not started) that train on what their edge accepted.
    /// </summary>
    public static async Task<SimulationModel2> StartAsync(
        IReadOnlyList<EdgeNode> tree,
        IReadOnlyCollection<string> trusted,
        Func<string, Dataset> rowsOf,
        int featureCount,
        CoordinatorOptions cloudOptions,
        Func<string, IWorkerTransport> cloud,
        Func<ITrainer> trainer,
        Action<string> status,
        CancellationToken cancellationToken)
    {
        var model2 = new SimulationModel2();
        try
        {
            DateTimeOffset issued = TimeProvider.System.GetUtcNow().AddMinutes(-5);
            using X509Certificate2 authority = FederationPki.CreateCertificateAuthority("FedEdge Model-2 edges CA", issued, TimeSpan.FromDays(1));
            using X509Certificate2 root = X509CertificateLoader.LoadCertificate(authority.RawData);
            foreach (EdgeNode node in tree)
            {
                var intake = new TrustedRowIntake(trusted, featureCount);
                var options = new RowUploadListenerOptions { Certificate = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(authority, SimulationPki.Host, issued, TimeSpan.FromDays(1))) };
                var passwords = node.Devices.ToDictionary(d => d, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), StringComparer.Ordinal);
                foreach ((string device, string password) in passwords)
                {
                    options.DevicePasswords[device] = password;
                }

                var listener = new RowUploadListener(options, intake);
                model2._listeners.Add(listener);
                listener.Start();
                foreach (string device in node.Devices)
                {
                    byte[] payload = RowUploadCodec.Encode(rowsOf(device));
                    RowUploadOutcome answer = await RowUploadClient.UploadAsync(
                        new RowUploadClientOptions { Host = SimulationPki.Host, Port = listener.Port, DeviceId = device, Password = passwords[device], TrustedRoot = root },
                        payload,
                        cancellationToken).ConfigureAwait(false);
                    RowUploadOutcome kept = intake.Outcomes.LastOrDefault(o => o.DeviceId == device) ?? answer;
                    model2._uploads.Add(new RowUploadRow(node.Edge, device, answer.Accepted, answer.Refusal?.ToString(), answer.Reason, kept.Rows, answer.Accepted ? payload.Length : 0));
                    status(answer.Accepted
                        ? $"{device}: {kept.Rows} normalised rows ({payload.Length} bytes) uploaded over TLS to {node.Edge}"
                        : $"{device}: row upload refused by {node.Edge} ({answer.Refusal}), no row sent: {answer.Reason}");
                }

                Dataset? rows = intake.Rows;
                model2._edgeWorkers.Add(new Worker(
                    Options.Create(cloudOptions.ConfigureWorkerLiveness(new WorkerOptions { DeviceId = node.Edge })),
                    cloud(node.Edge),
                    trainer(),
                    new EdgeRows(rows, node.Edge)));
            }

            return model2;
        }
        catch
        {
            await model2.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (Worker worker in _edgeWorkers)
        {
            await worker.DisposeAsync().ConfigureAwait(false);
        }

        foreach (RowUploadListener listener in _listeners)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>An edge's training data: the rows its trusted devices uploaded; none when no device was trusted.</summary>
    private sealed class EdgeRows(Dataset? rows, string edge) : ILocalDataSource
    {
        public ValueTask<Dataset> LoadAsync(CancellationToken cancellationToken = default) =>
            rows is { Count: > 0 } ? ValueTask.FromResult(rows) : throw new InvalidDataException($"{edge} holds no rows: none of its devices is trusted to upload them");
    }
}
