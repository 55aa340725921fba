using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using FedEdge.Coordination;
using FedEdge.Core.Tests.Coordination;
using FedEdge.Devices;
using FedEdge.Messaging;
using FedEdge.Messaging.InProcess;
using FedEdge.Security;
using Microsoft.Extensions.Options;

namespace FedEdge.Core.Tests.Security;

/// <summary>
/// Issue 13, in process: an update that arrives still encoded (a <see cref="ModelUpdate"/> built with a decoder) is
/// decoded only after its sender, its signature over the encoded bytes and its claimed layout passed; a forged one is
/// refused without ever being decoded, and a genuine one is decoded once and folded.
/// </summary>
public sealed class VerifyBeforeDecodeTests : IDisposable
{
    private const int Features = 8;
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private static readonly ParameterLayout Layout = new(new TensorSpec("w", Features));
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("verify before decode", Now, TimeSpan.FromDays(30));
    private readonly X509Certificate2 _server;
    private readonly X509Certificate2 _device;
    private int _decodes;

    public VerifyBeforeDecodeTests()
    {
        _server = FederationPki.IssueServer(_ca, "localhost", Now, TimeSpan.FromDays(30));
        _device = FederationPki.IssueDevice(_ca, new DeviceCertificateRequest { DeviceId = "d" }, Now);
    }

    public void Dispose()
    {
        _device.Dispose();
        _server.Dispose();
        _ca.Dispose();
    }

    [Fact]
    public async Task EncodedUpdates_ForgedRefusedUndecoded_GenuineDecodedOnceAndFolded()
    {
        var network = new InProcessNetwork();
        var options = new CoordinatorOptions { MaxRounds = 1, MinParticipants = 1, WindowSize = 1, RoundTimeout = TimeSpan.FromSeconds(30), WindowDuration = TimeSpan.FromSeconds(10) };
        await using var coordinator = new Coordinator(Options.Create(options), network.CreateCoordinatorTransport(), FedEdge.Aggregation.AggregationStrategies.FedAvg(), new DenyListAdmission(),
            credentials: new FederationCredentials(new CertificateValidator(_ca), _server));
        await coordinator.StartAsync(new ParameterSet(Layout));
        var device = new Inbound();
        await using IWorkerTransport wire = network.CreateWorkerTransport("d");
        await wire.ConnectAsync(device);
        Assert.True((await wire.JoinAsync(new JoinRequest { DeviceId = "d", CertificateDer = _device.RawData })).Accepted);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task<RoundResult> round = coordinator.RunRoundAsync(timeout.Token).AsTask();
        await wire.PublishStatusAsync(new DeviceStatus { DeviceId = "d", Intent = DeviceIntent.Training });
        RoundTask task = await device.Tasks.Reader.ReadAsync(timeout.Token);
        float[] values = [.. Enumerable.Range(1, Features).Select(i => (float)i)];

        // The round's layout, the round's nonce, but a signature by no one.
        await wire.SendUpdateAsync(Encoded(task, Layout, values) with { Signature = RandomNumberGenerator.GetBytes(64) });
        UpdateReceipt forged = await device.Receipts.Reader.ReadAsync(timeout.Token);

        // A layout of 2^27 values claimed by 32 bytes, unsigned.
        await wire.SendUpdateAsync(Encoded(task, new ParameterLayout(new TensorSpec("w", 1 << 27)), values));
        UpdateReceipt unsigned = await device.Receipts.Reader.ReadAsync(timeout.Token);
        int decodesAfterForgeries = Volatile.Read(ref _decodes);

        using (ECDsa key = _device.GetECDsaPrivateKey()!)
        {
            await wire.SendUpdateAsync(UpdateSigning.Sign(Encoded(task, Layout, values), key));
        }

        UpdateReceipt genuine = await device.Receipts.Reader.ReadAsync(timeout.Token);
        RoundResult result = await round;

        Assert.False(forged.Accepted);
        Assert.Contains($"({SignatureCheck.Invalid})", forged.Reason, StringComparison.Ordinal);
        Assert.False(unsigned.Accepted);
        Assert.Contains($"({SignatureCheck.Missing})", unsigned.Reason, StringComparison.Ordinal);
        Assert.Equal(0, decodesAfterForgeries);
        Assert.True(genuine.Accepted, genuine.Reason);
        Assert.Equal(1, Volatile.Read(ref _decodes));
        Assert.True(result.Completed, result.FailureReason);
        Assert.Equal(["d"], result.Contributors);
        Assert.Equal(values, result.GlobalParameters.Values.ToArray());
    }

    [Fact]
    public void Digest_OfEncodedFloat32Update_EqualsDigestOfDecodedUpdate_WithoutDecoding()
    {
        var task = new RoundTask { Round = 3, Nonce = "n", GlobalParameters = new ParameterSet(Layout), Deadline = Now.AddMinutes(1), HyperParameters = new FedEdge.Training.TrainingHyperParameters { LocalIterations = 1, LearningRate = 1f } };
        float[] values = [.. Enumerable.Range(0, Features).Select(i => i * 0.5f)];
        ModelUpdate encoded = Encoded(task, Layout, values);
        ModelUpdate decoded = new() { SenderId = "d", Round = 3, Nonce = "n", SampleCount = 5, Values = new ParameterSet(Layout, values) };

        Assert.Equal(UpdateSigning.Digest(decoded), UpdateSigning.Digest(encoded));
        Assert.False(encoded.IsDecoded);
        Assert.Equal(0, _decodes);
        Assert.Equal(values, encoded.Values.Values.ToArray());
        Assert.True(encoded.IsDecoded);
        Assert.Equal(1, _decodes);
    }

    /// <summary>An update as a transport hands it over: float32 bytes and a decoder that counts its calls.</summary>
    private ModelUpdate Encoded(RoundTask task, ParameterLayout claimed, float[] values) =>
        new("d", task.Round, task.Nonce, 5, claimed, new EncodedValues(UpdateCodecSpec.Float32, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()), (layout, data) =>
        {
            Interlocked.Increment(ref _decodes);
            return new ParameterSet(layout, MemoryMarshal.Cast<byte, float>(data.Span).ToArray());
        });

    private sealed class Inbound : IWorkerHandler
    {
        public Channel<RoundTask> Tasks { get; } = Channel.CreateUnbounded<RoundTask>();

        public Channel<UpdateReceipt> Receipts { get; } = Channel.CreateUnbounded<UpdateReceipt>();

        public ValueTask OnTaskAsync(RoundTask task, CancellationToken cancellationToken) => Tasks.Writer.WriteAsync(task, cancellationToken);

        public ValueTask OnGlobalModelAsync(GlobalModel model, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnReceiptAsync(UpdateReceipt receipt, CancellationToken cancellationToken) => Receipts.Writer.WriteAsync(receipt, cancellationToken);
    }
}
