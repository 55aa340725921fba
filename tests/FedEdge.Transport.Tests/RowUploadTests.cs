using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FedEdge.Data;
using FedEdge.Hierarchy;
using FedEdge.Testing;
using FedEdge.Transport.Rows;
using FsCheck;
using FsCheck.Xunit;

namespace FedEdge.Transport.Tests;

/// <summary>
/// Model-2 row uploads over a real loopback TLS socket: a trusted device's rows are accepted and held for training, an
/// untrusted device is refused before any row leaves it, a plain-text client is refused before its rows are read, and
/// hostile bytes never crash the codec.
/// </summary>
public sealed class RowUploadTests : IAsyncDisposable
{
    private const int Features = 3;
    private readonly X509Certificate2 _ca = TestCertificates.CreateCa();
    private readonly X509Certificate2 _server;
    private readonly TrustedRowIntake _intake = new(["trusted-cam"], Features);
    private readonly RowUploadListener _listener;

    public RowUploadTests()
    {
        _server = TestCertificates.CreateSigned(_ca, "edge", server: true);
        var options = new RowUploadListenerOptions { Certificate = _server };
        options.DevicePasswords["trusted-cam"] = "pw-trusted";
        options.DevicePasswords["plain-plug"] = "pw-plain";
        _listener = new RowUploadListener(options, _intake);
        _listener.Start();
    }

    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync();
        _server.Dispose();
        _ca.Dispose();
    }

    [Fact]
    public async Task TrustedDevice_OverTls_RowsAcceptedAndHeldForTraining()
    {
        Dataset rows = Rows(5, 0.25f);
        RowUploadOutcome outcome = await UploadAsync("trusted-cam", "pw-trusted", rows);

        Assert.True(outcome.Accepted, outcome.Reason);
        RowUploadOutcome held = Assert.Single(_intake.Outcomes);
        Assert.Equal(5, held.Rows);
        Assert.Equal(RowUploadCodec.Encode(rows).Length, held.Bytes);
        Dataset pooled = _intake.Rows!;
        Assert.Equal(rows.Features.ToArray(), pooled.Features.ToArray());
        Assert.Equal(rows.Labels.ToArray(), pooled.Labels.ToArray());
    }

    [Fact]
    public async Task UntrustedDevice_RefusedBeforeItsRowsAreSent()
    {
        RowUploadOutcome outcome = await UploadAsync("plain-plug", "pw-plain", Rows(4, 0.5f));

        Assert.False(outcome.Accepted);
        Assert.Equal(RowUploadRefusal.Untrusted, outcome.Refusal);
        Assert.Contains("not marked trusted", outcome.Reason, StringComparison.Ordinal);
        RowUploadOutcome recorded = Assert.Single(_intake.Outcomes);
        Assert.Equal(RowUploadRefusal.Untrusted, recorded.Refusal);
        Assert.Equal(0, recorded.Bytes); // Screened on the header: no row crossed the link.
        Assert.Null(_intake.Rows);
    }

    [Fact]
    public async Task PlainTextClient_RefusedWithTypedReasonBeforeItsRowsAreRead()
    {
        // A client that skips TLS and writes the upload frame straight onto the socket, as a careless device would.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _listener.Port);
        NetworkStream stream = tcp.GetStream();
        byte[] id = Encoding.UTF8.GetBytes("trusted-cam");
        byte[] frame = new byte[2 + id.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(frame, (ushort)id.Length);
        id.CopyTo(frame, 2);
        await stream.WriteAsync(frame);

        byte[] head = new byte[4];
        await stream.ReadExactlyAsync(head);
        byte[] reason = new byte[BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(2))];
        await stream.ReadExactlyAsync(reason);
        Assert.Equal(1, head[0]);
        Assert.Equal((byte)RowUploadRefusal.PlainTextLink + 1, head[1]);
        Assert.Contains("TLS only", Encoding.UTF8.GetString(reason), StringComparison.Ordinal);
        RowUploadOutcome recorded = Assert.Single(_intake.Outcomes);
        Assert.Equal(RowUploadRefusal.PlainTextLink, recorded.Refusal);
        Assert.Equal("trusted-cam", recorded.DeviceId);
        Assert.Null(_intake.Rows);
    }

    [Fact]
    public async Task WrongPassword_TransportExceptionAndNothingHeld()
    {
        TransportException error = await Assert.ThrowsAsync<TransportException>(() => UploadAsync("trusted-cam", "guess", Rows(2, 0.1f)));
        Assert.Contains("not recognised", error.Message, StringComparison.Ordinal);
        Assert.Null(_intake.Rows);
    }

    [Fact]
    public async Task EdgeWithAnotherCertificate_DeviceSendsNothing()
    {
        using X509Certificate2 otherCa = TestCertificates.CreateCa("Some other CA");
        await Assert.ThrowsAsync<TransportException>(() => RowUploadClient.UploadAsync(
            new RowUploadClientOptions { Host = "127.0.0.1", Port = _listener.Port, DeviceId = "trusted-cam", Password = "pw-trusted", TrustedRoot = otherCa },
            RowUploadCodec.Encode(Rows(2, 0.1f))));
        Assert.Empty(_intake.Outcomes);
    }

    [Fact]
    public void WrongFeatureCount_RefusedAsMalformed()
    {
        var wide = new Dataset(new float[8], new float[2], 4);
        RowUploadOutcome outcome = _intake.Offer("trusted-cam", encryptedLink: true, RowUploadCodec.Encode(wide));
        Assert.Equal(RowUploadRefusal.Malformed, outcome.Refusal);
        Assert.Contains("4 features", outcome.Reason, StringComparison.Ordinal);
    }

    [Property(MaxTest = 200)]
    public bool Codec_RoundTripsAndNeverThrowsOnMutatedBytes(int seed, PositiveInt count, byte[] noise)
    {
        Dataset rows = Rows((count.Get % 50) + 1, (seed & 0xff) / 256f);
        byte[] bytes = RowUploadCodec.Encode(rows);
        Dataset back = RowUploadCodec.TryDecode(bytes, out string? problem)!;
        bool roundTrip = problem is null && back.Features.SequenceEqual(rows.Features) && back.Labels.SequenceEqual(rows.Labels);

        // Overwrite a few bytes, cut the tail: the decoder answers with rows or a problem, never an exception.
        var random = new Random(seed);
        foreach (byte b in noise ?? [])
        {
            bytes[random.Next(bytes.Length)] = b;
        }

        byte[] cut = bytes[..random.Next(bytes.Length + 1)];
        Dataset? mutated = RowUploadCodec.TryDecode(cut, out string? why);
        return roundTrip && (mutated is not null) != (why is not null);
    }

    private Task<RowUploadOutcome> UploadAsync(string device, string password, Dataset rows) =>
        RowUploadClient.UploadAsync(new RowUploadClientOptions { Host = "127.0.0.1", Port = _listener.Port, DeviceId = device, Password = password, TrustedRoot = _ca }, RowUploadCodec.Encode(rows));

    private static Dataset Rows(int count, float offset)
    {
        float[] features = new float[count * Features];
        float[] labels = new float[count];
        for (int i = 0; i < features.Length; i++)
        {
            features[i] = ((i * 0.37f) + offset) % 1f;
        }

        for (int i = 0; i < count; i++)
        {
            labels[i] = i % 2;
        }

        return new Dataset(features, labels, Features);
    }
}
