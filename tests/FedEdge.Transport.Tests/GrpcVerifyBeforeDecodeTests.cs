using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FedEdge.Aggregation;
using FedEdge.Coordination;
using FedEdge.Messaging;
using FedEdge.Security;
using FedEdge.Transport.Grpc;
using Microsoft.Extensions.Options;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Issue 13 over a real transport: the coordinator verifies an update's signature over the bytes as they travelled
/// before it decodes them, so a device with a valid certificate cannot make it allocate for a forged update whose
/// few kilobytes of top-k claim a layout of hundreds of megabytes.
/// </summary>
public sealed class GrpcVerifyBeforeDecodeTests : IDisposable
{
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private readonly X509Certificate2 _ca = FederationPki.CreateCertificateAuthority("verify before decode", Now.AddDays(-1), TimeSpan.FromDays(10));
    private readonly X509Certificate2 _server;

    public GrpcVerifyBeforeDecodeTests() => _server = KeyFiles.MakeUsableForTls(FederationPki.IssueServer(_ca, "127.0.0.1", Now.AddDays(-1), TimeSpan.FromDays(5)));

    public void Dispose()
    {
        _server.Dispose();
        _ca.Dispose();
    }

    [Fact]
    public async Task ForgedTopKUpdate_ClaimingHugeLayout_RefusedForItsSignatureWithoutDecoding()
    {
        var transport = new GrpcCoordinatorTransport(new GrpcCoordinatorOptions { Port = 0, ServerCertificate = _server, ClientCertificateValidator = new CertificateValidator(_ca) });
        await using var coordinator = new Coordinator(
            Options.Create(new CoordinatorOptions { Federation = "forged", MaxRounds = 1, MinParticipants = 1, WindowSize = 1 }),
            transport,
            AggregationStrategies.FedAvg(),
            new AdmitAll(),
            credentials: new FederationCredentials(new CertificateValidator(_ca), _server));
        await coordinator.StartAsync(new ParameterSet(new ParameterLayout(new TensorSpec("w", 16))));
        using X509Certificate2 device = KeyFiles.MakeUsableForTls(FederationPki.IssueDevice(_ca, new DeviceCertificateRequest { DeviceId = "forger" }, Now.AddDays(-1)));
        var handler = new RecordingWorker();
        await using var wire = new GrpcWorkerTransport(new GrpcWorkerOptions { Address = transport.Address, DeviceId = "forger", ClientCertificate = device, TrustedRoot = _ca });
        await wire.ConnectAsync(handler);
        JoinResponse joined = await wire.JoinAsync(new JoinRequest { DeviceId = "forger", CertificateDer = device.RawData });
        Assert.True(joined.Accepted, string.Join("; ", joined.Reasons));

        // 2^26 values (256 MB of float32) claimed by 6,711 kept values: 54 KB on the wire, within top-k's expansion rule.
        const int claimed = 1 << 26;
        int kept = (int)Math.Ceiling(claimed / 10_000.0);
        byte[] payload = new byte[4 + (kept * 8)];
        BinaryPrimitives.WriteInt32LittleEndian(payload, kept);
        for (int j = 0; j < kept; j++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4 + (j * 4)), (uint)(j * 10_000));
            BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(4 + (kept * 4) + (j * 4)), 1f);
        }

        var forged = new ModelUpdate("forger", 1, "nonce", 1, new ParameterLayout(new TensorSpec("w", claimed)), new EncodedValues("topk", payload), (_, _) => throw new InvalidOperationException("the sender never decodes"))
        {
            Signature = RandomNumberGenerator.GetBytes(64),
        };

        long before = GC.GetTotalAllocatedBytes(precise: true);
        await wire.SendUpdateAsync(forged);
        UpdateReceipt receipt = await handler.NextAsync<UpdateReceipt>();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.False(receipt.Accepted);
        Assert.Contains($"({SignatureCheck.Invalid})", receipt.Reason, StringComparison.Ordinal);
        Assert.True(allocated < 64L << 20, $"{allocated} bytes were allocated while the forged update was refused; decoding it would allocate {4L * claimed}.");
    }
}
